//go:build !linux

package netem

// hrClock is Linux only (timerfd); elsewhere the runtime's timers serve.
type hrClock struct{ Clock }

func newHRClock(Clock) *hrClock { return nil }

func (c *hrClock) close() {}
