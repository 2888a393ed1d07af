package netem

import (
	"sync"
	"sync/atomic"
	"time"
)

// lane carries one direction of shaped packets to their next hop: inline
// when a packet is due now and nothing is waiting (the no-impairment path
// costs a counter check), through a releaser at its due time otherwise.
// Nothing overtakes: pending counts items scheduled but not yet delivered,
// including one being delivered, so an inline packet never passes them.
//
// A precise lane (real time only) runs its releaser on an hrClock, whose
// timerfd timers fire on time where the runtime's wake about 1 ms late.
type lane[T any] struct {
	deliver func(T) // called inline or on the releaser's goroutine; must be safe for concurrent use
	rel     *releaser[T]
	hr      *hrClock // nil: the runtime's timers
	pending atomic.Int64
}

func newLane[T any](clock Clock, deliver func(T), precise bool) *lane[T] {
	l := &lane[T]{deliver: deliver}
	relClock := clock
	if precise {
		if l.hr = newHRClock(clock); l.hr != nil {
			relClock = l.hr
		}
	}
	l.rel = newReleaser(relClock, func(v T) {
		l.deliver(v)
		l.pending.Add(-1)
	})
	return l
}

// clear reports whether a packet due now may be delivered inline.
func (l *lane[T]) clear() bool { return l.pending.Load() == 0 }

// send delivers v delay after now. It reports false when the lane is
// closed; v was not delivered and still belongs to the caller.
func (l *lane[T]) send(now time.Time, delay time.Duration, v T) bool {
	if delay <= 0 && l.clear() {
		l.deliver(v)
		return true
	}
	l.pending.Add(1)
	if !l.rel.schedule(now.Add(delay), v) {
		l.pending.Add(-1)
		return false
	}
	return true
}

// close stops the releaser (and its timers) and returns what it had not
// delivered.
func (l *lane[T]) close() []T {
	left := l.rel.close()
	l.hr.close()
	return left
}

// maxDatagram is the largest UDP payload a read can return.
const maxDatagram = 1 << 16

// poolBufSize fits any packet of a 1500-byte MTU path (and jumbo-ish
// ones); larger packets get a buffer of their own.
const poolBufSize = 2048

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, poolBufSize)
	return &b
}}

// copyBuf returns a buffer holding a copy of p; give it back with putBuf.
func copyBuf(p []byte) *[]byte {
	var b *[]byte
	if len(p) <= poolBufSize {
		b = bufPool.Get().(*[]byte)
		*b = (*b)[:len(p)]
	} else {
		s := make([]byte, len(p))
		b = &s
	}
	copy(*b, p)
	return b
}

func putBuf(b *[]byte) {
	if b != nil && cap(*b) == poolBufSize {
		bufPool.Put(b)
	}
}

// deadline is a read deadline on the Clock. Readers wait on a clock timer
// and on changed, which is closed (and replaced) whenever the deadline
// moves, so a blocked read re-arms itself.
type deadline struct {
	mu      sync.Mutex
	at      time.Time     // guarded by mu; zero: none
	changed chan struct{} // guarded by mu
}

func newDeadline() *deadline { return &deadline{changed: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.at = t
	close(d.changed)
	d.changed = make(chan struct{})
}

func (d *deadline) get() (time.Time, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.at, d.changed
}
