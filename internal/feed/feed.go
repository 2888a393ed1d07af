// Package feed is an in-order queue with a context-aware Pop, and a
// fan-out of it. Signaling subscriptions and peer events use it unbounded,
// so that a slow reader never blocks the goroutine that publishes (a
// network read loop, a pion callback) and nothing published is dropped;
// netem's PacketConn uses it bounded, as a socket's receive buffer.
package feed

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by Pop once the queue is closed and drained.
var ErrClosed = errors.New("feed: closed")

// Queue is a FIFO. The zero value is not usable: use NewQueue or
// NewBoundedQueue.
//
// Its ring grows with use instead of reserving room up front (a lab makes
// thousands of queues that carry a trickle each), and a steady stream
// reuses it without allocating.
type Queue[T any] struct {
	mu     sync.Mutex
	ring   []T  // guarded by mu; len(ring) is the room in use
	head   int  // guarded by mu; index of the oldest item
	n      int  // guarded by mu; items queued
	limit  int  // read-only; 0: unbounded
	closed bool // guarded by mu

	// ready holds a token whenever the queue may be non-empty or is
	// closed: Push leaves one, and a pop that leaves items behind leaves
	// one for the next reader. Pushes coalesce when no reader is parked
	// on it (a parked one takes each token as it is sent), so without
	// that hand-on a reader that parked late would sleep beside an item.
	// A stale token costs a reader one empty look.
	ready chan struct{}
}

// minRing is a queue's first room: a burst of ICE checks fits.
const minRing = 16

// NewQueue returns an empty, unbounded queue.
func NewQueue[T any]() *Queue[T] {
	return &Queue[T]{ready: make(chan struct{}, 1)}
}

// NewBoundedQueue returns an empty queue that holds at most limit items
// (limit >= 1): Push refuses more.
func NewBoundedQueue[T any](limit int) *Queue[T] {
	q := NewQueue[T]()
	q.limit = max(limit, 1)
	return q
}

// Push appends v. It reports false, and drops v, once the queue is closed
// or when a bounded queue is full.
func (q *Queue[T]) Push(v T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || (q.limit > 0 && q.n == q.limit) {
		return false
	}
	if q.n == len(q.ring) {
		q.grow()
	}
	q.ring[(q.head+q.n)%len(q.ring)] = v
	q.n++
	q.wakeLocked()
	return true
}

// grow doubles the ring (at least minRing, at most a bound); q.mu held.
func (q *Queue[T]) grow() {
	size := max(minRing, 2*len(q.ring))
	if q.limit > 0 {
		size = min(size, q.limit)
	}
	ring := make([]T, size)
	for i := range q.n {
		ring[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring, q.head = ring, 0
}

func (q *Queue[T]) wakeLocked() {
	select {
	case q.ready <- struct{}{}:
	default: // a token is already there
	}
}

// popLocked removes the oldest item, passing the token on if items remain
// (or the queue is closed); q.mu held.
func (q *Queue[T]) popLocked() (T, bool) {
	var zero T
	if q.n == 0 {
		return zero, false
	}
	v := q.ring[q.head]
	q.ring[q.head] = zero // the ring keeps no reference to a delivered item
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	if q.n > 0 || q.closed {
		q.wakeLocked()
	}
	return v, true
}

// Pop removes and returns the oldest item, waiting for one until ctx ends.
// Items pushed before Close are still returned; after that Pop returns
// ErrClosed.
func (q *Queue[T]) Pop(ctx context.Context) (T, error) {
	for {
		q.mu.Lock()
		v, ok := q.popLocked()
		closed := q.closed
		q.mu.Unlock()
		if ok {
			return v, nil
		}
		if closed {
			var zero T
			return zero, ErrClosed
		}
		select {
		case <-q.ready:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
}

// TryPop returns the oldest item without waiting.
func (q *Queue[T]) TryPop() (T, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.popLocked()
}

// Ready is for a reader that waits on more than a context (a deadline, a
// close): it yields whenever an item may be waiting, and the reader then
// calls TryPop, which may find nothing.
func (q *Queue[T]) Ready() <-chan struct{} { return q.ready }

// Len is the number of items waiting.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// Close stops new pushes; waiting Pops drain what is left, then get
// ErrClosed. Close is idempotent.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.wakeLocked()
}

// Hub fans published values out to every subscriber's own Queue and keeps
// the full history, so a subscriber that arrives late (a report writer)
// can still read everything.
type Hub[T any] struct {
	mu      sync.Mutex
	subs    []*Queue[T] // guarded by mu
	history []T         // guarded by mu
	closed  bool        // guarded by mu
}

// Publish records v and hands it to every subscriber.
func (h *Hub[T]) Publish(v T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.history = append(h.history, v)
	for _, q := range h.subs {
		q.Push(v)
	}
}

// Subscribe returns a queue of every value published from now on.
func (h *Hub[T]) Subscribe() *Queue[T] {
	q := NewQueue[T]()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		q.Close()
		return q
	}
	h.subs = append(h.subs, q)
	return q
}

// History returns a copy of everything published so far.
func (h *Hub[T]) History() []T {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]T(nil), h.history...)
}

// Close closes every subscriber queue; later publishes are dropped.
// Idempotent.
func (h *Hub[T]) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for _, q := range h.subs {
		q.Close()
	}
}
