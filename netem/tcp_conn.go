package netem

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// tcpConn is one proxied connection. Its run goroutine owns everything
// else: it dials, starts a pipe per direction, runs the controller (the
// timers of reset_peer and timeout, which fire with no data flowing) and,
// once the connection is aborted, waits for the pipes.
type tcpConn struct {
	p      *TCPProxy
	id     uint64    // read-only: 1 for the first connection
	client net.Conn  // read-only
	start  time.Time // read-only: when it was accepted, on the shaper's clock
	ctx    context.Context
	cancel context.CancelFunc // ends the dial

	quit     chan struct{} // closed by abort
	finished atomic.Int32  // directions whose close was delivered

	mu       sync.Mutex
	upstream net.Conn // guarded by mu: set once dialed
	aborted  bool     // guarded by mu
	reset    bool     // guarded by mu: aborted with RST
}

func newTCPConn(p *TCPProxy, id uint64, client net.Conn) *tcpConn {
	c := &tcpConn{
		p:      p,
		id:     id,
		client: client,
		start:  p.shaper.Clock().Now(),
		quit:   make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(p.ctx)
	return c
}

// abort ends the connection: with reset, both sides get a TCP RST (linger
// 0, as toxiproxy's reset_peer), otherwise an orderly close. It does not
// wait; run notices and cleans up. Only the first call counts.
func (c *tcpConn) abort(reset bool) {
	c.mu.Lock()
	if c.aborted {
		c.mu.Unlock()
		return
	}
	c.aborted, c.reset = true, reset
	up := c.upstream
	c.mu.Unlock()
	c.cancel()
	closeConn(c.client, reset)
	if up != nil {
		closeConn(up, reset)
	}
	close(c.quit)
}

type lingerer interface{ SetLinger(sec int) error }

// closeConn closes nc, with an RST when reset and nc supports SetLinger.
func closeConn(nc net.Conn, reset bool) {
	if l, ok := nc.(lingerer); ok && reset {
		_ = l.SetLinger(0) // best effort: a plain close is the fallback
	}
	_ = nc.Close()
}

// directionDone counts a direction whose close was delivered; once both
// are, the connection is over.
func (c *tcpConn) directionDone() {
	if c.finished.Add(1) == 2 {
		c.abort(false)
	}
}

func (c *tcpConn) run() {
	defer c.p.wg.Done()
	defer c.p.remove(c)
	defer c.cancel()
	up, err := c.p.dial(c.ctx, "tcp", c.p.upstream)
	if err != nil {
		c.abort(false) // the client sees the proxy close, as with toxiproxy
		return
	}
	c.mu.Lock()
	if c.aborted {
		reset := c.reset
		c.mu.Unlock()
		closeConn(up, reset)
		return
	}
	c.upstream = up
	c.mu.Unlock()

	pipes := [2]*tcpPipe{
		Up:   newTCPPipe(c, Up, c.client, up),
		Down: newTCPPipe(c, Down, up, c.client),
	}
	var readers sync.WaitGroup
	for _, pp := range pipes {
		readers.Go(pp.read)
	}
	c.control()
	readers.Wait()
	for _, pp := range pipes {
		pp.rel.close() // undelivered data dies with the connection
	}
}

// tcpRegime tracks since when one setting has held its value: timers of
// settings count from when they came into force.
type tcpRegime struct {
	set   bool
	val   time.Duration
	since time.Time
}

func (r *tcpRegime) observe(v *Duration, at time.Time) {
	switch {
	case v == nil:
		r.set = false
	case !r.set || r.val != v.D():
		*r = tcpRegime{set: true, val: v.D(), since: at}
	}
}

// deadline returns when the setting acts; ok is false when it is not set.
func (r *tcpRegime) deadline() (time.Time, bool) {
	return r.since.Add(r.val), r.set
}

// tcpTimers are one direction's connection-level timers.
type tcpTimers struct{ reset, timeout tcpRegime }

func (t *tcpTimers) observe(lp *linkParams, at time.Time) {
	var reset, timeout *Duration
	if tc := lp.src.TCP; tc != nil {
		reset, timeout = tc.ResetPeer, tc.Timeout
	}
	t.reset.observe(reset, at)
	t.timeout.observe(timeout, at)
}

// control runs the connection's reset_peer and timeout timers until the
// connection is aborted. It looks at the profile at the connection's start,
// at every phase boundary (at the boundary's exact instant, so that timers
// count from it) and after every SetProfile.
func (c *tcpConn) control() {
	s := c.p.shaper
	clk := s.Clock()
	timer := clk.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	var tm [2]tcpTimers
	observe := func(at time.Time) {
		for _, dir := range Directions {
			lp, _, _, _ := s.linkAt(at, dir)
			tm[dir].observe(lp, at)
		}
	}
	nextBoundary := func(t time.Duration) time.Duration {
		b := s.nextChange(t, Up)
		if d := s.nextChange(t, Down); d >= 0 && (b < 0 || d < b) {
			b = d
		}
		return b
	}

	observe(c.start)
	cursor := c.start.Sub(s.epoch) // phase boundaries up to here are observed
	for {
		changed := s.profileChanged() // before looking, so no change is missed
		now := clk.Now()
		for b := nextBoundary(cursor); b >= 0 && !s.epoch.Add(b).After(now); b = nextBoundary(cursor) {
			observe(s.epoch.Add(b))
			cursor = b
		}
		observe(now) // a SetProfile since the last look comes into force now

		var wake time.Time
		soonest := func(t time.Time) {
			if wake.IsZero() || t.Before(wake) {
				wake = t
			}
		}
		for _, dir := range Directions {
			if dl, ok := tm[dir].reset.deadline(); ok {
				if !dl.After(now) {
					c.abort(true)
					return
				}
				soonest(dl)
			}
			if dl, ok := tm[dir].timeout.deadline(); ok && tm[dir].timeout.val > 0 {
				if !dl.After(now) {
					c.abort(false)
					return
				}
				soonest(dl)
			}
		}
		if b := nextBoundary(cursor); b >= 0 {
			soonest(s.epoch.Add(b))
		}
		if !wake.IsZero() {
			timer.Reset(wake.Sub(now))
		}
		select {
		case <-c.quit:
			return
		case <-changed:
		case <-timer.C():
		}
		timer.Stop()
	}
}
