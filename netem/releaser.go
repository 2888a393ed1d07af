package netem

import (
	"sync"
	"time"
)

// releaser is netem's timer queue: it hands each item to deliver at its due
// time, in due order (ties in the order scheduled), from one goroutine that
// it owns. The adapters use one per direction. Inside a synctest bubble its
// timer is virtual.
type releaser[T any] struct {
	clock   Clock
	deliver func(T) // called on the releaser's goroutine, never concurrently

	mu     sync.Mutex
	items  relHeap[T] // guarded by mu
	seq    uint64     // guarded by mu
	closed bool       // guarded by mu

	wake chan struct{} // capacity 1: "the head may have changed"
	quit chan struct{}
	done chan struct{}
}

type relItem[T any] struct {
	at  time.Time
	seq uint64
	v   T
}

// relHeap is a binary min-heap on (at, seq). It is typed rather than
// driven through container/heap, whose any-typed Push and Pop box every
// item: two allocations per packet on the adapters' hot path.
type relHeap[T any] []relItem[T]

func (h relHeap[T]) less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}

func (h *relHeap[T]) push(it relItem[T]) {
	*h = append(*h, it)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s.less(i, parent) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

// pop removes the least item; the heap must not be empty.
func (h *relHeap[T]) pop() relItem[T] {
	s := *h
	n := len(s) - 1
	s[0], s[n] = s[n], s[0]
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < n && s.less(l, least) {
			least = l
		}
		if r < n && s.less(r, least) {
			least = r
		}
		if least == i {
			break
		}
		s[i], s[least] = s[least], s[i]
		i = least
	}
	it := s[n]
	s[n] = relItem[T]{} // let the payload go
	*h = s[:n]
	return it
}

func newReleaser[T any](clock Clock, deliver func(T)) *releaser[T] {
	r := &releaser[T]{
		clock:   clock,
		deliver: deliver,
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go r.run()
	return r
}

// schedule queues v for at. It reports false after close.
func (r *releaser[T]) schedule(at time.Time, v T) bool {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return false
	}
	r.seq++
	r.items.push(relItem[T]{at: at, seq: r.seq, v: v})
	head := r.items[0].seq == r.seq
	r.mu.Unlock()
	if head {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	return true
}

func (r *releaser[T]) run() {
	defer close(r.done)
	timer := r.clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var due []T
	for {
		r.mu.Lock()
		var wait time.Duration = -1
		due = due[:0]
		now := r.clock.Now()
		for len(r.items) > 0 {
			head := r.items[0]
			if d := head.at.Sub(now); d > 0 {
				wait = d
				break
			}
			r.items.pop()
			due = append(due, head.v)
		}
		r.mu.Unlock()
		for i, v := range due {
			r.deliver(v)
			var zero T
			due[i] = zero // let the payload go
		}
		if len(due) > 0 {
			continue // delivering took time: look again before sleeping
		}
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-r.quit:
			return
		case <-r.wake:
		case <-timer.C():
		}
		timer.Stop()
	}
}

// close stops the goroutine and waits for it; items still queued are
// discarded and returned, for the owner to count. It is idempotent.
func (r *releaser[T]) close() []T {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		<-r.done
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	close(r.quit)
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	left := make([]T, 0, len(r.items))
	for _, it := range r.items {
		left = append(left, it.v)
	}
	r.items = nil
	return left
}
