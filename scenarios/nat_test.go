package scenarios

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/turn/v4"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/lab/labspec"
	"github.com/netlab/netlab/peer"
)

// The NAT matrix: every unordered pair of lab.NATs() presets (28), once
// with STUN only and once with STUN and TURN, against the RFC 4787 + ICE
// model (lab.Direct), which shares nothing with vnet: the family checks
// vnet and pion against the RFCs, not against a recorded run.

const (
	// natDeadline bounds a case's connection attempt (virtual time). A
	// connecting pair needs about 0.6 s (srflx wait) or 2 s (relay wait);
	// a failing one reaches ICE failed after Disconnected+Failed = 3 s.
	natDeadline = 10 * time.Second
	natTable    = "who-needs-turn"
	natTitle    = "Who needs TURN (RFC 4787 model vs measured)"

	// natMappingLifetime is how long the NATs keep an idle mapping
	// (refreshed by outbound traffic, RFC 4787 REQ-6): 30 s, what many
	// home routers use for UDP, though REQ-5 asks for 2 min.
	natMappingLifetime = 30 * time.Second
	// A connected call is then held idle (no heartbeat, no data: only
	// ICE keepalives and TURN refreshes cross) and must still work. A
	// direct call is held over two NAT mapping lifetimes; a call through
	// the relay past the TURN server's permission lifetime (5 min, RFC
	// 8656 section 9) and its default allocation lifetime (10 min,
	// section 7.2): the field's "the call dies after 30 s of silence" and
	// "calls over TURN drop after 5 (or 10) minutes".
	natHoldDirect  = 2*natMappingLifetime + 5*time.Second
	natHoldRelayed = 10*time.Minute + 30*time.Second
)

// natICE makes a failing pair give up quickly; keepalives stay well
// inside Disconnected so that a working pair never goes disconnected.
var natICE = peer.ICETimeouts{Disconnected: time.Second, Failed: 2 * time.Second, KeepAlive: 500 * time.Millisecond}

var natColumns = []string{"pair", "NAT A", "NAT B", "model says", "stun only (measured)", "stun+turn (measured)",
	"selected pair with TURN", "setup ms stun only", "setup ms with TURN"}

var natNotes = []string{
	"model says: lab.Direct, an RFC 4787 mapping/filtering + RFC 8445 ICE model (not a measured run)",
	"measured on vnet with pion, virtual time; setup is from Pair creation to the first message received",
	"selected pair: alice's (the offerer's, ICE controlling) local -> remote candidate types; prflx: the address was first seen in a check, not in signaling (pion's host socket is not its srflx socket, so behind a NAT its checks come from an unsignaled mapping)",
	"setup: 1200 ms is pion's 1 s prflx acceptance wait, 600 ms its 500 ms srflx wait, 2200 ms its 2 s relay wait, each plus one 200 ms check tick",
}

var _ = Describe("nat", Label("nat", "go-go", "loopback"), func() {
	DescribeTable("NAT matrix", natCase, natEntries())

	// An external TURN server (here a pion/turn on real loopback
	// sockets, standing in for a coturn) instead of the lab's: the pair
	// that needs TURN connects relay to relay on 127.0.0.1, through the
	// lab's gateway. Real time: the gateway's sockets are real.
	It("connects symmetric x symmetric through an external TURN server on 127.0.0.1", func() {
		url, allocs := natExternalTURN()
		topo := lab.Topology{
			Name:      "nat-external-turn",
			Endpoints: []lab.EndpointConfig{{Name: "alice", NAT: lab.NATSymmetric}, {Name: "bob", NAT: lab.NATSymmetric}},
			STUN:      lab.Server{Mode: lab.ServerOff},
			TURN:      lab.Server{Mode: lab.ServerExternal, URLs: []string{url}, Username: "ext", Credential: "secret"},
			Peer: peer.Config{ICE: natICE, Reconnect: peer.ReconnectConfig{Disabled: true},
				CandidateWaits: peer.CandidateWaits{Relay: 50 * time.Millisecond}},
		}
		runLab(labCase{Family: "nat", Profile: "ideal, external TURN", Clock: labspec.Real}, topo, func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
			out, _, _ := natConnect(ctx, l)
			Expect(out.connected).To(BeTrue(), "through the external TURN server")
			Expect(out.local).To(Equal("relay"), "alice's local candidate")
			Expect(out.localAddr).To(HavePrefix("127.0.0.1:"), "alice's relay is the external server's")
			Expect(out.remoteAddr).To(HavePrefix("127.0.0.1:"), "bob's relay is the external server's")
			Expect(allocs.Load()).To(BeNumerically(">=", 2), "allocations on the external server")
			rec.Metric("setup_ms", float64(out.setup)/float64(time.Millisecond))
		})
	})
})

// natExternalTURN starts a TURN server on real loopback sockets that
// relays on 127.0.0.1, for the spec's lifetime, and counts allocations.
func natExternalTURN() (string, *atomic.Int64) {
	GinkgoHelper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	allocs := &atomic.Int64{}
	key := turn.GenerateAuthKey("ext", "ext.test", "secret")
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:       "ext.test",
		AuthHandler: func(user, _ string, _ net.Addr) ([]byte, bool) { return key, user == "ext" },
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(_, _ net.Addr, _, _, _ string, _ net.Addr, _ int) { allocs.Add(1) },
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            pc,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"},
		}},
	})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(srv.Close)
	return fmt.Sprintf("turn:%s?transport=udp", pc.LocalAddr()), allocs
}

// natEntries lists the 56 cases: unordered pairs with repetition, each
// with and without TURN.
func natEntries() []TableEntry {
	var out []TableEntry
	nats := lab.NATs()
	for i, a := range nats {
		for _, b := range nats[i:] {
			for _, withTURN := range []bool{false, true} {
				out = append(out, Entry(natCaseName(a, b, withTURN), a, b, withTURN))
			}
		}
	}
	return out
}

func natCaseName(a, b lab.NAT, withTURN bool) string {
	if withTURN {
		return natPairName(a, b) + ", stun+turn"
	}
	return natPairName(a, b) + ", stun only"
}

// natOutcome is what one case measured.
type natOutcome struct {
	known         bool
	connected     bool
	setup         time.Duration // to the first message received; connected only
	local, remote string        // selected candidate types on alice
	relayed       bool          // the selected pair goes through the TURN server
	// localAddr and remoteAddr are alice's selected pair; ca and cb the
	// channel's two ends (alice's, bob's).
	localAddr, remoteAddr string
	ca, cb                peer.Channel
}

// natResults holds each pair's two halves until both are known: the two
// cases of a pair are separate specs.
var (
	natMu      sync.Mutex
	natResults = map[string]*[2]natOutcome{} // guarded by natMu: by pair name; [0] stun only, [1] stun+turn
)

// natRecord stores a half and (re)writes the pair's row: addTableRow
// replaces by key, so a half-known row is completed by the other case.
func natRecord(a, b lab.NAT, withTURN bool, o natOutcome) {
	key := natPairName(a, b)
	natMu.Lock()
	r := natResults[key]
	if r == nil {
		r = &[2]natOutcome{}
		natResults[key] = r
	}
	i := 0
	if withTURN {
		i = 1
	}
	o.known = true
	r[i] = o
	halves := *r
	natMu.Unlock()

	model := "direct"
	if lab.NeedsTURN(a, b) {
		model = "needs TURN"
	}
	verdict := func(o natOutcome) string {
		switch {
		case !o.known:
			return "?"
		case o.connected:
			return "connects"
		}
		return "fails"
	}
	setup := func(o natOutcome) string {
		if !o.known || !o.connected {
			return "-"
		}
		return ms(o.setup)
	}
	pair := "-"
	if t := halves[1]; t.known && t.connected {
		pair = t.local + " -> " + t.remote
	}
	addTableRow(natTable, natTitle, natColumns, "go-go: "+key,
		[]string{"go-go", string(a), string(b), model, verdict(halves[0]), verdict(halves[1]), pair,
			setup(halves[0]), setup(halves[1])},
		natNotes...)
}

// natCase runs one case: alice behind a, bob behind b, TURN on or off.
func natCase(a, b lab.NAT, withTURN bool) {
	direct, why := lab.Direct(a, b)
	needsTURN := lab.NeedsTURN(a, b)
	turnMode := lab.ServerOff
	if withTURN {
		turnMode = lab.ServerOn
	}
	topo := lab.Topology{
		Name:      "nat",
		Endpoints: []lab.EndpointConfig{{Name: "alice", NAT: a}, {Name: "bob", NAT: b}},
		TURN:      lab.Server{Mode: turnMode},
		// No reconnect: the case is about the first connection, and an
		// ICE restart after failed would only retry the same candidates.
		// No heartbeat: the hold is idle, as a call whose app sends
		// nothing, so only ICE and TURN keep the mappings alive.
		Peer: peer.Config{ICE: natICE, Reconnect: peer.ReconnectConfig{Disabled: true},
			Heartbeat: peer.HeartbeatConfig{Disabled: true}},
		NATMappingLifetime: natMappingLifetime,
	}
	c := labCase{Family: "nat", Profile: "ideal", Timeout: natDeadline + natHoldRelayed + time.Minute}
	runLab(c, topo, func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
		out, alice, bob := natConnect(ctx, l)
		natRecord(a, b, withTURN, out)
		rec.Metric("turn_server", b2f(withTURN))
		rec.Metric("connected", b2f(out.connected))
		if out.connected {
			rec.Metric("setup_ms", float64(out.setup)/float64(time.Millisecond))
			rec.Metric("relay", b2f(out.relayed))
		}

		if withTURN {
			Expect(out.connected).To(BeTrue(), "with TURN every pair must connect (model: %s)", why)
			// Where no direct pair works, the pair must go through the
			// relay (judged by address: see natConnect).
			//
			// Where one does, pion nominates it over a relay pair because
			// of the acceptance waits (srflx 0.5 s, prflx 1 s, relay 2 s):
			// a relay candidate typed relay is never selected then. But a
			// relay candidate that reaches alice first in a check (bob's
			// check through his relay, before the candidate arrives by
			// signaling) is typed prflx, gets the prflx wait and a prflx
			// priority, and ties with the direct prflx pair; either may
			// win (seen in 2 of 25 runs of the family, none x 1:1 once).
			// That is pion's behaviour, and an app would see TURN used
			// where it is not needed; the case records it
			// (relay_as_prflx) and asserts only what holds: no pair typed
			// relay when a direct pair works.
			if needsTURN {
				Expect(out.relayed).To(BeTrue(),
					"selected pair %s -> %s does not go through the relay; the model says TURN is needed: %s", out.local, out.remote, why)
			} else {
				Expect(out.local != "relay" && out.remote != "relay").To(BeTrue(),
					"selected pair %s -> %s is a relay pair, but a direct one works: %s", out.local, out.remote, why)
			}
			rec.Metric("relay_as_prflx", b2f(out.relayed && out.local != "relay" && out.remote != "relay"))
			natHold(ctx, alice, bob, out, rec)
			return
		}
		Expect(out.connected).To(Equal(direct), "STUN only: connected = %v, model says %v: %s", out.connected, direct, why)
		if direct {
			natHold(ctx, alice, bob, out, rec)
		} else {
			at, ok := natICEFailed(alice, bob)
			Expect(ok).To(BeTrue(), "STUN only, expected failure (%s): neither peer's ICE reached failed", why)
			rec.Metric("ice_failed_ms", float64(at.Sub(l.Start()))/float64(time.Millisecond))
		}
	})
}

// natConnect opens a reliable channel alice -> bob and sends one message
// each way, all within natDeadline. It does not assert: a case whose
// verdict is "fails" gets here too. It asserts only what no case may do:
// fail for another reason than the deadline.
func natConnect(ctx context.Context, l *lab.Lab) (out natOutcome, alice, bob *peer.GoPeer) {
	GinkgoHelper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, natDeadline)
	defer cancel()
	alice, bob, err := l.Pair(ctx, "alice", "bob")
	Expect(err).NotTo(HaveOccurred(), "making the pair")
	ca, err := alice.CreateDataChannel(ctx, "nat", peer.ChannelOptions{})
	if err != nil {
		Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue(),
			"the channel may only fail to open by the deadline, got %v", err)
		return natOutcome{}, alice, bob
	}
	cb, err := bob.AcceptDataChannel(ctx, "nat")
	Expect(err).NotTo(HaveOccurred(), "bob accepting the channel alice opened")
	Expect(ca.Send(ctx, []byte("ping"))).To(Succeed())
	got, err := cb.Recv(ctx)
	Expect(err).NotTo(HaveOccurred(), "bob receiving")
	setup := time.Since(start)
	Expect(string(got)).To(Equal("ping"))
	Expect(cb.Send(ctx, []byte("pong"))).To(Succeed())
	got, err = ca.Recv(ctx)
	Expect(err).NotTo(HaveOccurred(), "alice receiving")
	Expect(string(got)).To(Equal("pong"))
	st, err := alice.Stats(ctx)
	Expect(err).NotTo(HaveOccurred())
	// By address, not only by type: a relay candidate that reaches alice
	// in a check before it does through signaling is typed prflx.
	relayed := st.LocalCandidate == "relay" || st.RemoteCandidate == "relay" ||
		strings.HasPrefix(st.RemoteAddress, lab.TURNIP+":") || strings.HasPrefix(st.LocalAddress, lab.TURNIP+":")
	return natOutcome{connected: true, setup: setup, local: st.LocalCandidate, remote: st.RemoteCandidate, relayed: relayed,
		localAddr: st.LocalAddress, remoteAddr: st.RemoteAddress, ca: ca, cb: cb}, alice, bob
}

// natHold holds a connected call idle (natHoldDirect, or natHoldRelayed
// through the relay) and checks that nothing moved: no ICE state change
// on either side, the same selected pair, and a message each way.
func natHold(ctx context.Context, alice, bob *peer.GoPeer, out natOutcome, rec *caseRecord) {
	GinkgoHelper()
	hold := natHoldDirect
	if out.relayed {
		hold = natHoldRelayed
	}
	from := time.Now()
	time.Sleep(hold) // virtual: the idle call itself
	rec.Metric("hold_s", hold.Seconds())
	for _, ep := range []*peer.GoPeer{alice, bob} {
		// After from, not at it: pion reports ICE connected from a
		// goroutine of its own, which can run at the virtual instant the
		// first messages crossed.
		Expect(rclICEAfter(ep, from.Add(time.Nanosecond))).To(BeEmpty(), "%s: ICE moved during %v of idle call (NAT mapping lifetime %v, relayed %v)",
			ep.ID(), hold, natMappingLifetime, out.relayed)
	}
	st, err := alice.Stats(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(st.LocalAddress+" -> "+st.RemoteAddress).To(Equal(out.localAddr+" -> "+out.remoteAddr),
		"alice's selected pair changed during the idle call")
	echoOnce(ctx, out.ca, out.cb, "after the hold")
	echoOnce(ctx, out.cb, out.ca, "after the hold, back")
}

// natICEFailed finds the earliest ICE "failed" of either peer.
func natICEFailed(ps ...*peer.GoPeer) (time.Time, bool) {
	var first time.Time
	for _, p := range ps {
		for _, ev := range p.EventHistory() {
			if ev.Type == peer.EventState && ev.Machine == "ice" && ev.State == "failed" {
				if first.IsZero() || ev.At.Before(first) {
					first = ev.At
				}
				break
			}
		}
	}
	return first, !first.IsZero()
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
