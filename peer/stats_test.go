package peer

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer/peertest"
	"github.com/netlab/netlab/peer/signaling"
)

// TestEndpointStats: on a link that netem delays 25 ms each way (on a's side),
// both sides measure an RTT of exactly 50 ms of virtual time, see host
// candidates, count the bytes and packets, and keep the state history.
func TestEndpointStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prof, err := netem.ParseProfile("delay.yaml", []byte("delay: 25ms"))
		if err != nil {
			t.Fatal(err)
		}
		w, err := peertest.New()
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		ha, err := w.AddHost("a", peertest.WithProfile(prof, 1))
		if err != nil {
			t.Fatal(err)
		}
		hb, err := w.AddHost("b")
		if err != nil {
			t.Fatal(err)
		}
		loop, err := signaling.NewLoopback()
		if err != nil {
			t.Fatal(err)
		}
		defer loop.Close()
		peers := map[string]*GoPeer{}
		for _, side := range []struct {
			id, remote string
			h          *peertest.Host
		}{{"a", "b", ha}, {"b", "a", hb}} {
			c, err := signaling.NewClient(signaling.ClientConfig{ID: side.id, Transport: loop})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			p, err := New(Config{ID: side.id, RemoteID: side.remote, Signaling: c, Net: side.h.Net})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			peers[side.id] = p
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, c := range []*signaling.Client{peers["a"].client, peers["b"].client} {
			if err := c.WaitConnected(ctx); err != nil {
				t.Fatal(err)
			}
		}
		ca, err := peers["a"].CreateDataChannel(ctx, "s", ChannelOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cb, err := peers["b"].AcceptDataChannel(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := expectMessage(ctx, ca, cb, "ping"); err != nil {
			t.Fatal(err)
		}
		if oneWay := time.Since(start); oneWay != 25*time.Millisecond {
			t.Errorf("one message took %v, want 25ms (the shaped delay)", oneWay)
		}
		time.Sleep(3 * time.Second) // virtual time: keepalives measure the RTT
		for id, p := range peers {
			s, err := p.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: rtt %v, %s/%s, bytes %d/%d, packets %d/%d, states %s/%s/%s, %d changes",
				id, s.RTT, s.LocalCandidate, s.RemoteCandidate, s.BytesSent, s.BytesReceived, s.PacketsSent, s.PacketsReceived,
				s.ConnectionState, s.ICEState, s.SignalingState, len(s.History))
			if s.RTT != 50*time.Millisecond {
				t.Errorf("%s: RTT %v, want 50ms", id, s.RTT)
			}
			if s.LocalCandidate != "host" || s.RemoteCandidate != "host" {
				t.Errorf("%s: candidates %s/%s, want host/host", id, s.LocalCandidate, s.RemoteCandidate)
			}
			if s.BytesSent == 0 || s.BytesReceived == 0 || s.PacketsSent == 0 || s.PacketsReceived == 0 {
				t.Errorf("%s: zero counters: %+v", id, s)
			}
			if s.ConnectionState != "connected" || s.ICEState != "connected" || s.SignalingState != "stable" {
				t.Errorf("%s: states %s/%s/%s, want connected/connected/stable", id, s.ConnectionState, s.ICEState, s.SignalingState)
			}
			seen := map[string]bool{}
			for _, c := range s.History {
				seen[c.Machine+":"+c.State] = true
			}
			for _, want := range []string{"connection:new", "connection:connected", "ice:checking", "ice:connected", "signaling:stable", "signaling-client:connected"} {
				if !seen[want] {
					t.Errorf("%s: history lacks %s: %v", id, want, s.History)
				}
			}
		}
	})
}
