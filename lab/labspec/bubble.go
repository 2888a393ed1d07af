package labspec

import (
	"testing"
	"testing/synctest"

	"github.com/onsi/ginkgo/v2"

	"github.com/netlab/netlab/internal/bubble"
)

// runVirtual runs run in a synctest bubble and returns the stacks of the
// goroutines the run left blocked for good: none, when every Close waited
// for what it started.
//
// Such a goroutine makes synctest.Test panic ("main bubble goroutine has
// exited but blocked goroutines remain"). That panic would end the whole
// suite, run.json unwritten; runVirtual recovers it, so the caller fails
// one spec, naming the goroutines, and the suite goes on.
func runVirtual(t *testing.T, run func()) (left []string) {
	defer func() {
		if len(left) > 0 {
			recover() // synctest's deadlock panic, which left explains
		}
	}()
	synctest.Test(t, func(*testing.T) {
		defer ginkgo.GinkgoRecover()
		// Wait returns once the rest are durably blocked; those never run
		// again (after the body returns, the bubble's clock stands still).
		// Deferred, so it holds for a failing body too.
		defer func() {
			synctest.Wait()
			left = bubble.Others()
		}()
		run()
	})
	return left
}
