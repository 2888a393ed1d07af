package peer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netlab/netlab/peer/signaling"
)

// DefaultLockTimeout is the seed's lock timeout (PROTOCOL.md).
const DefaultLockTimeout = 5 * time.Second

// maxDeferred bounds the remote requests kept for answering at release; a
// remote that floods requests loses its oldest ones (their requesters
// have long timed out).
const maxDeferred = 256

// lockConfig configures a pairLock.
type lockConfig struct {
	Local, Remote string        // ids; Local < Remote (string compare) means Local is polite
	Timeout       time.Duration // from sending lockRequest to lockResponse; default 5 s
	// Send sends a lockRequest or lockResponse (typ) to Remote, with data (may be nil).
	Send func(ctx context.Context, typ string, data any) error
}

// lockData is the data of our lockRequest; the remote echoes it in its
// lockResponse, so a response is matched to exactly one request. Epoch
// tells this instance from an earlier one under the same id (a restart);
// it is a string so a JavaScript peer echoes it without rounding.
type lockData struct {
	Seq   uint64 `json:"seq"`
	Epoch string `json:"epoch"`
}

// lockInstances tells apart pairLocks created in the same nanosecond
// (synctest bubbles start every clock at the same instant).
var lockInstances atomic.Uint64

// pairLock is the pair mutex of PROTOCOL.md (the seed's acquireLock): at
// most one side of a pair runs a signal-producing body at a time.
//
//	Acquire ─▶ local queue (call order) ─head─▶ lockRequest ──▶ remote
//	                                              ◀── lockResponse ── (at once, or when it releases)
//	          body(ctx) ─▶ release: answer deferred requests, wake the next in queue
//
// A side answers a lockRequest at once unless it holds the lock, or is
// waiting for its own response and is the impolite side (Local > Remote);
// then it answers when it releases. Every message goes out through one
// outbox goroutine, in the order the decisions were taken: that order is
// what makes the protocol safe (a response sent while idle must reach the
// remote before our next request).
//
// Our lockRequest carries lockData and the remote echoes the data it got,
// so a late response (to a request that timed out) never grants a later
// one. A response without data (the JavaScript reference sends none)
// grants the request outstanding, as the reference does; see
// grantsCurrent for the one case that cannot be told apart.
type pairLock struct {
	cfg    lockConfig // read-only
	cfgErr error      // read-only: Acquire refuses to run when set
	polite bool       // read-only
	epoch  string     // read-only

	ctx       context.Context // canceled by Close: ends the outbox, cancels bodies
	stop      context.CancelFunc
	wake      chan struct{} // outbox has work
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu       sync.Mutex
	closed   bool              // guarded by mu
	queue    []*lockTurn       // guarded by mu: local acquirers in call order; queue[0] has the turn
	seq      uint64            // guarded by mu: last request seq
	cur      *lockReq          // guarded by mu: the request outstanding or granted; nil when idle
	holding  bool              // guarded by mu
	deferred []json.RawMessage // guarded by mu: data of remote requests to answer at release
	outbox   []lockOut         // guarded by mu: messages to send, in decision order
}

// lockTurn is one local Acquire waiting for its turn.
type lockTurn struct {
	ready chan struct{} // closed when the turn is at the head of the queue
}

// lockReq is one lockRequest of ours.
type lockReq struct {
	seq     uint64
	sent    bool          // guarded by pairLock.mu: handed to Send
	dropped bool          // guarded by pairLock.mu: abandoned before it was sent
	granted bool          // guarded by pairLock.mu
	grant   chan struct{} // closed when granted
	failed  chan struct{} // closed when Send failed (err set first)
	err     error         // guarded by pairLock.mu
}

// lockOut is a message waiting in the outbox: our request (req set) or a
// response (data echoes the remote's request; nil for none).
type lockOut struct {
	typ  string
	data json.RawMessage
	req  *lockReq
}

func newPairLock(cfg lockConfig) *pairLock {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultLockTimeout
	}
	ctx, stop := context.WithCancel(context.Background())
	l := &pairLock{
		cfg:    cfg,
		polite: cfg.Local < cfg.Remote,
		epoch:  strconv.FormatInt(time.Now().UnixNano(), 36) + "." + strconv.FormatUint(lockInstances.Add(1), 36),
		ctx:    ctx,
		stop:   stop,
		wake:   make(chan struct{}, 1),
	}
	switch {
	case cfg.Send == nil:
		l.cfgErr = fmt.Errorf("%w: pair lock %q-%q has no Send", ErrBadConfig, cfg.Local, cfg.Remote)
	case cfg.Local == "" || cfg.Remote == "":
		l.cfgErr = fmt.Errorf("%w: pair lock needs two ids, got local %q and remote %q", ErrBadConfig, cfg.Local, cfg.Remote)
	case cfg.Local == cfg.Remote:
		// Politeness is by id: a pair with one id has no polite side
		// and would wait on itself.
		l.cfgErr = fmt.Errorf("%w: pair lock needs two different ids, got %q twice", ErrBadConfig, cfg.Local)
	}
	l.wg.Add(1)
	go l.sendLoop()
	return l
}

// Acquire queues locally, then takes the pair mutex, runs body, releases.
// Returns body's error, or an error wrapping ErrLockTimeout / ErrClosed /
// ctx.Err(). body's context is canceled when ctx is or the lock closes.
func (l *pairLock) Acquire(ctx context.Context, body func(context.Context) error) error {
	if l.cfgErr != nil {
		return l.cfgErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("peer: %s acquiring the lock with %s: %w", l.cfg.Local, l.cfg.Remote, err)
	}
	t := &lockTurn{ready: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.closedErr()
	}
	l.queue = append(l.queue, t)
	if len(l.queue) == 1 {
		close(t.ready)
	}
	l.mu.Unlock()

	select {
	case <-t.ready:
	case <-ctx.Done():
		l.leave(t)
		return fmt.Errorf("peer: %s waiting in the lock queue for %s: %w", l.cfg.Local, l.cfg.Remote, ctx.Err())
	case <-l.ctx.Done():
		l.leave(t)
		return l.closedErr()
	}

	req, err := l.request(t)
	if err != nil {
		return err
	}
	timer := time.NewTimer(l.cfg.Timeout)
	defer timer.Stop()
	var fail error
	select {
	case <-req.grant:
	case <-timer.C:
		fail = fmt.Errorf("%w: %s got no lockResponse from %s within %v", ErrLockTimeout, l.cfg.Local, l.cfg.Remote, l.cfg.Timeout)
	case <-req.failed:
		fail = fmt.Errorf("peer: %s sending lockRequest to %s: %w", l.cfg.Local, l.cfg.Remote, req.err)
	case <-ctx.Done():
		fail = fmt.Errorf("peer: %s waiting for lockResponse from %s: %w", l.cfg.Local, l.cfg.Remote, ctx.Err())
	case <-l.ctx.Done():
		fail = l.closedErr()
	}
	if fail != nil && !l.giveUp(t, req) {
		// Granted at the same instant. A timeout loses to the grant; the
		// caller going away or the lock closing does not.
		if !errors.Is(fail, ErrLockTimeout) {
			l.release(t)
			return fail
		}
		fail = nil
	}
	if fail != nil {
		return fail
	}

	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	unhook := context.AfterFunc(l.ctx, cancel)
	defer unhook()
	defer l.release(t) // even if body panics
	return body(bctx)
}

func (l *pairLock) closedErr() error {
	return fmt.Errorf("peer: lock %s-%s: %w", l.cfg.Local, l.cfg.Remote, ErrClosed)
}

// request sends the lockRequest of the turn at the head of the queue.
func (l *pairLock) request(t *lockTurn) (*lockReq, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		l.removeLocked(t)
		return nil, l.closedErr()
	}
	l.seq++
	data, err := json.Marshal(lockData{Seq: l.seq, Epoch: l.epoch})
	if err != nil { // cannot happen: two plain fields
		l.removeLocked(t)
		return nil, fmt.Errorf("peer: lock request data: %w", err)
	}
	req := &lockReq{
		seq:    l.seq,
		grant:  make(chan struct{}),
		failed: make(chan struct{}),
	}
	l.cur = req
	l.pushLocked(lockOut{typ: signaling.TypeLockRequest, data: data, req: req})
	return req, nil
}

// giveUp abandons req unless it was granted meanwhile (then it reports
// false and the caller holds the lock). Requests the remote made while
// we waited are answered now, and the next turn goes.
func (l *pairLock) giveUp(t *lockTurn, req *lockReq) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if req.granted {
		return false
	}
	if !req.sent {
		req.dropped = true
	}
	if l.cur == req {
		l.cur = nil
	}
	l.answerDeferredLocked()
	l.removeLocked(t)
	return true
}

// release ends the hold of turn t: answer what was deferred, in order,
// then hand the turn on.
func (l *pairLock) release(t *lockTurn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holding = false
	l.cur = nil
	l.answerDeferredLocked()
	l.removeLocked(t)
}

// leave takes a turn out of the queue without it having run.
func (l *pairLock) leave(t *lockTurn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removeLocked(t)
}

// removeLocked removes t from the queue, handing the turn to the next
// one if t had it.
func (l *pairLock) removeLocked(t *lockTurn) {
	for i, x := range l.queue {
		if x != t {
			continue
		}
		l.queue = append(l.queue[:i], l.queue[i+1:]...)
		if i == 0 && len(l.queue) > 0 {
			close(l.queue[0].ready)
		}
		return
	}
}

func (l *pairLock) answerDeferredLocked() {
	if l.closed {
		l.deferred = nil
		return
	}
	for _, d := range l.deferred {
		l.pushLocked(lockOut{typ: signaling.TypeLockResponse, data: d})
	}
	l.deferred = nil
}

func (l *pairLock) pushLocked(o lockOut) {
	if l.closed {
		return
	}
	l.outbox = append(l.outbox, o)
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Handle takes a lockRequest or lockResponse from Remote; it reports false
// for any other type, and for messages between other ids.
func (l *pairLock) Handle(m signaling.Message) bool {
	if m.From != l.cfg.Remote || m.To != l.cfg.Local {
		return false
	}
	switch m.Type {
	case signaling.TypeLockRequest:
		l.onRequest(m.Data)
	case signaling.TypeLockResponse:
		l.onResponse(m.Data)
	default:
		return false
	}
	return true
}

func (l *pairLock) onRequest(data json.RawMessage) {
	if isNull(data) {
		data = nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if l.holding || (l.cur != nil && !l.polite) {
		if len(l.deferred) >= maxDeferred {
			l.deferred = l.deferred[1:]
		}
		l.deferred = append(l.deferred, data)
		return
	}
	l.pushLocked(lockOut{typ: signaling.TypeLockResponse, data: data})
}

func (l *pairLock) onResponse(data json.RawMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	req := l.cur
	if l.closed || req == nil || req.granted || !req.sent || !l.grantsCurrent(req, data) {
		return
	}
	req.granted = true
	l.holding = true
	close(req.grant)
}

// grantsCurrent reports whether a response with data answers req. With
// data it must echo req's exactly (seq and epoch). Without data (the
// JavaScript reference) it is taken for req, as the reference takes it:
// requests go one at a time, and a response sent while the remote was
// idle or releasing is a safe grant whichever request it answered. The
// one unsafe case, a polite remote's immediate answer to a request of
// ours that already timed out arriving while a later one waits, needs a
// signaling delay longer than the lock timeout; only echoed data rules
// it out.
func (l *pairLock) grantsCurrent(req *lockReq, data json.RawMessage) bool {
	if isNull(data) {
		return true
	}
	var d lockData
	if err := json.Unmarshal(data, &d); err != nil {
		return false
	}
	return d.Seq == req.seq && d.Epoch == l.epoch
}

func isNull(data json.RawMessage) bool {
	d := bytes.TrimSpace(data)
	return len(d) == 0 || bytes.Equal(d, []byte("null"))
}

// sendLoop sends the outbox in order until Close.
func (l *pairLock) sendLoop() {
	defer l.wg.Done()
	for {
		l.mu.Lock()
		if len(l.outbox) == 0 || l.closed {
			l.mu.Unlock()
			select {
			case <-l.wake:
				continue
			case <-l.ctx.Done():
				return
			}
		}
		o := l.outbox[0]
		l.outbox = l.outbox[1:]
		if o.req != nil {
			if o.req.dropped {
				l.mu.Unlock()
				continue
			}
			o.req.sent = true
		}
		l.mu.Unlock()

		var data any // a nil json.RawMessage in an interface would encode as null
		if o.data != nil {
			data = o.data
		}
		err := l.cfg.Send(l.ctx, o.typ, data)
		if err != nil && o.req != nil {
			l.mu.Lock()
			if l.cur == o.req && !o.req.granted && o.req.err == nil {
				o.req.err = err
				close(o.req.failed)
			}
			l.mu.Unlock()
		}
		// A failed response cannot be retried meaningfully: the remote
		// times out, as it would if the message were lost on the way.
	}
}

// Close fails queued and waiting acquirers with ErrClosed and waits for
// anything it started. Idempotent. A body already running keeps running,
// with its context canceled.
func (l *pairLock) Close() {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.outbox = nil
		l.deferred = nil
		l.mu.Unlock()
		l.stop()
		l.wg.Wait()
	})
}

// Waiting counts the Acquire calls queued or waiting for a lockResponse
// (not one that holds the lock), so that a test can order its calls.
func (l *pairLock) Waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holding {
		return len(l.queue) - 1
	}
	return len(l.queue)
}

// Held reports whether this side holds the lock now (for tests and
// diagnostics).
func (l *pairLock) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.holding
}
