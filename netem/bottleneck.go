package netem

import (
	"math"
	"time"
)

// bottleneck is a rate limit with a FIFO queue in front of it. It is
// computed, not simulated: the departure time of every packet follows from
// the previous one, so the queue is the list of packets whose transmission
// has not started yet. Times are offsets from the shaper's epoch.
//
// It outlives phases, and so does its backlog. A packet's departure is
// fixed when it is admitted, at the rate (and against the queue limit) in
// force then: a phase that changes the rate applies to the packets that
// arrive during it, not to the backlog, which drains at the rates it was
// admitted at (a backlog built on a fast link before a slow phase leaves
// fast; one built in a slow phase still leaves slowly after it).
type bottleneck struct {
	busyUntil time.Duration // the link is transmitting until then
	waiting   []queued      // FIFO of packets not yet transmitting
	head      int           // waiting[head:] is the queue
	bytes     int64         // bytes in waiting[head:]
	codel     codel
}

type queued struct {
	start time.Duration // when its transmission starts
	bytes int
}

// admit decides whether a packet of size bytes arriving at now enters the
// queue, and when it leaves the link. drop is DropQueue or DropAQM when it
// does not.
func (b *bottleneck) admit(now time.Duration, size int, r *rateParams) (depart time.Duration, drop Drop) {
	for b.head < len(b.waiting) && b.waiting[b.head].start <= now {
		b.bytes -= int64(b.waiting[b.head].bytes)
		b.head++
	}
	if b.head > 1024 && b.head*2 > len(b.waiting) { // compact now and then
		b.waiting = append(b.waiting[:0], b.waiting[b.head:]...)
		b.head = 0
	}
	start := max(now, b.busyUntil)
	if start > now { // it has to wait: the queue limit applies
		n := len(b.waiting) - b.head
		if (r.limitPackets > 0 && n >= r.limitPackets) || (r.limitBytes > 0 && b.bytes+int64(size) > r.limitBytes) {
			return 0, DropQueue
		}
		b.waiting = append(b.waiting, queued{start: start, bytes: size})
		b.bytes += int64(size)
	}
	if r.codel && b.codel.drop(start, start-now, r) {
		// Dropped at the head: it never occupies the link.
		return 0, DropAQM
	}
	tx := time.Duration(math.Ceil(float64(size+r.overhead) * 8 * 1e9 / r.bps))
	b.busyUntil = addSat(start, tx)
	return b.busyUntil, DropNone
}

// addSat is a + b for non-negative b, saturated at the largest Duration:
// a link at 1 bit/s with a deep queue of large packets is backlogged for
// more than a Duration can count, and wrapping around would deliver its
// packets before they were sent.
func addSat(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// codel is RFC 8289's state machine, run at each packet's dequeue time
// (the start of its transmission), which FIFO order makes monotonic.
type codel struct {
	firstAbove  time.Duration
	aboveSet    bool
	dropping    bool
	dropNext    time.Duration
	count       int
	lastCount   int
	everDropped bool
}

func (c *codel) controlLaw(t time.Duration, interval time.Duration) time.Duration {
	return addSat(t, time.Duration(float64(interval)/math.Sqrt(float64(c.count))))
}

// drop runs dodequeue and the dropping logic of RFC 8289 section 5 for the
// packet at the head at time now, which waited sojourn.
func (c *codel) drop(now, sojourn time.Duration, r *rateParams) bool {
	okToDrop := false
	switch {
	case sojourn < r.target:
		c.aboveSet = false
	case !c.aboveSet:
		c.firstAbove, c.aboveSet = addSat(now, r.interval), true
	case now >= c.firstAbove:
		okToDrop = true
	}
	if c.dropping {
		if !okToDrop {
			c.dropping = false
			return false
		}
		if now >= c.dropNext {
			c.count++
			c.dropNext = c.controlLaw(c.dropNext, r.interval)
			return true
		}
		return false
	}
	if !okToDrop {
		return false
	}
	c.dropping = true
	delta := c.count - c.lastCount
	c.count = 1
	if c.everDropped && delta > 1 && now-c.dropNext < 16*r.interval {
		c.count = delta
	}
	c.dropNext = c.controlLaw(now, r.interval)
	c.lastCount = c.count
	c.everDropped = true
	return true
}
