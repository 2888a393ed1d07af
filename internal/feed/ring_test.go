package feed

import "testing"

func mustTryPop(t *testing.T, q *Queue[int]) int {
	t.Helper()
	v, ok := q.TryPop()
	if !ok {
		t.Fatal("TryPop: empty queue, want an item")
	}
	return v
}

// TestQueueFIFOAcrossGrowth pushes and pops in staggered batches so the
// ring wraps before each growth: the order must survive every copy.
func TestQueueFIFOAcrossGrowth(t *testing.T) {
	for _, q := range []*Queue[int]{NewBoundedQueue[int](256), NewQueue[int]()} { // at most 212 are queued
		next, want := 0, 0
		for round := range 12 {
			for range round*7 + 3 {
				if !q.Push(next) {
					t.Fatalf("push %d refused with %d queued (limit %d)", next, q.Len(), q.limit)
				}
				next++
			}
			for range round*5 + 1 {
				if got := mustTryPop(t, q); got != want {
					t.Fatalf("round %d: popped %d, want %d", round, got, want)
				}
				want++
			}
		}
		for want < next {
			if got := mustTryPop(t, q); got != want {
				t.Fatalf("drain: popped %d, want %d", got, want)
			}
			want++
		}
		if _, ok := q.TryPop(); ok {
			t.Fatal("TryPop after draining returned an item")
		}
		if q.limit > 0 && len(q.ring) > q.limit {
			t.Fatalf("ring grew to %d, past the bound %d", len(q.ring), q.limit)
		}
	}
}

func TestBoundedQueueBound(t *testing.T) {
	for _, limit := range []int{1, 5, 16, 17, 40} {
		q := NewBoundedQueue[int](limit)
		for i := range limit {
			if !q.Push(i) {
				t.Fatalf("limit %d: push %d refused", limit, i)
			}
		}
		if q.Push(limit) {
			t.Fatalf("limit %d: push past the bound accepted", limit)
		}
		if len(q.ring) != limit {
			t.Fatalf("limit %d: ring of %d when full", limit, len(q.ring))
		}
		if got := mustTryPop(t, q); got != 0 {
			t.Fatalf("limit %d: popped %d first, want 0", limit, got)
		}
		if !q.Push(limit) {
			t.Fatalf("limit %d: push after a pop refused", limit)
		}
	}
}

// TestQueueGrowsWithUse: a queue that never holds more than a few items
// keeps the smallest ring, which is the point of the ring.
func TestQueueGrowsWithUse(t *testing.T) {
	q := NewBoundedQueue[int](2048)
	if q.ring != nil {
		t.Fatalf("a new queue reserved %d slots", len(q.ring))
	}
	for i := range 1000 {
		q.Push(i)
		q.Push(i)
		q.TryPop()
		q.TryPop()
	}
	if len(q.ring) != minRing {
		t.Fatalf("ring of %d after a trickle, want %d", len(q.ring), minRing)
	}
}

// TestQueueTokenOutlivesPop: the invariant readers on Ready rely on. While
// items are queued a token waits in ready, however many pushes coalesced
// into one. Pushes coalesce when no reader is parked on Ready: two readers
// between their empty TryPop and their select, a burst of two items, and
// without the token a pop passes on, the second reader would park beside a
// queued item. That window is too narrow to hit from the readers, so the
// invariant is checked here.
func TestQueueTokenOutlivesPop(t *testing.T) {
	q := NewBoundedQueue[int](8)
	for i := range 3 {
		q.Push(i)
	}
	for i := range 3 {
		if len(q.ready) != 1 {
			t.Fatalf("%d items queued and no token", 3-i)
		}
		<-q.Ready() // a reader wakes
		if got := mustTryPop(t, q); got != i {
			t.Fatalf("popped %d, want %d", got, i)
		}
	}
	if len(q.ready) != 0 {
		t.Fatal("a token left behind on an empty queue")
	}
}
