package netem

import "sync"

// readyQueue is a PacketConn's bounded FIFO between the down lane and
// ReadFrom. Its ring grows with use, up to the bound, instead of reserving
// the bound up front: a lab builds thousands of conns that carry a trickle
// each (ICE checks, a handshake), and a channel of DefaultReadQueue packets
// cost 48 KB apiece to allocate and zero.
type readyQueue struct {
	mu    sync.Mutex
	ring  []packet // len(ring) is the room in use, at most limit
	head  int      // index of the oldest packet
	n     int      // packets queued
	limit int

	// avail holds a token whenever the queue may be non-empty: push
	// leaves one, and a pop that leaves packets behind leaves one for the
	// next reader. A stale token only costs a reader one empty pop.
	avail chan struct{}
}

// minReadyRing is the ring's first size: a burst of ICE checks fits.
const minReadyRing = 16

func newReadyQueue(limit int) *readyQueue {
	return &readyQueue{limit: limit, avail: make(chan struct{}, 1)}
}

// push appends p, or reports false when the queue holds limit packets.
func (q *readyQueue) push(p packet) bool {
	q.mu.Lock()
	if q.n == q.limit {
		q.mu.Unlock()
		return false
	}
	if q.n == len(q.ring) {
		q.grow()
	}
	q.ring[(q.head+q.n)%len(q.ring)] = p
	q.n++
	q.mu.Unlock()
	q.signal()
	return true
}

// grow doubles the ring (at least minReadyRing, at most limit); q.mu held.
func (q *readyQueue) grow() {
	size := min(max(minReadyRing, 2*len(q.ring)), q.limit)
	ring := make([]packet, size)
	for i := range q.n {
		ring[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring, q.head = ring, 0
}

// pop removes the oldest packet, or reports false when there is none.
func (q *readyQueue) pop() (packet, bool) {
	q.mu.Lock()
	if q.n == 0 {
		q.mu.Unlock()
		return packet{}, false
	}
	p := q.ring[q.head]
	q.ring[q.head] = packet{} // the ring keeps no reference to a delivered buffer
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	more := q.n > 0
	q.mu.Unlock()
	if more {
		q.signal() // another reader may be waiting on the token push left
	}
	return p, true
}

func (q *readyQueue) signal() {
	select {
	case q.avail <- struct{}{}:
	default: // a token is already there
	}
}
