package lab

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
)

// A peer on real loopback sockets, relay-only through a Chrome endpoint's
// TURN listener, stands in for the Chrome tab: the bridge is tested
// without a browser. bob is a Go peer behind a symmetric NAT on vnet.
func bridgeLab(t *testing.T, prof *netem.Profile) (*Lab, *peer.GoPeer, *peer.GoPeer) {
	t.Helper()
	l, err := New(Topology{
		Seed: 3,
		Endpoints: []EndpointConfig{
			{Name: "tab", Kind: peer.KindChrome, Profile: prof},
			{Name: "bob", NAT: NATSymmetric},
		},
		Peer: peer.Config{CandidateWaits: peer.CandidateWaits{Relay: 50 * time.Millisecond, Prflx: 50 * time.Millisecond}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if !l.Topology().RealTimeOnly() {
		t.Error("a topology with a Chrome endpoint must be real-time only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := l.Client(ctx, "tab")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Client(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	tab, err := peer.New(peer.Config{
		ID: "tab", RemoteID: "bob", Signaling: c,
		ICEServers: l.chromeICEServers(l.eps["tab"]), RelayOnly: true,
		CandidateWaits: peer.CandidateWaits{Relay: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tab.Close() })
	bob, err := l.Peer(ctx, PeerSpec{Endpoint: "bob", Remote: "tab"})
	if err != nil {
		t.Fatal(err)
	}
	return l, tab, bob
}

func TestBridgeCarriesARelayOnlyPeer(t *testing.T) {
	prof, err := netem.ParseProfile("d.yaml", []byte("name: d50\ndelay: 50ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	l, tab, bob := bridgeLab(t, prof)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := connect(ctx, t, tab, bob); err != nil {
		t.Fatalf("through the bridge: %v", err)
	}
	st, err := tab.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.LocalCandidate != "relay" || !strings.HasPrefix(st.LocalAddress, TURNIP+":") {
		t.Errorf("tab's pair %s %s -> %s, want its relay on the WAN", st.LocalCandidate, st.LocalAddress, st.RemoteAddress)
	}
	// 50 ms each way on the tab's leg, nothing on bob's: a round trip of
	// at least 100 ms (the shaper never delivers early).
	if st.RTT < 100*time.Millisecond {
		t.Errorf("RTT %v through a 50 ms leg, want >= 100ms", st.RTT)
	}
	if p, err := l.Profile("tab"); err != nil || p.Name != "d50" {
		t.Errorf("Profile(tab) = %v, %v; want the endpoint's own, not the reversed one", p, err)
	}
	// A Chrome endpoint makes no Go peer.
	if _, err := l.Peer(ctx, PeerSpec{Endpoint: "tab", ID: "x", Remote: "bob"}); err == nil {
		t.Error("Peer on a Chrome endpoint succeeded")
	}
}

func TestBridgeCut(t *testing.T) {
	l, tab, bob := bridgeLab(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := tab.CreateDataChannel(ctx, "x", peer.ChannelOptions{Unordered: true, MaxRetransmits: new(uint16)})
	if err != nil {
		t.Fatal(err)
	}
	in, err := bob.AcceptDataChannel(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Cut("tab"); err != nil {
		t.Fatal(err)
	}
	if err := out.Send(ctx, []byte("lost")); err != nil {
		t.Fatal(err)
	}
	short, stop := context.WithTimeout(ctx, 500*time.Millisecond)
	defer stop()
	if got, err := in.Recv(short); err == nil {
		t.Fatalf("received %q through a cut leg", got)
	}
	if err := l.Restore("tab"); err != nil {
		t.Fatal(err)
	}
	if err := out.Send(ctx, []byte("back")); err != nil {
		t.Fatal(err)
	}
	if got, err := in.Recv(ctx); err != nil || string(got) != "back" {
		t.Fatalf("after the restore: %q, %v", got, err)
	}
}

func TestChromeEndpointTopology(t *testing.T) {
	for _, tc := range []struct {
		name string
		topo Topology
		want string
	}{
		{"nat", Topology{Endpoints: []EndpointConfig{{Name: "c", Kind: peer.KindChrome, NAT: NATSymmetric}}}, "no NAT of its own"},
		{"no turn", Topology{Endpoints: []EndpointConfig{{Name: "c", Kind: peer.KindChrome}}, TURN: Server{Mode: ServerOff}}, "needs a TURN server"},
		{"external shaped", Topology{Endpoints: []EndpointConfig{{Name: "c", Kind: peer.KindChrome, Profile: &netem.Profile{Name: "x"}}},
			TURN: Server{Mode: ServerExternal, URLs: []string{"turn:127.0.0.1:3478"}}}, "external one it has none"},
		{"kind", Topology{Endpoints: []EndpointConfig{{Name: "c", Kind: "firefox"}}}, `got "firefox"`},
	} {
		_, err := New(tc.topo)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
