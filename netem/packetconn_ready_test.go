package netem

import (
	"sync"
	"testing"
	"testing/synctest"

	"go.uber.org/goleak"
)

// readyPacket tags a packet by its address's port, so order is checkable.
func readyPacket(i int) packet {
	return packet{addr: &udpAddrPort{port: i}}
}

type udpAddrPort struct{ port int }

func (a *udpAddrPort) Network() string { return "udp" }
func (a *udpAddrPort) String() string  { return "" }

func readyPort(t *testing.T, q *readyQueue) int {
	t.Helper()
	p, ok := q.pop()
	if !ok {
		t.Fatal("pop: empty queue, want a packet")
	}
	return p.addr.(*udpAddrPort).port
}

// TestReadyQueueFIFOAcrossGrowth pushes and pops in staggered batches so
// the ring wraps before each growth: the order must survive every copy.
func TestReadyQueueFIFOAcrossGrowth(t *testing.T) {
	q := newReadyQueue(256) // at most 212 are queued
	next, want := 0, 0
	for round := range 12 {
		for range round*7 + 3 {
			if !q.push(readyPacket(next)) {
				t.Fatalf("push %d refused with %d queued of 256", next, q.n)
			}
			next++
		}
		for range round*5 + 1 {
			if got := readyPort(t, q); got != want {
				t.Fatalf("round %d: popped %d, want %d", round, got, want)
			}
			want++
		}
	}
	for want < next {
		if got := readyPort(t, q); got != want {
			t.Fatalf("drain: popped %d, want %d", got, want)
		}
		want++
	}
	if _, ok := q.pop(); ok {
		t.Fatal("pop after draining returned a packet")
	}
	if len(q.ring) > q.limit {
		t.Fatalf("ring grew to %d, past the bound %d", len(q.ring), q.limit)
	}
}

func TestReadyQueueBound(t *testing.T) {
	for _, limit := range []int{1, 5, 16, 17, 40} {
		q := newReadyQueue(limit)
		for i := range limit {
			if !q.push(readyPacket(i)) {
				t.Fatalf("limit %d: push %d refused", limit, i)
			}
		}
		if q.push(readyPacket(limit)) {
			t.Fatalf("limit %d: push past the bound accepted", limit)
		}
		if len(q.ring) != limit {
			t.Fatalf("limit %d: ring of %d when full", limit, len(q.ring))
		}
		if got := readyPort(t, q); got != 0 {
			t.Fatalf("limit %d: popped %d first, want 0", limit, got)
		}
		if !q.push(readyPacket(limit)) {
			t.Fatalf("limit %d: push after a pop refused", limit)
		}
	}
}

// TestReadyQueueGrowsWithUse: a conn that never queues more than a few
// packets keeps the smallest ring, which is the point of the type.
func TestReadyQueueGrowsWithUse(t *testing.T) {
	q := newReadyQueue(DefaultReadQueue)
	if q.ring != nil {
		t.Fatalf("a new queue reserved %d slots", len(q.ring))
	}
	for i := range 1000 {
		q.push(readyPacket(i))
		q.push(readyPacket(i))
		q.pop()
		q.pop()
	}
	if len(q.ring) != minReadyRing {
		t.Fatalf("ring of %d after a trickle, want %d", len(q.ring), minReadyRing)
	}
}

// TestPacketConnConcurrentReaders: several goroutines blocked in ReadFrom
// on one conn get every packet between them, once. (The lost wake-up this
// could hide is checked where it can be hit: TestReadyQueueTokenOutlivesPop.)
func TestPacketConnConcurrentReaders(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		ra, rb := memPair()
		defer rb.Close()
		a := pcWrap(t, ra, pcShaper(t, "a", ""))
		const readers, total = 4, 400
		var (
			mu   sync.Mutex
			seen = make(map[byte]int)
			wg   sync.WaitGroup
		)
		for range readers {
			wg.Go(func() {
				buf := make([]byte, 2)
				for {
					if _, _, err := a.ReadFrom(buf); err != nil {
						return
					}
					mu.Lock()
					seen[buf[0]]++
					mu.Unlock()
				}
			})
		}
		synctest.Wait() // every reader is blocked on an empty queue
		for i := range total {
			rb.WriteTo([]byte{byte(i % 200), byte(i / 200)}, ra.addr)
			if i%37 == 0 {
				synctest.Wait() // let readers drain mid-stream too
			}
		}
		synctest.Wait()
		mu.Lock()
		got := 0
		for b, n := range seen {
			if n != total/200 {
				t.Errorf("payload %d read %d times, want %d", b, n, total/200)
			}
			got += n
		}
		mu.Unlock()
		if got != total {
			t.Errorf("readers got %d packets, want %d", got, total)
		}
		a.Close()
		wg.Wait()
	})
}

// TestReadyQueueTokenOutlivesPop: the invariant the readers rely on. While
// packets are queued a token waits in avail, however many pushes coalesced
// into one. Pushes coalesce when no reader is parked on avail (a parked one
// takes each token as it is sent): two readers between their empty pop and
// their select, a burst of two packets, and without the token a pop passes
// on, the second reader would park beside a queued packet. That window is
// too narrow to hit from ReadFrom, so the invariant is checked here.
func TestReadyQueueTokenOutlivesPop(t *testing.T) {
	q := newReadyQueue(8)
	for i := range 3 {
		q.push(readyPacket(i))
	}
	for i := range 3 {
		if len(q.avail) != 1 {
			t.Fatalf("%d packets queued and no token", 3-i)
		}
		<-q.avail // a reader wakes
		if got := readyPort(t, q); got != i {
			t.Fatalf("popped %d, want %d", got, i)
		}
	}
	if len(q.avail) != 0 {
		t.Fatal("a token left behind on an empty queue")
	}
}

// BenchmarkWrapPacketConn is the cost of a conn that carries one packet
// each way: what a lab pays for each of its thousands of ICE sockets.
func BenchmarkWrapPacketConn(b *testing.B) {
	sh := pcShaper(b, "a", "")
	buf := make([]byte, 1500)
	b.ReportAllocs()
	for b.Loop() {
		ra, rb := memPairN(1) // the pipe's own room is not what is measured
		a, err := WrapPacketConn(ra, sh)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rb.WriteTo(buf[:100], ra.addr); err != nil {
			b.Fatal(err)
		}
		if _, _, err := a.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := a.WriteTo(buf[:100], rb.addr); err != nil {
			b.Fatal(err)
		}
		a.Close()
		rb.Close()
	}
}
