package scenarios

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
)

// The mesh: four endpoints, two Go peers behind NATs and two Chrome tabs,
// each connected to every other over WebSocket signaling, every link on
// the wifi-lossy preset (5% loss, 20 ms each way), with churn: one Chrome
// endpoint leaves (its sessions say bye) and rejoins with fresh sessions.
//
//	go1 (full-cone) ── go2 (port-restricted)
//	  │  ╲          ╱  │
//	  │    ╲      ╱    │        6 sessions, each its own pair of ids
//	  │      ╲  ╱      │        ("go1-cr1" talks to "cr1-go1"), so each
//	  │      ╱  ╲      │        endpoint holds 3 peers (a Chrome endpoint
//	  │    ╱      ╲    │        3 tabs)
//	cr1 (Chrome) ── cr2 (Chrome)
//
// A session is a peer pair with a reliable channel; "works" is a message
// each way on it.

var meshEndpoints = []string{"go1", "go2", "cr1", "cr2"}

// meshTimeout bounds the whole case (real time).
const meshTimeout = 3 * time.Minute

func meshTopo() lab.Topology {
	GinkgoHelper()
	prof, ok := netem.Preset("wifi-lossy")
	Expect(ok).To(BeTrue())
	return lab.Topology{
		Name: "mesh",
		Endpoints: []lab.EndpointConfig{
			{Name: "go1", NAT: lab.NATFullCone, Profile: prof},
			{Name: "go2", NAT: lab.NATPortRestricted, Profile: prof.Clone()},
			{Name: "cr1", Kind: peer.KindChrome, Profile: prof.Clone()},
			{Name: "cr2", Kind: peer.KindChrome, Profile: prof.Clone()},
		},
		Signaling: lab.SignalingConfig{Transport: lab.TransportWS},
	}
}

// meshSession is one pair of the mesh.
type meshSession struct {
	x, y     string // endpoints
	a, b     peer.Endpoint
	out, in  peer.Channel // a's end, b's end
	gen      int          // 0 first, 1 after a rejoin
	openedIn time.Duration
}

func (s *meshSession) name() string { return fmt.Sprintf("%s<->%s#%d", s.x, s.y, s.gen) }

// meshConnect makes the session x-y, generation gen, and opens its channel.
func meshConnect(ctx context.Context, l *lab.Lab, x, y string, gen int) *meshSession {
	GinkgoHelper()
	ida, idb := fmt.Sprintf("%s-%s", x, y), fmt.Sprintf("%s-%s", y, x)
	if gen > 0 {
		ida, idb = fmt.Sprintf("%s.%d", ida, gen), fmt.Sprintf("%s.%d", idb, gen)
	}
	start := time.Now()
	a, b, err := l.Connect(ctx, x, y, ida, idb)
	Expect(err).NotTo(HaveOccurred(), "session %s-%s", x, y)
	out, err := a.CreateDataChannel(ctx, "mesh", peer.ChannelOptions{})
	Expect(err).NotTo(HaveOccurred(), "session %s-%s: channel", x, y)
	in, err := b.AcceptDataChannel(ctx, "mesh")
	Expect(err).NotTo(HaveOccurred(), "session %s-%s: accept", x, y)
	return &meshSession{x: x, y: y, a: a, b: b, out: out, in: in, gen: gen, openedIn: time.Since(start)}
}

// works checks a message each way on s.
func (s *meshSession) works(ctx context.Context, what string) {
	GinkgoHelper()
	msg := fmt.Sprintf("%s: %s", s.name(), what)
	echoOnce(ctx, s.out, s.in, msg)
	echoOnce(ctx, s.in, s.out, msg+", back")
}

func (s *meshSession) involves(ep string) bool { return s.x == ep || s.y == ep }

var _ = Describe("mesh", Label("mesh", "go-chrome", "chrome-chrome", "ws"), func() {
	It("connects 2 Go peers and 2 Chrome tabs each to every other under wifi-lossy, and survives one tab leaving and rejoining", func() {
		runLab(labCase{Family: "mesh", Pair: "mixed", Profile: "wifi-lossy", Timeout: meshTimeout}, meshTopo(), func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
			var sessions []*meshSession
			for i, x := range meshEndpoints {
				for _, y := range meshEndpoints[i+1:] {
					sessions = append(sessions, meshConnect(ctx, l, x, y, 0))
				}
			}
			Expect(sessions).To(HaveLen(6))
			for _, s := range sessions {
				s.works(ctx, "all up")
				rec.Metric("open_ms_"+s.name(), float64(s.openedIn.Milliseconds()))
			}

			// cr2 leaves: its three sessions close (bye), the far sides
			// hear it, the other three sessions carry on.
			const leaver = "cr2"
			leftAt := time.Now()
			var stay, gone []*meshSession
			for _, s := range sessions {
				if !s.involves(leaver) {
					stay = append(stay, s)
					continue
				}
				gone = append(gone, s)
				mine, theirs := s.a, s.b
				if s.y != leaver {
					mine, theirs = s.b, s.a
				}
				Expect(mine.Close()).To(Succeed(), "%s leaving", s.name())
				waitEvent(ctx, theirs, peer.EventBye, leftAt)
			}
			Expect(gone).To(HaveLen(3))
			for _, s := range stay {
				s.works(ctx, "while "+leaver+" is away")
				for _, ep := range []peer.Endpoint{s.a, s.b} {
					_, det := firstEvent(ep, peer.EventDisconnected, leftAt)
					Expect(det).To(BeFalse(), "%s: %s saw a disconnection when %s left", s.name(), ep.ID(), leaver)
				}
			}

			// cr2 rejoins: fresh sessions (fresh ids) with everyone.
			for _, s := range gone {
				// The side that stayed is done with its old peer too.
				other := s.a
				if s.x == leaver {
					other = s.b
				}
				Expect(other.Close()).To(Succeed())
				n := meshConnect(ctx, l, s.x, s.y, 1)
				rec.Metric("rejoin_open_ms_"+n.name(), float64(n.openedIn.Milliseconds()))
				stay = append(stay, n)
			}
			Expect(stay).To(HaveLen(6))
			for _, s := range stay {
				s.works(ctx, "after "+leaver+" rejoined")
			}
		})
	})
})
