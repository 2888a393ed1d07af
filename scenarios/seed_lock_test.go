package scenarios

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/peer"
)

// The seed's lock specs (8-13): the pair mutex between two endpoints.

// lockLog records bodies entering and leaving, and fails on overlap.
type lockLog struct {
	mu      sync.Mutex
	inside  int
	overlap bool
	order   []string
}

func (l *lockLog) body(name string, work func(ctx context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		l.mu.Lock()
		l.inside++
		if l.inside > 1 {
			l.overlap = true
		}
		l.order = append(l.order, name)
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			l.inside--
			l.mu.Unlock()
		}()
		if work != nil {
			return work(ctx)
		}
		return nil
	}
}

func (l *lockLog) result() (order []string, overlap bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.order...), l.overlap
}

// hold is a lock body that holds until release is closed or ctx ends.
func hold(entered chan<- struct{}, release <-chan struct{}) func(context.Context) error {
	return func(ctx context.Context) error {
		close(entered)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// lockQueued waits until ep has n calls queued or waiting for the lock, so
// that a spec controls the order in which calls are made.
func lockQueued(ctx context.Context, ep peer.Endpoint, n int) {
	GinkgoHelper()
	q, ok := ep.(interface{ LockWaiting() int })
	Expect(ok).To(BeTrue(), "%T does not report its lock queue", ep)
	Eventually(ctx, q.LockWaiting).WithPolling(5 * time.Millisecond).Should(BeNumerically(">=", n))
}

var _ = addSeedSpec(8, "lock", "acquires and releases, with waiting", func(ctx context.Context, l *lab.Lab) {
	a, b := seedPair(ctx, l)
	entered, release := make(chan struct{}), make(chan struct{})
	aDone := make(chan error, 1)
	go func() { aDone <- a.AcquireLock(ctx, hold(entered, release)) }()
	Eventually(ctx, entered).Should(BeClosed())

	// bob asks while alice holds: he waits until she releases.
	var bobRan atomic.Bool
	bDone := make(chan error, 1)
	go func() {
		bDone <- b.AcquireLock(ctx, func(context.Context) error { bobRan.Store(true); return nil })
	}()
	lockQueued(ctx, b, 1)
	Consistently(bobRan.Load).WithTimeout(200 * time.Millisecond).Should(BeFalse())
	close(release)
	Eventually(ctx, aDone).Should(Receive(BeNil()))
	Eventually(ctx, bDone).Should(Receive(BeNil()))
	Expect(bobRan.Load()).To(BeTrue())
})

var _ = addSeedSpec(9, "lock", "acquires and releases, with resolution", func(ctx context.Context, l *lab.Lab) {
	a, b := seedPair(ctx, l)
	for _, ep := range []peer.Endpoint{a, b, a} {
		ran := false
		Expect(ep.AcquireLock(ctx, func(context.Context) error { ran = true; return nil })).To(Succeed())
		Expect(ran).To(BeTrue())
	}
})

var _ = addSeedSpec(10, "lock", "acquires and releases, with rejection", func(ctx context.Context, l *lab.Lab) {
	a, b := seedPair(ctx, l)
	boom := errors.New("rejected on purpose")
	Expect(a.AcquireLock(ctx, func(context.Context) error { return boom })).To(MatchError(boom))
	// Rejection released the lock on both sides.
	Expect(b.AcquireLock(ctx, func(context.Context) error { return nil })).To(Succeed())
	Expect(a.AcquireLock(ctx, func(context.Context) error { return nil })).To(Succeed())
})

// seedLockTimeout is spec 11's lock timeout, in the peers' template.
const seedLockTimeout = time.Second

var _ = addSeedSpecWith(11, "lock", "times out", peer.Config{LockTimeout: seedLockTimeout}, func(ctx context.Context, l *lab.Lab) {
	const timeout = seedLockTimeout
	a, b := seedPair(ctx, l)
	entered, release := make(chan struct{}), make(chan struct{})
	bDone := make(chan error, 1)
	go func() { bDone <- b.AcquireLock(ctx, hold(entered, release)) }()
	Eventually(ctx, entered).Should(BeClosed())

	// bob holds it past alice's timeout: her request is not answered.
	start := time.Now()
	var aliceRan atomic.Bool
	err := a.AcquireLock(ctx, func(context.Context) error { aliceRan.Store(true); return nil })
	waited := time.Since(start)
	Expect(err).To(MatchError(peer.ErrLockTimeout))
	Expect(aliceRan.Load()).To(BeFalse(), "alice ran her body while bob held the lock")
	Expect(waited).To(BeNumerically(">=", timeout))
	if seedVirtual(l) {
		// Virtual time is exact: the timeout starts at the request.
		Expect(waited).To(BeNumerically("<", timeout+signalingSlack(l.Topology().Signaling.Transport)))
	}
	close(release)
	Eventually(ctx, bDone).Should(Receive(BeNil()))
	// After a timeout the pair still works.
	Expect(a.AcquireLock(ctx, func(context.Context) error { return nil })).To(Succeed())
})

// signalingSlack bounds the one-way signaling delay of an in-memory
// transport.
func signalingSlack(t lab.Transport) time.Duration {
	if t == lab.TransportDelayed {
		return 100 * time.Millisecond
	}
	return time.Millisecond
}

var _ = addSeedSpec(12, "lock", "queues in order on the same side", func(ctx context.Context, l *lab.Lab) {
	a, _ := seedPair(ctx, l)
	var log lockLog
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 8)
	go func() { done <- a.AcquireLock(ctx, log.body("first", hold(entered, release))) }()
	Eventually(ctx, entered).Should(BeClosed())
	names := []string{"first"}
	for i, name := range []string{"second", "third", "fourth", "fifth"} {
		go func() { done <- a.AcquireLock(ctx, log.body(name, nil)) }()
		lockQueued(ctx, a, i+1)
		names = append(names, name)
	}
	close(release)
	for range names {
		Eventually(ctx, done).Should(Receive(BeNil()))
	}
	order, overlap := log.result()
	Expect(overlap).To(BeFalse())
	Expect(order).To(Equal(names))
})

var _ = addSeedSpec(13, "lock", "queues in order across sides", func(ctx context.Context, l *lab.Lab) {
	a, b := seedPair(ctx, l)
	var log lockLog
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 8)
	go func() { done <- a.AcquireLock(ctx, log.body("alice-1", hold(entered, release))) }()
	Eventually(ctx, entered).Should(BeClosed())
	// While alice holds: bob queues two, alice queues one more.
	go func() { done <- b.AcquireLock(ctx, log.body("bob-1", nil)) }()
	lockQueued(ctx, b, 1)
	go func() { done <- b.AcquireLock(ctx, log.body("bob-2", nil)) }()
	lockQueued(ctx, b, 2)
	go func() { done <- a.AcquireLock(ctx, log.body("alice-2", nil)) }()
	lockQueued(ctx, a, 1)
	close(release)
	for range 4 {
		Eventually(ctx, done).Should(Receive(BeNil()))
	}
	order, overlap := log.result()
	Expect(overlap).To(BeFalse(), "two bodies ran at once across the pair: %v", order)
	Expect(order).To(HaveLen(4))
	Expect(order[0]).To(Equal("alice-1"))
	// Each side's calls run in the order that side made them.
	Expect(indexOf(order, "bob-1")).To(BeNumerically("<", indexOf(order, "bob-2")))
})

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
