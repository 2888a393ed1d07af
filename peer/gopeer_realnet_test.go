package peer

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/netlab/netlab/peer/signaling"
)

// TestRealLoopback runs in real time on real UDP sockets (Config.Net nil):
// the pair connects over 127.0.0.1 only, opens a channel and echoes; every
// candidate either side sent is a 127.0.0.1 host candidate.
func TestRealLoopback(t *testing.T) {
	// A tap on the wire: every candidate a and b send.
	taps := loopClients(t, "a", "b")
	tapA, tapB := taps[0], taps[1]
	candsToA := tapA.Subscribe(signaling.Filter{Types: []string{signaling.TypeICECandidate}})
	candsToB := tapB.Subscribe(signaling.Filter{Types: []string{signaling.TypeICECandidate}})
	defer candsToA.Close()
	defer candsToB.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, c := range []*signaling.Client{tapA, tapB} {
		if err := c.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a, err := New(Config{ID: "a", RemoteID: "b", Signaling: tapA})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(Config{ID: "b", RemoteID: "a", Signaling: tapB})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	start := time.Now()
	ca, err := a.CreateDataChannel(ctx, "real", ChannelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("open after %v of real time", time.Since(start))
	cb, err := b.AcceptDataChannel(ctx, "real")
	if err != nil {
		t.Fatal(err)
	}
	if err := expectMessage(ctx, ca, cb, "over real loopback"); err != nil {
		t.Fatal(err)
	}
	if err := expectMessage(ctx, cb, ca, "and back"); err != nil {
		t.Fatal(err)
	}
	s, err := a.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The remote is peer-reflexive when its first check beat its
	// candidate through signaling: the same 127.0.0.1 socket either way.
	if s.LocalCandidate != "host" || (s.RemoteCandidate != "host" && s.RemoteCandidate != "prflx") {
		t.Errorf("selected pair %s/%s, want host/host or host/prflx", s.LocalCandidate, s.RemoteCandidate)
	}
	pair, err := a.currentPC().SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("selected pair: %v, %v", pair, err)
	}
	for _, c := range []string{pair.Local.Address, pair.Remote.Address} {
		if ip := net.ParseIP(c); ip == nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("selected pair address %q, want 127.0.0.1", c)
		}
	}
	for name, sub := range map[string]*signaling.Subscription{"to a": candsToA, "to b": candsToB} {
		n := 0
		drained, stop := context.WithCancel(ctx)
		stop() // Recv returns what is queued, then the context's error
		for {
			m, err := sub.Recv(drained)
			if err != nil {
				break
			}
			c, err := decodeCandidate(m)
			if err != nil {
				t.Fatal(err)
			}
			n++
			if !containsField(c.Candidate, "127.0.0.1") || !containsField(c.Candidate, "host") {
				t.Errorf("candidate %s: %q is not a 127.0.0.1 host candidate", name, c.Candidate)
			}
		}
		if n == 0 {
			t.Errorf("no candidates seen %s", name)
		}
	}
}

func containsField(s, f string) bool {
	for _, x := range strings.Fields(s) {
		if x == f {
			return true
		}
	}
	return false
}
