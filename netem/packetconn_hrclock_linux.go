//go:build linux

package netem

import (
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// hrClock is a Clock whose timers are timerfds. The runtime's timers wake
// about 1 ms late on Linux (its epoll_wait counts whole milliseconds:
// measured here p50 1.0 ms late when idle), too coarse for a delay line
// that should be right to well under a millisecond; a timerfd wakes the
// netpoller on time (p50 about 60 us). Now is the wrapped clock's. It waits
// real time, so it is for real sockets only, never a synctest bubble.
// close ends every timer's goroutine.
type hrClock struct {
	Clock
	mu     sync.Mutex
	timers []*hrTimer // guarded by mu
	closed bool       // guarded by mu
}

// newHRClock returns nil when the kernel refuses a timerfd: the caller
// then keeps the runtime's timers.
func newHRClock(c Clock) *hrClock {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil
	}
	_ = unix.Close(fd)
	return &hrClock{Clock: c}
}

// hrTimer is one timerfd and the goroutine that turns its expiries into
// sends on ch. A spurious tick (one that fired just before a Stop) is
// possible; the releaser re-checks its queue on every wake.
type hrTimer struct {
	now  func() time.Time // the clock's, for the tick's value
	f    *os.File
	fd   int
	ch   chan time.Time
	done chan struct{}
}

func (c *hrClock) NewTimer(d time.Duration) Timer {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return c.Clock.NewTimer(d) // out of descriptors: degrade, don't fail
	}
	// Non-blocking, so reads wait in the netpoller, not on a thread.
	t := &hrTimer{now: c.Clock.Now, f: os.NewFile(uintptr(fd), "netem-timerfd"), fd: fd, ch: make(chan time.Time, 1), done: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = t.f.Close()
		return c.Clock.NewTimer(d)
	}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	go t.run()
	t.Reset(d)
	return t
}

func (t *hrTimer) run() {
	defer close(t.done)
	var b [8]byte
	for {
		if _, err := t.f.Read(b[:]); err != nil {
			return // closed
		}
		select {
		case t.ch <- t.now():
		default:
		}
	}
}

func (t *hrTimer) C() <-chan time.Time { return t.ch }

func (t *hrTimer) Reset(d time.Duration) bool {
	// A zero it_value disarms a timerfd: "now" is the shortest wait.
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(max(d, 1)))}
	var old unix.ItimerSpec
	_ = unix.TimerfdSettime(t.fd, 0, &spec, &old)
	return old.Value.Nano() > 0
}

func (t *hrTimer) Stop() bool {
	var old unix.ItimerSpec
	_ = unix.TimerfdSettime(t.fd, 0, &unix.ItimerSpec{}, &old)
	return old.Value.Nano() > 0
}

// close ends every timer's goroutine and waits for them. Call it after
// whatever uses the timers has stopped.
func (c *hrClock) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.closed = true
	timers := c.timers
	c.timers = nil
	c.mu.Unlock()
	for _, t := range timers {
		_ = t.f.Close()
		<-t.done
	}
}
