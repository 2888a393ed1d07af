package feed

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestQueueOrderCloseAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewQueue[int]()
		go func() {
			for i := range 1000 {
				q.Push(i)
				if i%100 == 0 {
					time.Sleep(time.Millisecond) // virtual time in synctest: let the reader catch up and wait
				}
			}
			q.Close()
		}()
		for want := range 1000 {
			got, err := q.Pop(context.Background())
			if err != nil || got != want {
				t.Fatalf("Pop = %d, %v; want %d", got, err, want)
			}
		}
		if _, err := q.Pop(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Pop after drain = %v, want ErrClosed", err)
		}
		if q.Push(1) {
			t.Fatal("Push after Close accepted")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := NewQueue[int]().Pop(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Pop on empty queue = %v, want the deadline", err)
		}
	})
}

func TestHubFanOutAndHistory(t *testing.T) {
	var h Hub[string]
	early := h.Subscribe()
	h.Publish("a")
	late := h.Subscribe()
	h.Publish("b")
	h.Close()
	h.Close()
	h.Publish("dropped")
	ctx := context.Background()
	for _, tc := range []struct {
		q    *Queue[string]
		want []string
	}{{early, []string{"a", "b"}}, {late, []string{"b"}}} {
		for _, w := range tc.want {
			if got, err := tc.q.Pop(ctx); err != nil || got != w {
				t.Fatalf("Pop = %q, %v; want %q", got, err, w)
			}
		}
		if _, err := tc.q.Pop(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	}
	if got := h.History(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("History = %v", got)
	}
	if _, err := h.Subscribe().Pop(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
}
