package scenarios

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/lab/labspec"
	"github.com/netlab/netlab/peer"
)

// The NAT family with Chrome: a Go endpoint behind each preset facing a
// Chrome tab, and two tabs. Chrome is relay-only through its TURN
// listener on 127.0.0.1, its relay on the WAN; the Go peer has host,
// srflx and relay candidates of its own.
//
//	alice (Go) ─[alice's NAT]─ WAN ─ bob's relay ─ TURN ═ 127.0.0.1 ═ bob (Chrome)
//
// A TURN relay filters like an endpoint-independent-mapping,
// address-dependent-filtering NAT (RFC 8656 section 9: permissions are by
// IP; pion/turn checks the IP only). lab.DirectToRelay runs the NAT model
// with the relay as that NAT and says whether the Go peer reaches
// Chrome's relay with its own host and srflx candidates; where it does,
// the Go peer must not use a relay of its own.

const (
	// natcBound bounds connect plus one message each way, from the call
	// to Connect (which opens the tab and loads the page). The Go peer
	// offers, so it is ICE controlling, and nominates no earlier than
	// pion's acceptance wait for the remote candidate's type: Chrome's
	// relay is typed relay (2 s) or, when its check arrives before its
	// candidate, prflx (1 s). The default waits are kept on purpose: by
	// 2 s every check on loopback is long done, so pion picks the pair by
	// priority (host before srflx before its own relay), not by which
	// check answered first. Then one 200 ms check tick, the tab and page
	// (0.3-0.5 s measured, FINDINGS.md) and DTLS, SCTP and the channel
	// over loopback (tens of ms); 1 s on top for a busy 2-core machine.
	natcBound = 4 * time.Second
	// natcRelayBound is natcBound for two tabs: no pion waits (Chrome
	// nominates as soon as a check succeeds; relay to relay connects in
	// about 0.1 s, FINDINGS.md), two tabs opened one after the other
	// (0.3-0.5 s each), and the same 1 s on top.
	natcRelayBound = 3 * time.Second

	// natcLifetime is the NAT mapping lifetime of the idle-hold case. vnet
	// refreshes a mapping on outbound packets only (RFC 4787 section
	// 4.3): the Go peer's keepalives (natcKeepAlive, sent when the pair
	// has been idle that long, checked on pion's 200 ms tick) refresh it
	// at most 0.7 s apart, well inside it. Its answers to Chrome's checks
	// refresh it too, at Chrome's pace, which the case does not rely on.
	// With a 400 ms lifetime and 10 s keepalives the case fails (the echo
	// after the hold misses natcEchoBound): it can tell.
	natcLifetime  = 2 * time.Second
	natcKeepAlive = 500 * time.Millisecond
	// natcHold is the idle call: past two mapping lifetimes.
	natcHold = 2*natcLifetime + time.Second
	// natcEchoBound bounds a message each way after the hold: a crossing
	// takes milliseconds on an intact loopback path (3-6 ms measured);
	// through a lapsed mapping the first is lost and waits for a
	// retransmission (pion's SCTP RTO is 1 s at the least, RFC 4960
	// RTO.Min) and for ICE to find the new mapping.
	natcEchoBound = time.Second
)

// natcPeer is every Go peer's config here: no heartbeat (only ICE and
// TURN traffic, as in the go-go family) and no reconnect (the case is
// about the first connection). ICE timeouts stay pion's defaults (5 s,
// 25 s): Chrome's own consent checks are seconds apart, and pion fails a
// pair checking for longer than their sum, well past natcBound.
var natcPeer = peer.Config{
	ICE:       peer.ICETimeouts{KeepAlive: natcKeepAlive},
	Heartbeat: peer.HeartbeatConfig{Disabled: true},
	Reconnect: peer.ReconnectConfig{Disabled: true},
}

var natcNotes = []string{
	"go-chrome rows: alice is a Go peer behind NAT A (offerer, ICE controlling), bob a Chrome tab, relay-only through the lab's TURN server (no NAT of its own); " +
		"model says: lab.DirectToRelay, the same model with Chrome's relay as an endpoint-independent-mapping, address-dependent-filtering NAT (RFC 8656 permissions are by IP); " +
		"measured in real time, setup from Connect (tab and page included) to bob's first message; the selected pair is alice's, and its remote is Chrome's relay whatever its type",
	"chrome-chrome: two tabs, each relay-only, relay to relay on the WAN; selected pair: alice's (Chrome's) candidate types",
}

// natcOutcome is what a go-chrome or chrome-chrome case measured.
type natcOutcome struct {
	setup  time.Duration // Connect to bob's first message
	total  time.Duration // Connect to alice's receiving the answer (within the bound)
	sa, sb peer.Stats    // alice's and bob's, after the exchange
	ca, cb peer.Channel
}

var _ = Describe("nat go-chrome", Label("nat", "go-chrome", "loopback"), func() {
	var entries []TableEntry
	for _, n := range lab.NATs() {
		entries = append(entries, Entry("alice Go behind "+string(n)+", bob Chrome (relay only)", n))
	}
	DescribeTable("Go behind each NAT preset x Chrome", natcCase, entries)

	It("alice Go behind symmetric, bob Chrome: held idle past two NAT mapping lifetimes (2 s) with only keepalives crossing", func() {
		topo := natcTopo(lab.NATSymmetric)
		topo.NATMappingLifetime = natcLifetime
		c := labCase{Family: "nat", Pair: "go-chrome", Profile: "ideal, alice Go behind symmetric, bob Chrome, idle hold", Clock: labspec.Real}
		runLab(c, topo, func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
			out, a, b := natcConnect(ctx, l, natcBound)
			rec.Metric("setup_ms", perfMS(out.setup))
			Expect(out.sa.LocalAddress).NotTo(HavePrefix(lab.TURNIP+":"), "alice uses her own relay")
			from := time.Now()
			time.Sleep(natcHold) // the idle call itself: nothing but ICE keepalives and TURN refreshes cross
			rec.Metric("hold_s", natcHold.Seconds())
			// A message each way, at once (natcEchoBound).
			ectx, cancel := context.WithTimeout(ctx, natcEchoBound)
			echoStart := time.Now()
			echoOnce(ectx, out.ca, out.cb, "after the hold")
			echoOnce(ectx, out.cb, out.ca, "after the hold, back")
			cancel()
			rec.Metric("echo_after_hold_ms", perfMS(time.Since(echoStart)))
			for _, ep := range []peer.Endpoint{a, b} {
				Expect(rclICEAfter(ep, from)).To(BeEmpty(), "%s: ICE moved during %v of idle call and the echo (NAT mapping lifetime %v)", ep.ID(), natcHold, natcLifetime)
			}
			// The same pairs, Chrome's remote included: its port is the
			// NAT mapping's, and a lapsed mapping comes back on another
			// port (vnet counts them up, never reusing one).
			sa, sb := natcStats(ctx, a), natcStats(ctx, b)
			Expect(sa.LocalAddress+" -> "+sa.RemoteAddress).To(Equal(out.sa.LocalAddress+" -> "+out.sa.RemoteAddress), "alice's selected pair changed during the idle call")
			Expect(sb.LocalAddress+" -> "+sb.RemoteAddress).To(Equal(out.sb.LocalAddress+" -> "+out.sb.RemoteAddress), "bob's selected pair (alice's NAT mapping) changed during the idle call")
		})
	})
})

var _ = Describe("nat chrome-chrome", Label("nat", "chrome-chrome", "loopback"), func() {
	It("alice Chrome, bob Chrome: relay to relay across the WAN", func() {
		topo := lab.Topology{
			Name:      "nat-chrome",
			Endpoints: []lab.EndpointConfig{{Name: "alice", Kind: peer.KindChrome}, {Name: "bob", Kind: peer.KindChrome}},
			Peer:      natcPeer,
		}
		runLab(labCase{Family: "nat", Pair: "chrome-chrome", Profile: "ideal, relay to relay", Clock: labspec.Real}, topo, func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
			out, _, _ := natcConnect(ctx, l, natcRelayBound)
			rec.Metric("setup_ms", perfMS(out.setup))
			rec.Metric("connect_echo_ms", perfMS(out.total))
			for _, s := range []struct {
				who       string
				own, peer peer.Stats
			}{{"alice", out.sa, out.sb}, {"bob", out.sb, out.sa}} {
				Expect(s.own.LocalCandidate).To(Equal("relay"), "%s's local candidate", s.who)
				natcExpectRelay(s.own.LocalAddress, s.who+"'s local address")
				// Never a redacted prflx: a tab's relay admits the other's
				// checks only once it holds a permission for the other's
				// relay IP, which it makes on learning its candidate.
				Expect(s.own.RemoteAddress).To(Equal(s.peer.LocalAddress), "%s's remote is the other tab's relay", s.who)
			}
			addTableRow(natTable, natTitle, natColumns, "chrome-chrome: chrome x chrome",
				[]string{"chrome-chrome", natcChrome, natcChrome, "relay to relay (both relay-only)", "n/a (relay-only)", "connects",
					out.sa.LocalCandidate + " -> " + out.sa.RemoteCandidate, "-", ms(out.setup)},
				slices.Concat(natNotes, natcNotes)...)
		})
	})
})

// An external TURN server (a pion/turn on real loopback sockets, standing
// in for a coturn) instead of the lab's: Chrome allocates on it directly
// (relay-only, every packet to 127.0.0.1), a Go peer through the lab's
// gateway (relay-only too: lab/gateway.go), and the pair meets relay to
// relay on 127.0.0.1. With an external server a tab has no listener of
// its own to shape: the links are ideal.
var _ = Describe("nat with Chrome through an external TURN server", Label("nat", "loopback"), func() {
	for _, ak := range []peer.Kind{peer.KindGo, peer.KindChrome} {
		pair := "go-chrome"
		if ak == peer.KindChrome {
			pair = "chrome-chrome"
		}
		It(fmt.Sprintf("alice %s, bob Chrome: relay to relay on the external server", ak), Label(pair), func() {
			url, allocs := natExternalTURN()
			topo := lab.Topology{
				Name:      "nat-chrome-external-turn",
				Endpoints: []lab.EndpointConfig{{Name: "alice", Kind: ak}, {Name: "bob", Kind: peer.KindChrome}},
				STUN:      lab.Server{Mode: lab.ServerOff},
				TURN:      lab.Server{Mode: lab.ServerExternal, URLs: []string{url}, Username: "ext", Credential: "secret"},
				Peer:      natcPeer,
			}
			runLab(labCase{Family: "nat", Pair: pair, Profile: "ideal, external TURN", Clock: labspec.Real}, topo, func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
				out, _, _ := natcConnect(ctx, l, natcBound)
				rec.Metric("setup_ms", perfMS(out.setup))
				for _, s := range []struct {
					who       string
					own, peer peer.Stats
				}{{"alice", out.sa, out.sb}, {"bob", out.sb, out.sa}} {
					Expect(s.own.LocalAddress).To(HavePrefix("127.0.0.1:"), "%s's relay is the external server's", s.who)
					Expect(s.own.RemoteAddress).To(Equal(s.peer.LocalAddress), "%s's remote is the other's relay", s.who)
				}
				Expect(out.sb.LocalCandidate).To(Equal("relay"), "Chrome's local candidate")
				Expect(allocs.Load()).To(BeNumerically(">=", 2), "allocations on the external server")
			})
		})
	}
})

// natcChrome is a Chrome endpoint in the NAT columns.
const natcChrome = "none (Chrome, relay-only)"

func natcTopo(n lab.NAT) lab.Topology {
	return lab.Topology{
		Name:      "nat-chrome",
		Endpoints: []lab.EndpointConfig{{Name: "alice", NAT: n}, {Name: "bob", Kind: peer.KindChrome}},
		// STUN and TURN on (the defaults): the Go peer has a srflx and a
		// relay of its own to fall back on; Chrome needs TURN.
		Peer: natcPeer,
	}
}

// natcCase: alice Go behind n, bob Chrome. Connects within natcBound;
// Chrome's local candidate is its relay on the WAN; the Go peer's is its
// own relay exactly when the model says it needs one.
func natcCase(n lab.NAT) {
	direct, why := lab.DirectToRelay(n)
	c := labCase{Family: "nat", Pair: "go-chrome", Profile: "ideal, alice Go behind " + string(n) + ", bob Chrome", Clock: labspec.Real}
	runLab(c, natcTopo(n), func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
		out, _, _ := natcConnect(ctx, l, natcBound)
		rec.Metric("connect_echo_ms", perfMS(out.total))
		goRelayed := strings.HasPrefix(out.sa.LocalAddress, lab.TURNIP+":")
		rec.Metric("setup_ms", perfMS(out.setup))
		rec.Metric("go_relay", b2f(goRelayed))
		model := "direct to Chrome's relay"
		if !direct {
			model = "needs alice's relay too"
		}
		addTableRow(natTable, natTitle, natColumns, "go-chrome: "+string(n)+" x chrome",
			[]string{"go-chrome", string(n), natcChrome, model, "n/a (Chrome is relay-only)", "connects",
				out.sa.LocalCandidate + " -> " + out.sa.RemoteCandidate, "-", ms(out.setup)},
			slices.Concat(natNotes, natcNotes)...)

		// Chrome: its one candidate, its relay, on the WAN (by address).
		Expect(out.sb.LocalCandidate).To(Equal("relay"), "Chrome's local candidate")
		natcExpectRelay(out.sb.LocalAddress, "Chrome's local address")
		// Both ends name the same pair.
		Expect(out.sa.RemoteAddress).To(Equal(out.sb.LocalAddress), "alice's remote is Chrome's relay")
		natcExpectSeen(out.sb.RemoteCandidate, out.sb.RemoteAddress, out.sa.LocalAddress)
		// The Go peer: its own relay only where the model says it needs one.
		Expect(goRelayed).To(Equal(!direct), "alice's local %s %s; model: direct to the relay = %v (%s)",
			out.sa.LocalCandidate, out.sa.LocalAddress, direct, why)
	})
}

// natcConnect connects alice and bob (of their kinds), opens a reliable
// channel alice -> bob and sends one message each way, all within bound
// from the call to Connect, and reads both sides' selected pairs.
func natcConnect(ctx context.Context, l *lab.Lab, bound time.Duration) (out natcOutcome, a, b peer.Endpoint) {
	GinkgoHelper()
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	a, b, err := l.Connect(cctx, "alice", "bob")
	Expect(err).NotTo(HaveOccurred(), "connecting alice and bob")
	ca, err := a.CreateDataChannel(cctx, "nat", peer.ChannelOptions{})
	Expect(err).NotTo(HaveOccurred(), "alice's channel open within %v of Connect", bound)
	cb, err := b.AcceptDataChannel(cctx, "nat")
	Expect(err).NotTo(HaveOccurred(), "bob accepting the channel")
	Expect(ca.Send(cctx, []byte("ping"))).To(Succeed())
	got, err := cb.Recv(cctx)
	Expect(err).NotTo(HaveOccurred(), "bob receiving within %v of Connect", bound)
	out.setup = time.Since(start)
	Expect(string(got)).To(Equal("ping"))
	Expect(cb.Send(cctx, []byte("pong"))).To(Succeed())
	got, err = ca.Recv(cctx)
	Expect(err).NotTo(HaveOccurred(), "alice receiving within %v of Connect", bound)
	Expect(string(got)).To(Equal("pong"))
	out.total = time.Since(start)
	out.ca, out.cb = ca, cb
	out.sa, out.sb = natcStats(ctx, a), natcStats(ctx, b)
	return out, a, b
}

// natcStats is ep's stats once they name a selected pair: messages have
// crossed, so both ends have one; Chrome's getStats may lag its
// nomination by a stats tick (1 s), hence the short wait.
func natcStats(ctx context.Context, ep peer.Endpoint) peer.Stats {
	GinkgoHelper()
	var st peer.Stats
	Eventually(ctx, func(g Gomega) {
		var err error
		st, err = ep.Stats(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(st.LocalAddress).NotTo(BeEmpty())
		g.Expect(st.RemoteAddress).NotTo(BeEmpty())
	}).WithTimeout(2*time.Second).WithPolling(50*time.Millisecond).Should(Succeed(), "%s: a selected candidate pair in getStats", ep.ID())
	return st
}

// natcExpectRelay: addr is a relay of the lab's TURN server, on the WAN.
func natcExpectRelay(addr, what string) {
	GinkgoHelper()
	host, _, err := net.SplitHostPort(addr)
	Expect(err).NotTo(HaveOccurred(), "%s %q", what, addr)
	_, wan, err := net.ParseCIDR(lab.WANCIDR)
	Expect(err).NotTo(HaveOccurred())
	Expect(wan.Contains(net.ParseIP(host))).To(BeTrue(), "%s %s is not on the WAN %s", what, addr, lab.WANCIDR)
	Expect(host).To(Equal(lab.TURNIP), "%s %s is not a relay of the lab's TURN server", what, addr)
}

// natcExpectSeen: Chrome's remote (its type and address) is the Go
// peer's selected local address (local) as the WAN sees it: a relay's or
// a public host's as it is; a host's behind a NAT, its NAT's mapping, on
// the WAN and not a relay. Chrome redacts the address of a remote
// peer-reflexive candidate in getStats (W3C webrtc-stats: not revealed
// unless signaled), and the Go peer's host socket behind a NAT is one: it
// is not the socket its srflx candidate was gathered on. Then only the
// type is known.
func natcExpectSeen(typ, seen, local string) {
	GinkgoHelper()
	_, wan, err := net.ParseCIDR(lab.WANCIDR)
	Expect(err).NotTo(HaveOccurred())
	onWAN := func(addr string) bool {
		host, _, err := net.SplitHostPort(addr)
		return err == nil && wan.Contains(net.ParseIP(host))
	}
	if onWAN(local) {
		Expect(seen).To(Equal(local), "Chrome's remote is alice's local address, which is on the WAN")
		return
	}
	if strings.HasPrefix(seen, ":") {
		Expect(typ).To(Equal("prflx"), "Chrome's remote %s has no IP: only a peer-reflexive one's is redacted", seen)
		return
	}
	Expect(onWAN(seen)).To(BeTrue(), "Chrome's remote %s is alice's NAT mapping of %s: want it on the WAN %s", seen, local, lab.WANCIDR)
	Expect(seen).NotTo(HavePrefix(lab.TURNIP+":"), "Chrome's remote %s is a relay, alice's local %s is not", seen, local)
}
