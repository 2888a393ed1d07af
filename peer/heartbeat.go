package peer

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/netlab/netlab/peer/signaling"
)

// Heartbeat defaults.
const (
	DefaultHeartbeatInterval = time.Second
	DefaultHeartbeatTimeout  = 5 * time.Second
)

// HeartbeatConfig configures the heartbeats an endpoint sends its remote
// on each path (signaling, data channel) to notice silence.
type HeartbeatConfig struct {
	Interval time.Duration // between beats on each path; default 1 s
	// Timeout is the silence tolerated after a beat was due: a path
	// times out Interval+Timeout after the last beat heard on it, so a
	// remote that stops is noticed within [Timeout, Timeout+Interval] of
	// stopping (plus the path's one-way delay), whatever the phase of its
	// beats. Default 5 s; must be > Interval.
	Timeout  time.Duration
	Disabled bool
}

// withDefaults fills zero fields and checks the rest: no negatives, and a
// timeout longer than the interval (else every path times out between
// two beats).
func (c HeartbeatConfig) withDefaults() (HeartbeatConfig, error) {
	if c.Interval < 0 || c.Timeout < 0 {
		return c, fmt.Errorf("%w: heartbeat interval and timeout must not be negative, got %v and %v", ErrBadConfig, c.Interval, c.Timeout)
	}
	if c.Interval == 0 {
		c.Interval = DefaultHeartbeatInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultHeartbeatTimeout
	}
	if c.Timeout <= c.Interval {
		return c, fmt.Errorf("%w: heartbeat timeout must be longer than the interval, got timeout %v, interval %v", ErrBadConfig, c.Timeout, c.Interval)
	}
	return c, nil
}

// beat is the payload of one heartbeat. The receiver does not parse it:
// any beat on a path counts as hearing the remote there.
type beat struct {
	Seq  uint64 `json:"seq"`
	Path string `json:"path"`
}

// heartbeat sends a beat on every path every Interval and raises
// EventHeartbeatTimeout when a path has been silent for Timeout past the
// beat that was due (Interval+Timeout after the last beat heard), and
// EventHeartbeatRecovered when it is heard again.
//
//	run (one goroutine) ── every Interval, per path ── send(beat) ──▶ remote
//	                    └─ timer at lastHeard+Timeout ─▶ EventHeartbeatTimeout
//	Received(path) ─ lastHeard = now (the timer moves) ─▶ EventHeartbeatRecovered after a timeout
//
// Timeouts and recoveries are emitted by run, in the order the state
// changed, and none after Stop returns.
type heartbeat struct {
	cfg    HeartbeatConfig // read-only
	cfgErr error           // read-only: reported by Start, which then runs nothing
	emit   func(Event)     // read-only

	ctx  context.Context // canceled by Stop: ends run and a send in flight
	stop context.CancelFunc
	wake chan struct{} // paths or clocks changed
	wg   sync.WaitGroup

	// emitMu is held while events are handed to emit, so that Stop can
	// wait out a hand-over in progress.
	emitMu sync.Mutex

	mu      sync.Mutex
	state   hbState                // guarded by mu
	paths   []*hbPath              // guarded by mu: in the order added
	gates   map[string]func() bool // guarded by mu: SetGate's, by path name
	pending []Event                // guarded by mu: events for run to emit, in order
}

type hbState int

const (
	hbIdle hbState = iota
	hbRunning
	hbStopped
)

// hbPath is one path's clocks; every field is guarded by heartbeat.mu.
type hbPath struct {
	name      string
	send      func(ctx context.Context, payload []byte) error
	seq       uint64
	nextSend  time.Time
	lastHeard time.Time // or when the path (or the heartbeat) started
	silent    bool      // EventHeartbeatTimeout raised, no beat since
}

// newHeartbeat starts nothing until Start. emit receives
// EventHeartbeatTimeout and EventHeartbeatRecovered with Path set (Peer is
// for the caller to fill); it must not call back into the heartbeat. A
// config that withDefaults refuses is reported as EventError by Start.
func newHeartbeat(cfg HeartbeatConfig, emit func(Event)) *heartbeat {
	full, err := cfg.withDefaults()
	if emit == nil {
		emit = func(Event) {}
	}
	ctx, stop := context.WithCancel(context.Background())
	return &heartbeat{cfg: full, cfgErr: err, emit: emit, ctx: ctx, stop: stop, wake: make(chan struct{}, 1)}
}

// AddPath adds a path ("signaling", "datachannel") on which beats are sent
// every Interval via send. Its silence clock starts now (or at Start).
// Adding a name again replaces its send and restarts its clock.
func (h *heartbeat) AddPath(name string, send func(ctx context.Context, payload []byte) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	p := h.pathLocked(name)
	if p == nil {
		p = &hbPath{name: name}
		h.paths = append(h.paths, p)
	}
	p.send = send
	p.nextSend, p.lastHeard, p.silent = now, now, false
	h.wakeLocked()
}

// SetGate makes beats on path name go out only while up reports true. A
// beat due while it is false is not sent: its seq is used, as by a beat
// lost on the way, and nothing is kept for later. Watching the path is
// unaffected, so the remote still notices the silence. up runs on the
// heartbeat's goroutine without its lock, once per beat due; nil removes
// the gate. It may be set before the path is added and outlives
// RemovePath.
func (h *heartbeat) SetGate(name string, up func() bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if up == nil {
		delete(h.gates, name)
		return
	}
	if h.gates == nil {
		h.gates = map[string]func() bool{}
	}
	h.gates[name] = up
}

// RemovePath stops sending and watching on a path.
func (h *heartbeat) RemovePath(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, p := range h.paths {
		if p.name == name {
			h.paths = append(h.paths[:i], h.paths[i+1:]...)
			h.wakeLocked()
			return
		}
	}
}

// Received feeds a beat that arrived on path (payload as sent by the
// remote's heartbeat; any payload counts). Beats on a path not added, or
// before Start or after Stop, are ignored.
func (h *heartbeat) Received(path string, payload []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pathLocked(path)
	if p == nil || h.state != hbRunning {
		return
	}
	now := time.Now()
	if p.silent {
		p.silent = false
		h.pending = append(h.pending, Event{Type: EventHeartbeatRecovered, At: now, Path: path, Since: p.lastHeard, Duration: now.Sub(p.lastHeard)})
	}
	p.lastHeard = now
	h.wakeLocked()
}

// Start begins sending and watching; every path's silence clock starts
// now. It does nothing when Disabled, or a second time.
func (h *heartbeat) Start() {
	h.mu.Lock()
	if h.state != hbIdle || h.cfg.Disabled {
		h.mu.Unlock()
		return
	}
	if h.cfgErr != nil {
		h.state = hbStopped
		h.mu.Unlock()
		h.emit(Event{Type: EventError, At: time.Now(), Err: h.cfgErr, Detail: "heartbeat not started"})
		return
	}
	h.state = hbRunning
	now := time.Now()
	for _, p := range h.paths {
		p.nextSend, p.lastHeard, p.silent = now, now, false
	}
	h.wg.Add(1)
	go h.run()
	h.mu.Unlock()
}

// Stop ends sending and detection (the remote said bye) without waiting
// for the goroutine; no event is emitted after it returns. Idempotent.
func (h *heartbeat) Stop() {
	// Under emitMu: a hand-over to emit in progress finishes first, and
	// any later one sees hbStopped.
	h.emitMu.Lock()
	h.mu.Lock()
	h.state = hbStopped
	h.pending = nil
	h.mu.Unlock()
	h.emitMu.Unlock()
	h.stop()
}

// Close stops and waits for the goroutine. Idempotent.
func (h *heartbeat) Close() {
	h.Stop()
	h.wg.Wait()
}

func (h *heartbeat) pathLocked(name string) *hbPath {
	for _, p := range h.paths {
		if p.name == name {
			return p
		}
	}
	return nil
}

func (h *heartbeat) wakeLocked() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// hbSend is one beat due.
type hbSend struct {
	send    func(ctx context.Context, payload []byte) error
	payload []byte
	up      func() bool // the path's gate, or nil
}

// run sends beats when due and raises timeouts at lastHeard+Interval+Timeout.
func (h *heartbeat) run() {
	defer h.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		sends, next, ok := h.tick()
		if !ok {
			return
		}
		h.flush()
		for _, s := range sends {
			if s.up != nil && !s.up() {
				continue // gated: not sent, a beat lost
			}
			// A send that blocks costs at most one Interval of
			// detection delay; the beat is lost, as on a bad path.
			ctx, cancel := context.WithTimeout(h.ctx, h.cfg.Interval)
			_ = s.send(ctx, s.payload) // a lost beat is what the remote's timeout is for
			cancel()
		}
		timer.Reset(time.Until(next))
		select {
		case <-timer.C:
		case <-h.wake:
		case <-h.ctx.Done():
			return
		}
	}
}

// tick takes the beats due and raises the timeouts due at the current
// time, and returns when the next thing is due; false once stopped.
func (h *heartbeat) tick() (sends []hbSend, next time.Time, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != hbRunning {
		return nil, time.Time{}, false
	}
	now := time.Now()
	next = now.Add(h.cfg.Timeout) // nothing sooner without paths; AddPath wakes run
	for _, p := range h.paths {
		if !now.Before(p.nextSend) {
			p.seq++
			payload, err := json.Marshal(beat{Seq: p.seq, Path: p.name})
			if err == nil && p.send != nil { // Marshal cannot fail on two plain fields
				sends = append(sends, hbSend{send: p.send, payload: payload, up: h.gates[p.name]})
			}
			// Keep to the schedule; after a stall, start again from now
			// rather than sending the missed beats in a burst.
			p.nextSend = p.nextSend.Add(h.cfg.Interval)
			if !p.nextSend.After(now) {
				p.nextSend = now.Add(h.cfg.Interval)
			}
		}
		deadline := p.lastHeard.Add(h.cfg.Interval + h.cfg.Timeout)
		if !p.silent && !now.Before(deadline) {
			p.silent = true
			h.pending = append(h.pending, Event{Type: EventHeartbeatTimeout, At: now, Path: p.name, Since: p.lastHeard, Duration: now.Sub(p.lastHeard)})
		}
		if p.nextSend.Before(next) {
			next = p.nextSend
		}
		if !p.silent && deadline.Before(next) {
			next = deadline
		}
	}
	return sends, next, true
}

// flush hands the pending events to emit, in order. Stop empties
// pending under emitMu, so nothing is emitted after Stop returns.
func (h *heartbeat) flush() {
	h.emitMu.Lock()
	defer h.emitMu.Unlock()
	h.mu.Lock()
	evs := h.pending
	h.pending = nil
	h.mu.Unlock()
	for _, e := range evs {
		h.emit(e)
	}
}

// signalingUp is the gate of the signaling path's beats (SetGate): the
// signaling client is connected. While it is down, Client.Send queues
// what it is given for the next connection, in one queue (QueueLimit,
// default 256) shared by every peer of the id: a beat every Interval
// would fill it in 256 s, after which lock requests fail at once with
// ErrQueueFull and Close's bye is dropped, and the beats kept would reach
// the remote in a stale burst on reconnect. A beat skipped is a beat
// lost, which is what the remote's heartbeat is there to notice. The
// state is read just before the send: a disconnection in between queues
// one beat at most.
func (p *GoPeer) signalingUp() bool {
	return p.client.State() == signaling.StateConnected
}
