package signaling

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// newLoopClient connects id on l and waits until it is registered.
func newLoopClient(t *testing.T, l *Loopback, id string, opts ...func(*ClientConfig)) *Client {
	t.Helper()
	cfg := ClientConfig{ID: id, Transport: l}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func recvString(t *testing.T, ctx context.Context, s *Subscription) string {
	t.Helper()
	m, err := s.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := m.DecodeData(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The delayed loopback delays each message by [0, max) and never
// reorders: over 2,000 messages sent in bursts from two senders, each
// arrives after its send time, before send time + max + the backlog, in
// the order sent.
func TestDelayedLoopbackKeepsOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := NewLoopback(WithDelay(DefaultLoopbackDelay, 7))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		a := newLoopClient(t, l, "a")
		b := newLoopClient(t, l, "b")
		sub := b.Subscribe(Filter{From: "a"})
		ctx := context.Background()
		const n = 2000
		var minDelay, maxDelay time.Duration = time.Hour, 0
		sent := make([]time.Time, n)
		go func() {
			for i := range n {
				sent[i] = time.Now()
				if err := a.Send(ctx, "b", "seq", fmt.Sprint(i)); err != nil {
					panic(err)
				}
				if i%10 == 9 {
					time.Sleep(50 * time.Millisecond) // virtual time in synctest: bursts of 10
				}
			}
		}()
		for i := range n {
			got := recvString(t, ctx, sub)
			if got != fmt.Sprint(i) {
				t.Fatalf("message %d arrived as %s: reordered", i, got)
			}
			d := time.Since(sent[i])
			minDelay, maxDelay = min(minDelay, d), max(maxDelay, d)
		}
		if minDelay < 0 || maxDelay >= DefaultLoopbackDelay+50*time.Millisecond {
			t.Fatalf("delays in [%v, %v], want within [0, %v) plus backlog", minDelay, maxDelay, DefaultLoopbackDelay)
		}
		if maxDelay < DefaultLoopbackDelay/2 {
			t.Fatalf("max delay %v over %d messages: the delay is not random over [0, %v)", maxDelay, n, DefaultLoopbackDelay)
		}
		if delivered, lost := l.Counts(); delivered != n || lost != 0 {
			t.Fatalf("delivered %d, lost %d; want %d, 0", delivered, lost, n)
		}
	})
}

func TestLoopbackUnknownRecipient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, _ := NewLoopback()
		defer l.Close()
		a := newLoopClient(t, l, "a")
		err := a.Send(context.Background(), "nobody", "x", nil)
		if !errors.Is(err, ErrUnknownRecipient) {
			t.Fatalf("send to nobody: %v, want ErrUnknownRecipient", err)
		}
	})
}

func TestLoopbackBadOptions(t *testing.T) {
	if _, err := NewLoopback(WithDelay(0, 1)); err == nil {
		t.Fatal("zero delay accepted")
	}
	l, _ := NewLoopback()
	defer l.Close()
	if _, err := l.Dial(context.Background(), "a/b"); !errors.Is(err, ErrBadID) {
		t.Fatalf("id with a slash: %v, want ErrBadID", err)
	}
}
