package peer

import (
	"context"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"
)

// GlareLock: every signal-producing operation is one body under the pair
// lock that creates its thing and then negotiates it itself:
//
//	Acquire ─▶ create (channel, track) ─▶ [re-send an unanswered offer ─▶ its answer] ─▶ offer ─▶ answer applied (stable) ─▶ settle ─▶ release
//
// pion fires negotiationneeded on its own goroutine as soon as the thing
// is created. The negotiator ignores it while an operation is pending
// (that operation's body will carry the change in its own offer) and
// otherwise negotiates under the lock only if something is still not in
// the descriptions: after every exchange it is kicked again, so a change
// that missed an offer gets one more locked negotiation.
//
// An offer that pion has set cannot be withdrawn (no rollback in v4.2.1):
// if it could not be sent, the body sends it again with backoff for as
// long as its context lasts, keeping the lock so that the remote does not
// offer across it (and the negotiator goes on trying once the body has
// given up); if its answer does not come in time, it is left unanswered
// and the next body on this side (an operation's, or the negotiator's,
// which is kicked after every operation) sends it again before anything
// else. The remote must not offer across it: two pion peers would be
// left with an offer each that the other ignores (onOffer), for good. So
// the lock never goes to the remote while an offer of ours is unanswered
// without that offer going out again first (ahead of the lockResponse on
// the wire): once more as a body gives up (a request deferred meanwhile
// is answered at release), and on a lockRequest that finds us not holding
// the lock (resendBeforeGrant).

// negotiatorWait bounds a negotiation of the negotiator's own (it has no
// caller's context): an answer that has not come by then was lost, and
// the offer is left for the next negotiation to send again.
const negotiatorWait = 10 * time.Second

// lockedOp runs create and, when needed (or always), a negotiation, as one
// body under the pair lock.
func (p *GoPeer) lockedOp(ctx context.Context, create func() error, always bool) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return p.closedErr()
	}
	p.ops++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.ops--
		p.mu.Unlock()
		p.kickNegotiator()
	}()
	return p.lock.Acquire(ctx, func(ctx context.Context) error {
		if create != nil {
			if err := create(); err != nil {
				return err
			}
		}
		return p.negotiateUnderLock(ctx, false, always)
	})
}

// negotiate offers (restarting ICE if asked), waits for the answer, then
// keeps the lock for SettleDelay (the seed releases "a short delay after
// stable"). It must run under the pair lock.
func (p *GoPeer) negotiate(ctx context.Context, iceRestart bool) error {
	err := p.negotiateUnderLock(ctx, iceRestart, true)
	if err != nil && p.offerUnsent() {
		p.kickNegotiator() // which sends it, with backoff, until it is out
	}
	return err
}

// negotiateUnderLock first sends an unanswered offer of ours again
// (unansweredLocked) and waits for its answer: pion can offer nothing
// else before. Then, if always or if something still needs it, it offers
// (restarting ICE if asked: a re-sent restart offer does not do, as ICE
// may have failed since and dropped its candidates) and waits for the
// answer. The lock is kept for SettleDelay after the last answer. It must
// run under the pair lock.
func (p *GoPeer) negotiateUnderLock(ctx context.Context, iceRestart, always bool) error {
	pc := p.currentPC()
	p.negMu.Lock()
	pending := p.unansweredLocked(pc)
	p.negMu.Unlock()
	exchanged := false
	if pending {
		if err := p.exchange(ctx, pc, p.resendUnlessAnsweredLocked); err != nil {
			return err
		}
		exchanged = true
	}
	if always || p.needsNegotiation() {
		if iceRestart {
			if err := p.waitGathered(ctx, pc); err != nil {
				return err
			}
		}
		err := p.exchange(ctx, pc, func() (chan error, error) { return p.offerLocked(pc, iceRestart) })
		if err != nil {
			return err
		}
		exchanged = true
	}
	if !exchanged {
		return nil
	}
	t := time.NewTimer(p.cfg.SettleDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-p.ctx.Done():
	}
	return nil
}

// exchange sends an offer with send (under negMu: a new offer, or the
// unanswered one again) and waits for its answer, within ctx. An offer
// that fails to send stays pending: it is sent again, with backoff (250
// ms doubling to 5 s), until it goes out or ctx ends. An offer whose
// answer has not come when ctx ends is left unanswered (no one waits for
// it any more), for the next negotiation to send again; an answer that
// comes later is still applied.
func (p *GoPeer) exchange(ctx context.Context, pc *webrtc.PeerConnection, send func() (chan error, error)) error {
	backoff := restartBackoffMin
	var wait chan error
	for {
		p.negMu.Lock()
		w, err := send()
		unsent := err != nil && p.unsentLocked(pc)
		p.negMu.Unlock()
		if err == nil {
			wait = w
			break
		}
		if !unsent {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			p.negMu.Lock()
			last := p.sendAgainLocked(pc, nil, " as the lock is released") // once more, as below
			p.negMu.Unlock()
			if last == nil {
				return fmt.Errorf("%w: %s could send its offer to %s only as it stopped waiting, with no time left for the answer (the offer stays pending, to be sent again by the next negotiation): %w", ErrNegotiation, p.cfg.ID, p.cfg.RemoteID, ctx.Err())
			}
			return fmt.Errorf("%w; still not sent when %w", last, ctx.Err())
		case <-p.ctx.Done():
			t.Stop()
			return p.closedErr()
		}
		backoff = min(2*backoff, restartBackoffMax)
		send = p.resendUnlessAnsweredLocked
	}
	select {
	case err := <-wait:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		p.negMu.Lock()
		if p.offerWait == wait {
			p.offerWait = nil
			// Once more, without waiting, before the lock goes: a remote
			// request deferred meanwhile is answered at release, and the
			// remote must have our offer before it may offer itself.
			_ = p.sendAgainLocked(pc, nil, " as the lock is released")
		}
		p.negMu.Unlock()
		return fmt.Errorf("%w: %s got no answer from %s (its offer stays pending, to be sent again by the next negotiation): %w", ErrNegotiation, p.cfg.ID, p.cfg.RemoteID, ctx.Err())
	case <-p.ctx.Done():
		return p.closedErr()
	}
	if st := pc.SignalingState(); st != webrtc.SignalingStateStable {
		return fmt.Errorf("%w: %s is %s after the answer, want stable", ErrNegotiation, p.cfg.ID, st)
	}
	return nil
}

// resendUnlessAnsweredLocked re-sends the current pion peer's unanswered
// offer, or reports it answered at once if its answer came meanwhile (late,
// or to a copy sent before a lock grant).
func (p *GoPeer) resendUnlessAnsweredLocked() (chan error, error) {
	pc := p.currentPC()
	if !p.isClosed() && pc.SignalingState() == webrtc.SignalingStateStable {
		done := make(chan error, 1)
		done <- nil
		return done, nil
	}
	return p.resendOfferLocked(pc)
}

// waitGathered waits, within ctx, until pc is not gathering: pion
// refuses to restart ICE while it gathers ("attempting to gather
// candidates during gathering state"), as it does just after it applied
// the remote's restart offer, such as a re-sent offer of the remote's
// taken just before it granted us the lock (resendBeforeGrant).
func (p *GoPeer) waitGathered(ctx context.Context, pc *webrtc.PeerConnection) error {
	if pc.ICEGatheringState() != webrtc.ICEGatheringStateGathering {
		return nil
	}
	select {
	case <-webrtc.GatheringCompletePromise(pc):
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %s waiting for ICE gathering to end before restarting ICE: %w", ErrNegotiation, p.cfg.ID, ctx.Err())
	case <-p.ctx.Done():
		return p.closedErr()
	}
}

// lockNegotiate is the negotiator's turn under GlareLock.
func (p *GoPeer) lockNegotiate() error {
	p.mu.Lock()
	busy := p.ops > 0
	p.mu.Unlock()
	if busy || !p.needsNegotiation() {
		return nil
	}
	err := p.lock.Acquire(p.ctx, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, negotiatorWait)
		defer cancel()
		return p.negotiateUnderLock(ctx, false, false)
	})
	if err != nil {
		return fmt.Errorf("peer %s: negotiation for negotiationneeded: %w", p.cfg.ID, err)
	}
	return nil
}
