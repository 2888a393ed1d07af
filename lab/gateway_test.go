package lab

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/turn/v4"

	"github.com/netlab/netlab/peer"
)

// externalTURN runs a pion/turn server on real loopback sockets, standing
// in for a coturn: it relays on 127.0.0.1, but advertises advertise as
// its relayed address when that is set (a misconfigured server). It
// counts allocations and notes a permission for a peer off loopback.
func externalTURN(t *testing.T, advertise net.IP) (url string, allocs *atomic.Int64, offLoopback *atomic.Bool) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	relay := net.IPv4(127, 0, 0, 1)
	if advertise != nil {
		relay = advertise
	}
	allocs, offLoopback = &atomic.Int64{}, &atomic.Bool{}
	key := turn.GenerateAuthKey("ext", "ext.test", "secret")
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm: "ext.test",
		AuthHandler: func(user, _ string, _ net.Addr) ([]byte, bool) {
			return key, user == "ext"
		},
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(_, _ net.Addr, _, _, _ string, _ net.Addr, _ int) { allocs.Add(1) },
			OnPermissionCreated: func(_, _ net.Addr, _, _, _ string, _ net.Addr, peer net.IP) {
				if !peer.IsLoopback() {
					offLoopback.Store(true)
				}
			},
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            pc,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: relay, Address: "127.0.0.1"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return "turn:127.0.0.1:" + strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port) + "?transport=udp", allocs, offLoopback
}

// externalTopo puts alice and bob behind NATs no direct pair crosses, so
// only the external relay can connect them. Real time: the acceptance
// waits are cut short.
func externalTopo(url string) Topology {
	return Topology{
		Seed:      7,
		Endpoints: []EndpointConfig{{Name: "alice", NAT: NATPortRestricted}, {Name: "bob", NAT: NATSymmetric}},
		STUN:      Server{Mode: ServerOff},
		TURN:      Server{Mode: ServerExternal, URLs: []string{url}, Username: "ext", Credential: "secret"},
		Peer: peer.Config{
			ICE:            quickICE.ICE,
			CandidateWaits: peer.CandidateWaits{Relay: 50 * time.Millisecond},
		},
	}
}

func TestExternalTURNThroughTheGateway(t *testing.T) {
	url, allocs, offLoopback := externalTURN(t, nil)
	l, err := New(externalTopo(url))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.Topology().RealTimeOnly() {
		t.Error("a topology with an external server must say it is real-time only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b, err := l.Pair(ctx, "alice", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := connect(ctx, t, a, b); err != nil {
		t.Fatalf("through the external TURN server: %v", err)
	}
	st, err := a.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.LocalCandidate != "relay" || !strings.HasPrefix(st.LocalAddress, "127.0.0.1:") ||
		!strings.HasPrefix(st.RemoteAddress, "127.0.0.1:") {
		t.Errorf("selected pair %s %s -> %s %s, want relay to relay on 127.0.0.1",
			st.LocalCandidate, st.LocalAddress, st.RemoteCandidate, st.RemoteAddress)
	}
	if n := allocs.Load(); n < 2 {
		t.Errorf("the external server made %d allocations, want one per peer at least", n)
	}
	if offLoopback.Load() {
		t.Error("the external server was asked for a permission to a peer off loopback")
	}
	for _, e := range l.Timeline() {
		if strings.HasPrefix(e.Source, "gateway:") {
			t.Errorf("timeline: %v", e)
		}
	}
}

// A server that relays off loopback is refused: the gateway drops its
// Allocate answer, answers the client with a 403 instead, says so on the
// timeline, and the pair cannot connect.
func TestGatewayRefusesARelayOffLoopback(t *testing.T) {
	url, _, _ := externalTURN(t, net.IPv4(192, 0, 2, 1)) // RFC 5737: never routed
	l, err := New(externalTopo(url))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // the drop comes within milliseconds
	defer cancel()
	a, b, err := l.Pair(ctx, "alice", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := connect(ctx, t, a, b); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("connect: %v, want the deadline (no relay candidate)", err)
	}
	found := false
	for _, e := range l.Timeline() {
		if e.Source == "gateway:turn" && e.Kind == "refused" && strings.Contains(e.Detail, "192.0.2.1 is not on loopback") {
			found = true
		}
	}
	if !found {
		t.Errorf("no gateway refusal on the timeline:\n%v", l.Timeline())
	}
}

func TestGatewayURL(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		port     int
		err      error
	}{
		{"turn:127.0.0.1:3478?transport=udp", "turn:198.51.100.4:3478?transport=udp", 3478, nil},
		{"stun:127.0.0.1:19302", "stun:198.51.100.4:19302", 19302, nil},
		{"turn:localhost", "turn:198.51.100.4:3478", 3478, nil},
		{"turn:127.0.0.1:3478?transport=tcp", "", 0, ErrUnsupported},
		{"turns:127.0.0.1:5349", "", 0, ErrUnsupported},
		{"turn:127.0.0.1:99999", "", 0, ErrBadTopology},
	} {
		port, got, err := gatewayURL(tc.in, gatewayTURNIP)
		if !errors.Is(err, tc.err) || got != tc.want || port != tc.port {
			t.Errorf("gatewayURL(%q) = %d, %q, %v; want %d, %q, %v", tc.in, port, got, err, tc.port, tc.want, tc.err)
		}
	}
}
