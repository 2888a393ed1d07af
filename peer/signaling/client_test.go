package signaling

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// waitState pops client events until one reports st.
func waitState(t *testing.T, ctx context.Context, events interface {
	Pop(context.Context) (ClientEvent, error)
}, st State) ClientEvent {
	t.Helper()
	for {
		ev, err := events.Pop(ctx)
		if err != nil {
			t.Fatalf("waiting for state %v: %v", st, err)
		}
		if ev.Type == EventState && ev.State == st {
			return ev
		}
	}
}

// While signaling is down, sends are queued (in order, bounded), the
// client redials with growing backoff, and on reconnect the queue is
// flushed before anything sent later.
func TestClientQueuesAndReconnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, _ := NewLoopback()
		defer l.Close()
		backoff := Backoff{Min: 100 * time.Millisecond, Max: time.Second, Factor: 2, Jitter: 0.5}
		a := newLoopClient(t, l, "a", func(c *ClientConfig) { c.QueueLimit = 5; c.Backoff = backoff })
		b := newLoopClient(t, l, "b")
		sub := b.Subscribe(Filter{From: "a"})
		events := a.Events()
		ctx := context.Background()

		l.Isolate("a", true)
		down := waitState(t, ctx, events, StateDisconnected)
		if !errors.Is(down.Err, ErrNotConnected) {
			t.Fatalf("disconnect cause %v, want ErrNotConnected", down.Err)
		}
		for i := range 5 {
			if err := a.Send(ctx, "b", "seq", fmt.Sprint(i)); err != nil {
				t.Fatalf("queued send %d: %v", i, err)
			}
		}
		if err := a.Send(ctx, "b", "seq", "overflow"); !errors.Is(err, ErrQueueFull) {
			t.Fatalf("sixth send while down: %v, want ErrQueueFull", err)
		}
		if a.Queued() != 5 {
			t.Fatalf("queued %d, want 5", a.Queued())
		}
		// Retries back off: each wait within [(1-jitter) d, d] of the
		// doubling schedule, capped at Max.
		for attempt := 1; attempt <= 5; attempt++ {
			ev := waitState(t, ctx, events, StateDisconnected)
			want := min(backoff.Min<<attempt, backoff.Max)
			if ev.RetryIn > want || ev.RetryIn < want/2 {
				t.Fatalf("attempt %d waits %v, want within [%v, %v]", ev.Attempt, ev.RetryIn, want/2, want)
			}
		}
		l.Isolate("a", false)
		waitState(t, ctx, events, StateConnected)
		if err := a.Send(ctx, "b", "seq", "after"); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"0", "1", "2", "3", "4", "after"} {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			got := recvString(t, rctx, sub)
			cancel()
			if got != want {
				t.Fatalf("got %s, want %s", got, want)
			}
		}
	})
}

// The same seed gives the same backoff schedule; another seed another one.
func TestClientBackoffIsSeeded(t *testing.T) {
	schedule := func(seed uint64) []time.Duration {
		var out []time.Duration
		synctest.Test(t, func(t *testing.T) {
			l, _ := NewLoopback()
			defer l.Close()
			l.SetReachable(false)
			c, err := NewClient(ClientConfig{ID: "a", Transport: l, Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			time.Sleep(time.Minute) // virtual time in synctest: a dozen retries
			// The history, not a subscription: one made after NewClient
			// could miss the first retry.
			for _, ev := range c.EventHistory() {
				if ev.Type == EventState && ev.State == StateDisconnected && len(out) < 6 {
					out = append(out, ev.RetryIn)
				}
			}
			if len(out) < 6 {
				t.Fatalf("%d retries in a minute, want 6 or more", len(out))
			}
		})
		return out
	}
	a, b, c := schedule(1), schedule(1), schedule(2)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("seed 1 twice: %v vs %v", a, b)
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatalf("seeds 1 and 2 gave the same schedule %v", a)
	}
}

// A session taken over by a second registration of the same id ends the
// first; the first client redials and takes it back, as over the server.
func TestClientCloseIsIdempotentAndFinal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, _ := NewLoopback()
		defer l.Close()
		a := newLoopClient(t, l, "a")
		sub := a.Subscribe(Filter{})
		events := a.Events()
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.Recv(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Recv after Close: %v, want ErrClosed", err)
		}
		if err := a.Send(context.Background(), "a", "x", nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after Close: %v, want ErrClosed", err)
		}
		waitState(t, context.Background(), events, StateClosed)
		if got := l.Registered(); len(got) != 0 {
			t.Fatalf("still registered after Close: %v", got)
		}
		if err := a.WaitConnected(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("WaitConnected after Close: %v", err)
		}
	})
}

func TestClientConfigErrors(t *testing.T) {
	if _, err := NewClient(ClientConfig{ID: "", Transport: nil}); !errors.Is(err, ErrBadID) {
		t.Fatalf("empty id: %v", err)
	}
	if _, err := NewClient(ClientConfig{ID: "a"}); err == nil {
		t.Fatal("no transport accepted")
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{`{"from":"a","to":"b","type":"x"}`, nil},
		{`{"from":"a","to":"b","type":"x","data":{"k":1}}`, nil},
		{``, ErrMalformed},
		{`{`, ErrMalformed},
		{`[]`, ErrMalformed},
		{`{"from":1,"to":"b","type":"x"}`, ErrMalformed},
		{`{"from":"a","to":"b","type":"x","extra":1}`, ErrMalformed},
		{`{"from":"a","to":"b","type":"x"} {}`, ErrMalformed},
		{`{"to":"b","type":"x"}`, ErrMissingField},
		{`{"from":"a","type":"x"}`, ErrMissingField},
		{`{"from":"a","to":"b"}`, ErrMissingField},
		{`{"from":"a/b","to":"b","type":"x"}`, ErrMalformed},
	} {
		_, err := Decode([]byte(tc.in), 0)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("Decode(%q) = %v, want %v", tc.in, err, tc.want)
		}
	}
	big := fmt.Sprintf(`{"from":"a","to":"b","type":"x","data":"%0*d"}`, 70000, 0)
	if _, err := Decode([]byte(big), 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("70 kB message: %v, want ErrTooLarge", err)
	}
}
