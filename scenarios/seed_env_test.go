package scenarios

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// A signaling medium of the seed suite: the seed ran every spec once per
// medium (PROTOCOL.md).
type medium string

const (
	mLoopback medium = "loopback" // direct hand-over, virtual time
	mDelayed  medium = "delayed"  // random 0-100 ms per message, in order, virtual time
	mWS       medium = "ws"       // the signaling server over WebSocket, real time on loopback
	mSSE      medium = "sse"      // the signaling server over SSE + POST, real time on loopback
)

var allMedia = []medium{mLoopback, mDelayed, mWS, mSSE}

// virtual reports whether cases on m run in a synctest bubble: in-memory
// media do (FINDINGS.md, Virtual time); sockets cannot.
func (m medium) virtual() bool { return m == mLoopback || m == mDelayed }

// world is everything one case runs in: the signaling medium, the clients
// on it, the vnet the Go peers live on, and the endpoints. Close tears it
// down in reverse order of creation.
type world struct {
	medium    medium
	seed      uint64
	transport signaling.Transport
	loop      *signaling.Loopback // loopback and delayed
	server    *signaling.Server   // ws and sse
	net       *goNet
	clients   map[string]*signaling.Client
	closers   []func() error
}

func newWorld(m medium, seed uint64) (*world, error) {
	w := &world{medium: m, seed: seed, clients: map[string]*signaling.Client{}}
	switch m {
	case mLoopback, mDelayed:
		var opts []signaling.LoopbackOption
		if m == mDelayed {
			opts = append(opts, signaling.WithDelay(signaling.DefaultLoopbackDelay, seed))
		}
		l, err := signaling.NewLoopback(opts...)
		if err != nil {
			return nil, err
		}
		w.loop, w.transport = l, l
		w.defer_(l.Close)
	case mWS, mSSE:
		srv, err := startSignalingServer()
		if err != nil {
			return nil, err
		}
		w.server = srv
		w.defer_(srv.Close)
		if m == mWS {
			w.transport, err = signaling.NewWSTransport(srv.URL())
		} else {
			w.transport, err = signaling.NewSSETransport(srv.URL())
		}
		if err != nil {
			w.Close()
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown medium %q", m)
	}
	n, err := newGoNet(seed)
	if err != nil {
		w.Close()
		return nil, err
	}
	w.net = n
	w.defer_(n.Close)
	return w, nil
}

func (w *world) defer_(f func() error) { w.closers = append(w.closers, f) }

// Close closes everything the world made, newest first.
func (w *world) Close() error {
	for i := len(w.closers) - 1; i >= 0; i-- {
		_ = w.closers[i]()
	}
	w.closers = nil
	return nil
}

// client returns the signaling client of id, connected (one per id, shared
// by every peer of that id, as PROTOCOL.md says).
func (w *world) client(ctx context.Context, id string) *signaling.Client {
	GinkgoHelper()
	if c := w.clients[id]; c != nil {
		return c
	}
	c, err := signaling.NewClient(signaling.ClientConfig{ID: id, Transport: w.transport, Seed: w.seed})
	Expect(err).NotTo(HaveOccurred())
	w.defer_(c.Close)
	Expect(c.WaitConnected(ctx)).To(Succeed())
	w.clients[id] = c
	return c
}

// pairOptions tune the Go peers of a pair.
type pairOptions struct {
	glare       peer.GlareStrategy
	lockTimeout time.Duration
	heartbeat   peer.HeartbeatConfig
	reconnect   peer.ReconnectConfig
	ice         peer.ICETimeouts
}

// goPair makes a Go-Go pair "alice" and "bob" (alice < bob: alice is the
// polite side).
func (w *world) goPair(ctx context.Context, o pairOptions) (a, b peer.Endpoint) {
	GinkgoHelper()
	return w.goPairNamed(ctx, "alice", "bob", o)
}

// goPairNamed makes a Go-Go pair with the given ids.
func (w *world) goPairNamed(ctx context.Context, alice, bob string, o pairOptions) (a, b peer.Endpoint) {
	GinkgoHelper()
	// Both ids register before either peer starts: over WebSocket a
	// message to an id nobody holds closes the sender's socket
	// (PROTOCOL.md), and a peer signals (heartbeats) from the start.
	w.client(ctx, alice)
	w.client(ctx, bob)
	mk := func(id, remote string) peer.Endpoint {
		p, err := peer.New(w.net.config(id, remote, w.client(ctx, id), o))
		Expect(err).NotTo(HaveOccurred())
		w.defer_(p.Close)
		return p
	}
	return mk(alice, bob), mk(bob, alice)
}

// caseTimeout bounds one case: virtual time in a bubble, real time on
// sockets.
const caseTimeout = 2 * time.Minute

// runCase runs body in a world on medium m: inside a synctest bubble for
// in-memory media (with the suite's *testing.T, FINDINGS.md), in real time
// otherwise. A Gomega failure inside the bubble panics in the bubble's
// goroutine; GinkgoRecover there records it after the world is closed.
func runCase(ctx context.Context, m medium, body func(ctx context.Context, w *world)) {
	GinkgoHelper()
	if !m.virtual() {
		w, err := newWorld(m, *seed)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(w.Close)
		ctx, cancel := context.WithTimeout(ctx, caseTimeout)
		defer cancel()
		body(ctx, w)
		return
	}
	synctest.Test(suiteT, func(t *testing.T) {
		defer GinkgoRecover()
		w, err := newWorld(m, *seed)
		Expect(err).NotTo(HaveOccurred())
		defer w.Close()
		ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
		defer cancel()
		body(ctx, w)
	})
}

// seedSpec is one of the seed's 21 specs, written against peer.Endpoint
// (and, for dispatch, the signaling client) so that Chrome pairs run it
// unchanged later.
type seedSpec struct {
	n      int
	name   string
	family string // lock, data, glare, media, dispatch
	body   func(ctx context.Context, w *world)
}

var seedSpecs []seedSpec

func addSeedSpec(n int, family, name string, body func(ctx context.Context, w *world)) bool {
	seedSpecs = append(seedSpecs, seedSpec{n: n, family: family, name: name, body: body})
	return true
}

// The seed suite: 21 specs x 4 media for the Go-Go pair.
var _ = Describe("seed suite", Label("seed"), func() {
	specs := slices.Clone(seedSpecs)
	slices.SortFunc(specs, func(a, b seedSpec) int { return a.n - b.n })
	for _, pair := range []string{"go-go"} {
		for _, m := range allMedia {
			Describe(fmt.Sprintf("%s over %s", pair, m), Label(pair, string(m)), func() {
				for _, s := range specs {
					labels := Labels{}
					if s.family == "glare" {
						labels = append(labels, "glare")
					}
					It(fmt.Sprintf("%02d %s", s.n, s.name), labels, func(ctx SpecContext) {
						runCase(ctx, m, s.body)
					})
				}
			})
		}
	}
})
