// Package labspec runs a Ginkgo spec against a lab, in virtual time (a
// testing/synctest bubble) or in real time, with the same body: the
// helper the scenario suite enters bubbles with.
//
//	spec ── labspec.Run(t, topo, clock, body)
//	          ├─ virtual: synctest.Test(t, ...) { lab.New; body; lab.Close }
//	          │           on one P (GOMAXPROCS 1: procs.go); a goroutine
//	          │           left blocked fails the spec (bubble.go)
//	          └─ real:    lab.New; body; lab.Close
//
// A Gomega failure inside the bubble panics in the bubble's goroutine;
// Run recovers it there (GinkgoRecover) after the lab is closed, so it
// becomes the spec's failure and the bubble still ends cleanly
// (FINDINGS.md, Virtual time).
package labspec

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/netem"
)

// Clock says how a spec runs.
type Clock string

const (
	Virtual Clock = "virtual" // in a synctest bubble: only in-memory signaling
	Real    Clock = "real"    // on the wall clock
)

// DefaultTimeout bounds a body on its clock.
const DefaultTimeout = 2 * time.Minute

// Result is what a run leaves for the report, taken just before the lab
// closes.
type Result struct {
	Clock    Clock
	Timeline []lab.Entry
	Ledgers  []netem.Ledger
	// Elapsed is the time the body took on the lab's clock; Wall is the
	// wall-clock time of the whole run (build and teardown included).
	Elapsed, Wall time.Duration
}

// Run builds a lab from topo, runs body in it and closes it. t is the
// suite's *testing.T (the one that called RunSpecs): synctest needs it.
// A virtual clock needs a topology that is not RealTimeOnly. opts go to
// lab.New (a browser for Chrome endpoints, say).
func Run(t *testing.T, topo lab.Topology, clock Clock, timeout time.Duration, body func(ctx context.Context, l *lab.Lab), opts ...lab.Option) Result {
	ginkgo.GinkgoHelper()
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if clock == Virtual && topo.RealTimeOnly() {
		ginkgo.Fail("labspec: the topology uses real sockets or processes (ws or sse signaling, an external STUN/TURN server, a Chrome endpoint) and cannot run in virtual time")
	}
	var res Result
	res.Clock = clock
	wallStart := time.Now()
	run := func() {
		l, err := lab.New(topo, opts...)
		gomega.Expect(err).NotTo(gomega.HaveOccurred(), "building the lab")
		defer func() {
			res.Timeline, res.Ledgers = l.Timeline(), l.Ledgers()
			gomega.Expect(l.Close()).To(gomega.Succeed(), "closing the lab")
		}()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		defer func() { res.Elapsed = time.Since(start) }()
		body(ctx, l)
	}
	if clock == Virtual {
		defer singleP()()
		if left := runVirtual(t, run); len(left) > 0 {
			ginkgo.Fail(fmt.Sprintf("labspec: %d goroutine(s) of the run outlived the lab's Close, blocked for good: a Close that did not wait for what it started, or a goroutine nobody ends:\n\n%s",
				len(left), strings.Join(left, "\n\n")))
		}
	} else {
		run()
	}
	res.Wall = time.Since(wallStart)
	return res
}
