package signaling

import (
	"context"
	"fmt"
	"testing"
)

// exchange has a and b send n messages each to the other at the same
// time and checks that each side receives the other's n in order. It
// returns the first problem.
func exchange(ctx context.Context, a, b *Client, typ string, n int) error {
	subA := a.Subscribe(Filter{From: b.ID(), Types: []string{typ}})
	defer subA.Close()
	subB := b.Subscribe(Filter{From: a.ID(), Types: []string{typ}})
	defer subB.Close()
	errs := make(chan error, 4)
	send := func(from, to *Client) {
		for i := range n {
			if err := from.Send(ctx, to.ID(), typ, i); err != nil {
				errs <- fmt.Errorf("%s sends #%d: %w", from.ID(), i, err)
				return
			}
		}
		errs <- nil
	}
	recv := func(sub *Subscription, who string) {
		for i := range n {
			m, err := sub.Recv(ctx)
			if err != nil {
				errs <- fmt.Errorf("%s waits for #%d: %w", who, i, err)
				return
			}
			var got int
			if err := m.DecodeData(&got); err != nil || got != i {
				errs <- fmt.Errorf("%s: message #%d carries %s", who, i, m.Data)
				return
			}
		}
		errs <- nil
	}
	go send(a, b)
	go send(b, a)
	go recv(subA, a.ID())
	go recv(subB, b.ID())
	var first error
	for range 4 {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// 1,000 messages each way between two clients, in order, for every pair
// of transports (a WebSocket client and an SSE client talk through the
// same server).
func TestRelayInOrder(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	const n = 1000
	for _, pair := range [][2]string{{"ws", "ws"}, {"sse", "sse"}, {"ws", "sse"}, {"sse", "ws"}} {
		t.Run(pair[0]+"-"+pair[1], func(t *testing.T) {
			before := srv.Metrics().Relayed
			a := netClient(t, transportFor(t, pair[0], srv.URL()), "a-"+pair[0])
			b := netClient(t, transportFor(t, pair[1], srv.URL()), "b-"+pair[1])
			if err := exchange(waitCtx(t), a, b, "seq", n); err != nil {
				t.Fatal(err)
			}
			for _, c := range []*Client{a, b} {
				for _, ev := range c.EventHistory() {
					if ev.Type == EventServerError || ev.Type == EventState && ev.State == StateDisconnected {
						t.Errorf("%s: %+v", c.ID(), ev)
					}
				}
				if c.Unhandled() != 0 {
					t.Errorf("%s: %d messages nobody subscribed to", c.ID(), c.Unhandled())
				}
			}
			if got := relayedAtLeast(t, srv, before+2*n).Relayed - before; got != 2*n {
				t.Errorf("relayed %d, want %d", got, 2*n)
			}
		})
	}
}

// A client can send to itself (the seed's "sends to self").
func TestRelayToSelf(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	for _, kind := range []string{"ws", "sse"} {
		c := netClient(t, transportFor(t, kind, srv.URL()), "self-"+kind)
		sub := c.Subscribe(Filter{From: c.ID()})
		ctx := waitCtx(t)
		if err := c.Send(ctx, c.ID(), "note", "hi"); err != nil {
			t.Fatal(err)
		}
		m, err := sub.Recv(ctx)
		if err != nil || m.Type != "note" || string(m.Data) != `"hi"` {
			t.Errorf("%s: %+v, %v", kind, m, err)
		}
	}
}
