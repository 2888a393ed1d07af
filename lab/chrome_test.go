package lab

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// TestSignalingClientByKind: on a Go endpoint SignalingClient is the lab's
// Go client of the id (the one Client returns); a Chrome endpoint needs a
// browser; an unknown endpoint is refused. (Chrome endpoints with a
// browser run in the scenarios' seed suite, dispatch specs 1-7.)
func TestSignalingClientByKind(t *testing.T) {
	l, err := New(Topology{Endpoints: []EndpointConfig{{Name: "g"}, {Name: "c", Kind: peer.KindChrome}}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sc, err := l.SignalingClient(ctx, "g", "alice")
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.Client(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if sc != SignalingClient(c) || sc.ID() != "alice" || sc.State() != signaling.StateConnected {
		t.Errorf("Go endpoint: got %v (%s, %v), want the lab's connected client of alice", sc, sc.ID(), sc.State())
	}
	if _, err := l.SignalingClient(ctx, "c", "bob"); !errors.Is(err, ErrBadTopology) {
		t.Errorf("Chrome endpoint without a browser: %v, want ErrBadTopology", err)
	}
	if _, err := l.SignalingClient(ctx, "nowhere", "carol"); !errors.Is(err, ErrNoEndpoint) {
		t.Errorf("unknown endpoint: %v, want ErrNoEndpoint", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if sc.State() != signaling.StateClosed {
		t.Errorf("after the lab's Close: %v, want closed", sc.State())
	}
}
