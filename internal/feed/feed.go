// Package feed is an unbounded, in-order queue with a context-aware Pop and
// a fan-out of it. Signaling subscriptions and peer events use it so that a
// slow reader never blocks the goroutine that publishes (a network read
// loop, a pion callback), and nothing published is dropped.
package feed

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by Pop once the queue is closed and drained.
var ErrClosed = errors.New("feed: closed")

// Queue is an unbounded FIFO. The zero value is not usable: use NewQueue.
type Queue[T any] struct {
	mu     sync.Mutex
	items  []T           // guarded by mu
	closed bool          // guarded by mu
	ready  chan struct{} // capacity 1: a wake-up for Pop
}

// NewQueue returns an empty queue.
func NewQueue[T any]() *Queue[T] {
	return &Queue[T]{ready: make(chan struct{}, 1)}
}

// Push appends v; it reports false (and drops v) once the queue is closed.
func (q *Queue[T]) Push(v T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.items = append(q.items, v)
	q.wakeLocked()
	return true
}

func (q *Queue[T]) wakeLocked() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Pop removes and returns the oldest item, waiting for one until ctx ends.
// Items pushed before Close are still returned; after that Pop returns
// ErrClosed.
func (q *Queue[T]) Pop(ctx context.Context) (T, error) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			v := q.items[0]
			var zero T
			q.items[0] = zero
			q.items = q.items[1:]
			if len(q.items) > 0 || q.closed {
				q.wakeLocked()
			}
			q.mu.Unlock()
			return v, nil
		}
		closed := q.closed
		q.mu.Unlock()
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
	var zero T
	if len(q.items) == 0 {
		return zero, false
	}
	v := q.items[0]
	q.items[0] = zero
	q.items = q.items[1:]
	return v, true
}

// Len is the number of items waiting.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
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
