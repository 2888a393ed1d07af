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
//	Acquire ─▶ create (channel, track) ─▶ offer ─▶ answer applied (stable) ─▶ settle ─▶ release
//
// pion fires negotiationneeded on its own goroutine as soon as the thing
// is created. The negotiator ignores it while an operation is pending
// (that operation's body will carry the change in its own offer) and
// otherwise negotiates under the lock only if something is still not in
// the descriptions: after every exchange it is kicked again, so a change
// that missed an offer gets one more locked negotiation.

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
		if always || p.needsNegotiation() {
			return p.negotiate(ctx, false)
		}
		return nil
	})
}

// negotiate offers (restarting ICE if asked), waits for the answer, then
// keeps the lock for SettleDelay (the seed releases "a short delay after
// stable"). It must run under the pair lock.
func (p *GoPeer) negotiate(ctx context.Context, iceRestart bool) error {
	p.negMu.Lock()
	pc := p.currentPC()
	wait, err := p.offerLocked(pc, iceRestart)
	p.negMu.Unlock()
	if err != nil {
		return err
	}
	select {
	case err := <-wait:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return fmt.Errorf("%w: %s got no answer from %s: %w", ErrNegotiation, p.cfg.ID, p.cfg.RemoteID, ctx.Err())
	case <-p.ctx.Done():
		return p.closedErr()
	}
	if st := pc.SignalingState(); st != webrtc.SignalingStateStable {
		return fmt.Errorf("%w: %s is %s after the answer, want stable", ErrNegotiation, p.cfg.ID, st)
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

// lockNegotiate is the negotiator's turn under GlareLock.
func (p *GoPeer) lockNegotiate() error {
	p.mu.Lock()
	busy := p.ops > 0
	p.mu.Unlock()
	if busy || !p.needsNegotiation() {
		return nil
	}
	err := p.lock.Acquire(p.ctx, func(ctx context.Context) error {
		if !p.needsNegotiation() {
			return nil
		}
		return p.negotiate(ctx, false)
	})
	if err != nil {
		return fmt.Errorf("peer %s: negotiation for negotiationneeded: %w", p.cfg.ID, err)
	}
	return nil
}
