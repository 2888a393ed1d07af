package peer

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netlab/netlab/peer/peertest"
	"github.com/netlab/netlab/peer/signaling"
)

// A peer whose remote never shows up sends it nothing and watches
// nothing: over WebSocket a message to an unregistered id would close the
// peer's own socket, again and again. Once the remote speaks, the
// signaling path beats.
func TestSignalingHeartbeatWaitsForTheRemote(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		world, err := peertest.New()
		if err != nil {
			t.Fatal(err)
		}
		defer world.Close()
		h, err := world.AddHost("a")
		if err != nil {
			t.Fatal(err)
		}
		loop, _ := signaling.NewLoopback()
		defer loop.Close()
		ca, _ := signaling.NewClient(signaling.ClientConfig{ID: "a", Transport: loop})
		defer ca.Close()
		p, err := New(Config{ID: "a", RemoteID: "b", Signaling: ca, Net: h.Net})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		time.Sleep(30 * time.Second) // virtual time in synctest: thirty intervals
		for _, ev := range p.EventHistory() {
			if ev.Type == EventHeartbeatTimeout || ev.Type == EventError {
				t.Fatalf("remote never there, yet %+v", ev)
			}
		}
		if delivered, _ := loop.Counts(); delivered != 0 {
			t.Fatalf("%d messages delivered with nobody to receive them", delivered)
		}

		// b appears and speaks: from then on a hears beats and sends them.
		cb, _ := signaling.NewClient(signaling.ClientConfig{ID: "b", Transport: loop})
		defer cb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := cb.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
		beats := cb.Subscribe(signaling.Filter{From: "a", Types: []string{TypeHeartbeat}})
		if err := cb.Send(ctx, "a", TypeHeartbeat, map[string]int{"seq": 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := beats.Recv(ctx); err != nil {
			t.Fatalf("no beat from a after b spoke: %v", err)
		}
	})
}
