package netem

import (
	"sync"
	"testing"
	"testing/synctest"

	"go.uber.org/goleak"
)

// TestPacketConnConcurrentReaders: several goroutines blocked in ReadFrom
// on one conn get every packet between them, once. (The lost wake-up this
// could hide is checked where it can be hit: feed's TestQueueTokenOutlivesPop.)
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
