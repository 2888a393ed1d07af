package peer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/netlab/netlab/internal/feed"
)

// Reconnect policy (unless Config.Reconnect.Disabled), once the session
// has been connected:
//
//	ICE disconnected ──DisconnectedGrace──▶ ICE restart ─┐
//	ICE failed ───────────────at once─────▶ ICE restart ─┤ error: backoff 250 ms .. 5 s (seeded jitter), again
//	                                                      └ connected: done
//
// Who restarts: under GlareLock both sides may, each under the pair lock.
// A side that gets the lock after the remote restarted waits for that
// restart and restarts only if it fails; one that gets it while ICE is
// connected again does nothing. So one restart serves both and it works
// whichever side noticed first (or alone, against a remote without this
// policy). Under GlarePerfect only the impolite side restarts: two
// crossing restart offers would be a collision that a polite pion cannot
// roll back.
// While signaling is down the policy waits for it rather than queue a
// restart in the client; the signaling heartbeat is not sent meanwhile
// either (signalingUp), so nothing periodic of ours fills the client's
// queue, which every peer of the id shares. A remote that said bye is not
// restarted.
//
// Events: EventDisconnected when ICE first leaves connected (Duration:
// from the last packet heard on the selected pair, else from the last
// time it connected), EventRestart for each restart (either side),
// EventRecovered when ICE connects again (Duration: from detection).

const (
	restartBackoffMin = 250 * time.Millisecond
	restartBackoffMax = 5 * time.Second
)

// reconnectState is the ICE history the policy needs; guarded by mu.
type reconnectState struct {
	ice          webrtc.ICEConnectionState
	up           bool   // connected or completed now
	ever         bool   // connected at least once
	connectedSeq uint64 // transitions into connected
	failedSeq    uint64 // transitions into failed
	checkingSeq  uint64 // transitions into checking
	// failedChecking is checkingSeq at the latest failure: a failure
	// belongs to the checks (or restart) that checkingSeq counts.
	failedChecking uint64
	lastConnected  time.Time
	detectedAt     time.Time // set while a disconnection is not yet recovered
	// The remote's ICE restarts: how many, the connected count when the
	// latest began (it serves the outage it began in), and checkingSeq
	// just before it was applied (its own checking comes after).
	remoteRestarts        uint64
	remoteRestartSeq      uint64
	remoteRestartChecking uint64
}

// note takes ICE's new state s (at now; lastRx: the last packet heard)
// and returns the event it makes, if any.
func (rc *reconnectState) note(s webrtc.ICEConnectionState, now, lastRx time.Time) *Event {
	var ev *Event
	rc.ice = s
	switch s {
	case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
		if !rc.up {
			rc.up = true
			rc.connectedSeq++
			rc.lastConnected = now
		}
		rc.ever = true
		if !rc.detectedAt.IsZero() {
			ev = &Event{Type: EventRecovered, At: now, Since: rc.detectedAt, Duration: now.Sub(rc.detectedAt), Detail: "ice " + s.String()}
			rc.detectedAt = time.Time{}
		}
	case webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateFailed:
		rc.up = false
		if s == webrtc.ICEConnectionStateFailed {
			rc.failedSeq++
			rc.failedChecking = rc.checkingSeq
		}
		if rc.ever && rc.detectedAt.IsZero() {
			from := rc.lastConnected
			if lastRx.After(from) && !lastRx.After(now) {
				from = lastRx
			}
			rc.detectedAt = now
			ev = &Event{Type: EventDisconnected, At: now, Since: from, Duration: now.Sub(from), Detail: "ice " + s.String()}
		}
	case webrtc.ICEConnectionStateChecking:
		rc.up = false
		rc.checkingSeq++
	default:
		rc.up = false
	}
	return ev
}

// remoteBegan notes a restart the remote began; checking is checkingSeq
// from before its offer was applied.
func (rc *reconnectState) remoteBegan(checking uint64) {
	rc.remoteRestarts++
	rc.remoteRestartSeq = rc.connectedSeq
	rc.remoteRestartChecking = checking
}

// remoteRestartEnd says how the remote's latest restart, begun while the
// connected count was seq, ended so far: ICE connected since, or the
// restart's own checks failed (a failure of the checks before it does
// not count).
func (rc *reconnectState) remoteRestartEnd(seq uint64) (connected, failed bool) {
	return rc.connectedSeq > seq, rc.failedChecking > rc.remoteRestartChecking
}

// onICEState tracks ICE for the events and the policy.
func (p *GoPeer) onICEState(s webrtc.ICEConnectionState) {
	now := time.Now()
	p.recordState(machineICE, s.String())
	lastRx := p.gnet.lastReceived()
	p.mu.Lock()
	ev := p.rc.note(s, now, lastRx)
	p.notifyLocked()
	p.mu.Unlock()
	if ev != nil {
		p.emit(*ev)
	}
	p.iceQ.Push(s)
}

// Restart does an ICE restart (under the pair lock, or by perfect
// negotiation) and returns once ICE is connected again.
func (p *GoPeer) Restart(ctx context.Context) error {
	if p.isClosed() {
		return p.closedErr()
	}
	if p.cfg.Glare == GlarePerfect {
		return p.perfectRestart(ctx, "requested")
	}
	return p.lock.Acquire(ctx, func(ctx context.Context) error {
		return p.restartBody(ctx, "requested", false)
	})
}

// restartWait bounds the wait for ICE after a restart offer: pion gives
// up on a checking agent after its disconnected and failed timeouts.
func (p *GoPeer) restartWait() time.Duration {
	return p.cfg.ICE.Disconnected + p.cfg.ICE.Failed + time.Second
}

func (p *GoPeer) iceMarks() (up bool, connected, failed uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rc.up, p.rc.connectedSeq, p.rc.failedSeq
}

// checkingMark is the count of transitions into checking so far. Taken
// before a restart offer is applied, it tells that restart's checks (and
// their failure) from earlier ones: pion reports states from a queue of
// its own, so a failure of the old checks can still arrive after the
// restart offer was applied, and the restart's checking after that.
func (p *GoPeer) checkingMark() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rc.checkingSeq
}

// remoteRestartBegun notes and reports an ICE restart the remote began;
// checking is checkingMark from before its offer was applied.
func (p *GoPeer) remoteRestartBegun(checking uint64) {
	p.mu.Lock()
	p.rc.remoteBegan(checking)
	p.mu.Unlock()
	p.emit(Event{Type: EventRestart, Detail: "remote ICE restart"})
}

// remoteRestart is the remote's latest ICE restart: its number, and the
// connected count when it began.
func (p *GoPeer) remoteRestart() (n, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rc.remoteRestarts, p.rc.remoteRestartSeq
}

// restartBody runs under the pair lock: offer with ICERestart, then wait
// for ICE to connect (or fail) again.
func (p *GoPeer) restartBody(ctx context.Context, why string, skipIfUp bool) error {
	up, seq, fseq := p.iceMarks()
	if skipIfUp && up {
		return nil
	}
	p.emit(Event{Type: EventRestart, Detail: why})
	if err := p.negotiate(ctx, true); err != nil {
		return fmt.Errorf("peer %s: ICE restart: %w", p.cfg.ID, err)
	}
	return p.waitReconnected(ctx, seq, fseq)
}

// waitRemoteRestart waits for the remote's latest restart (begun while
// the connected count was seq): nil once ICE connects, an error once the
// restart's own checks failed, or after restartWait.
func (p *GoPeer) waitRemoteRestart(ctx context.Context, seq uint64) error {
	wctx, cancel := context.WithTimeout(ctx, p.restartWait())
	defer cancel()
	return p.waitFor(wctx, "the remote's ICE restart", func() (bool, error) {
		p.mu.Lock()
		connected, failed := p.rc.remoteRestartEnd(seq)
		p.mu.Unlock()
		switch {
		case connected:
			return true, nil
		case failed:
			return false, fmt.Errorf("peer %s: the remote's ICE restart failed", p.cfg.ID)
		}
		return false, p.perfectError()
	})
}

func (p *GoPeer) waitReconnected(ctx context.Context, seq, fseq uint64) error {
	wctx, cancel := context.WithTimeout(ctx, p.restartWait())
	defer cancel()
	return p.waitFor(wctx, "ICE to connect after the restart", func() (bool, error) {
		_, c, f := p.iceMarks()
		if c > seq {
			return true, nil
		}
		if f > fseq {
			return false, fmt.Errorf("peer %s: ICE failed again after the restart", p.cfg.ID)
		}
		return false, p.perfectError()
	})
}

// perfectRestart asks the negotiator for an ICE restart offer.
func (p *GoPeer) perfectRestart(ctx context.Context, why string) error {
	_, seq, fseq := p.iceMarks()
	p.negMu.Lock()
	p.restartPending = true
	p.negMu.Unlock()
	p.emit(Event{Type: EventRestart, Detail: why})
	p.kickNegotiator()
	return p.waitReconnected(ctx, seq, fseq)
}

func (p *GoPeer) policyActive() bool {
	if p.cfg.Reconnect.Disabled || (p.cfg.Glare == GlarePerfect && p.polite) {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rc.ever && !p.bye && !p.closed
}

// reconnectLoop applies the policy to the ICE states as they come.
func (p *GoPeer) reconnectLoop() {
	var graceAt time.Time
	for {
		ctx, cancel := p.ctx, context.CancelFunc(func() {})
		if !graceAt.IsZero() {
			ctx, cancel = context.WithDeadline(p.ctx, graceAt)
		}
		s, err := p.iceQ.Pop(ctx)
		cancel()
		if p.ctx.Err() != nil || errors.Is(err, feed.ErrClosed) {
			return
		}
		if err != nil { // the grace period is over
			graceAt = time.Time{}
			s = p.iceNow()
			if s != webrtc.ICEConnectionStateDisconnected && s != webrtc.ICEConnectionStateFailed {
				continue
			}
			p.recover(fmt.Sprintf("ICE %s for %v", s, p.cfg.Reconnect.DisconnectedGrace))
			graceAt = p.afterRecover()
			continue
		}
		if !p.policyActive() {
			graceAt = time.Time{}
			continue
		}
		switch s {
		case webrtc.ICEConnectionStateDisconnected:
			if graceAt.IsZero() {
				graceAt = time.Now().Add(p.cfg.Reconnect.DisconnectedGrace)
			}
		case webrtc.ICEConnectionStateFailed:
			p.recover("ICE failed")
			graceAt = p.afterRecover()
		case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted, webrtc.ICEConnectionStateClosed:
			graceAt = time.Time{}
		}
	}
}

func (p *GoPeer) iceNow() webrtc.ICEConnectionState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rc.ice
}

// afterRecover drops the states queued while recovering and starts a
// grace period if ICE is disconnected now.
func (p *GoPeer) afterRecover() time.Time {
	for {
		if _, ok := p.iceQ.TryPop(); !ok {
			break
		}
	}
	if p.iceNow() == webrtc.ICEConnectionStateDisconnected && p.policyActive() {
		return time.Now().Add(p.cfg.Reconnect.DisconnectedGrace)
	}
	return time.Time{}
}

// recover restarts ICE until it connects, with backoff, while the policy
// holds.
func (p *GoPeer) recover(why string) {
	backoff := restartBackoffMin
	var served uint64 // the remote restarts already waited for
	for attempt := 1; ; attempt++ {
		if up, _, _ := p.iceMarks(); up || !p.policyActive() {
			return
		}
		if err := p.client.WaitConnected(p.ctx); err != nil {
			return
		}
		detail := fmt.Sprintf("%s (attempt %d)", why, attempt)
		ctx, cancel := context.WithTimeout(p.ctx, p.cfg.LockTimeout+2*p.restartWait()+p.cfg.SettleDelay)
		var err error
		if p.cfg.Glare == GlarePerfect {
			err = p.perfectRestart(ctx, detail)
		} else {
			_, seq, _ := p.iceMarks()
			err = p.lock.Acquire(ctx, func(ctx context.Context) error {
				// The remote may have restarted for this outage (since
				// ICE was last connected), before or while we waited for
				// the lock: its restart is ours too. pion can report the
				// new connection a moment after the remote released the
				// lock, so "connected now?" alone would restart again;
				// wait for that restart first (once), and restart when
				// it fails or does not connect within restartWait. Only a
				// failure of the restart's own checks counts: the one
				// that set off this outage's restarts can be reported
				// after the remote's restart began. (Waiting out
				// restartWait for a restart that had already failed held
				// the lock 7 s, and the remote's next attempt timed out
				// on it: 1 run in 75 of the long outage cases under load.)
				if n, rseq := p.remoteRestart(); n != served && rseq == seq {
					served = n
					if p.waitRemoteRestart(ctx, rseq) == nil {
						return nil
					}
				}
				return p.restartBody(ctx, detail, true)
			})
		}
		cancel()
		if err == nil || p.ctx.Err() != nil {
			return
		}
		p.emitErr(fmt.Errorf("peer %s: ICE restart attempt %d: %w", p.cfg.ID, attempt, err))
		p.mu.Lock()
		wait := backoff/2 + time.Duration(p.rng.Int64N(int64(backoff/2)))
		p.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
			return
		}
		backoff = min(2*backoff, restartBackoffMax)
	}
}

// onBye: the remote closed on purpose; stop heartbeats and the policy.
func (p *GoPeer) onBye() {
	p.mu.Lock()
	p.bye = true
	p.notifyLocked()
	p.mu.Unlock()
	p.hb.Stop()
	p.emit(Event{Type: EventBye, Detail: p.cfg.RemoteID + " closed"})
}
