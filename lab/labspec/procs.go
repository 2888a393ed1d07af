package labspec

import (
	"runtime"
	"sync"
)

// A bubble's goroutines share one clock and, at any instant, mostly one
// runnable goroutine: the packet, timer or callback that instant holds.
// A second P adds nothing to run and costs a futex wake-up each time a
// goroutine becomes ready while the other P sleeps. In 4 interleaved runs
// each way of the go-go suite's virtual families, one P took their wall
// time from 6.2-6.3 s to 5.3-5.5 s and their CPU from 7.5-7.9 s to
// 5.4-5.6 s (docs/measurements.md), and with fewer interleavings more of
// their ledger hashes repeat (57 of 233 cases in 4 runs, against 44).
//
// GOMAXPROCS is the process's, so concurrent virtual runs (not a Ginkgo
// suite's: its specs run one at a time per process) share the setting:
// the first to start holds it at 1, the last to end puts back what it was.
var procs struct {
	mu   sync.Mutex
	runs int
	prev int
}

// singleP holds GOMAXPROCS at 1 until the returned func is called.
func singleP() (restore func()) {
	procs.mu.Lock()
	if procs.runs == 0 {
		procs.prev = runtime.GOMAXPROCS(1)
	}
	procs.runs++
	procs.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			procs.mu.Lock()
			defer procs.mu.Unlock()
			procs.runs--
			if procs.runs == 0 {
				runtime.GOMAXPROCS(procs.prev)
			}
		})
	}
}
