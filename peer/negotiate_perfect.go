package peer

import (
	"fmt"

	"github.com/pion/webrtc/v4"
)

// GlarePerfect: perfect negotiation (politeness by id). Operations create
// their thing at once and kick the negotiator, which offers whenever
// signaling is stable and something needs negotiating; a remote offer
// that arrives while we have one outstanding is a collision:
//
//   - impolite side: ignore the remote offer (textbook); the polite side
//     answers ours.
//   - polite side: the textbook rolls its own offer back, which pion
//     v4.2.1 refuses (checkNextSignalingState rejects have-local-offer ->
//     SetLocal(rollback) -> stable). Where that loses nothing, before any
//     exchange has completed, swapLocked emulates the rollback: a fresh
//     RTCPeerConnection replaces the old one, the pending channels and
//     tracks are re-created on it (Channel handles keep working), and the
//     remote offer is accepted. After the first exchange the collision
//     fails with ErrUnsupported (perfectErr) and signaling stays wedged:
//     use GlareLock for sessions that renegotiate.
//
// An offer of ours that pion has set but that could not be sent
// (unsentLocked) would block every later offer for good, pion having no
// rollback: the negotiator sends that same offer again at its next turn,
// and retries it with backoff until it is out; the answer to it lets the
// next offer (an ICE restart still wanted, say) go. Only an offer that
// never reached the remote is sent again: a duplicate could reach a
// polite remote that has offered since, a collision a polite pion cannot
// survive. (An offer whose answer we refused stays as it was.)

// perfectNegotiate is the negotiator's turn under GlarePerfect.
func (p *GoPeer) perfectNegotiate() error {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	if p.isClosed() {
		return nil
	}
	p.mu.Lock()
	wedged := p.perfectErr != nil
	p.mu.Unlock()
	pc := p.currentPC()
	if wedged {
		return nil
	}
	if p.unsentLocked(pc) {
		if _, err := p.resendOfferLocked(pc); err != nil {
			return fmt.Errorf("peer %s: perfect negotiation: %w", p.cfg.ID, err)
		}
		return nil
	}
	if pc.SignalingState() != webrtc.SignalingStateStable || !p.needsNegotiationLocked(pc) {
		return nil
	}
	if _, err := p.offerLocked(pc, p.restartPending); err != nil {
		return fmt.Errorf("peer %s: perfect negotiation: %w", p.cfg.ID, err)
	}
	return nil
}

// perfectCollisionLocked handles a remote offer that arrived in state st
// (not stable). It returns the pion peer to apply the offer to, or false
// when the offer is not to be applied.
func (p *GoPeer) perfectCollisionLocked(pc *webrtc.PeerConnection, st webrtc.SignalingState) (*webrtc.PeerConnection, bool) {
	if !p.polite {
		p.ignoreOffer = true
		p.emit(Event{Type: EventGlare, Detail: "ignored the remote offer (impolite side)"})
		if p.unsentLocked(pc) {
			// The polite side is to take ours instead, which it has
			// never had: send it.
			p.kickNegotiator()
		}
		return nil, false
	}
	if p.exchanges > 0 {
		p.emit(Event{Type: EventGlare, Detail: "cannot roll back after the first exchange (ErrUnsupported)"})
		err := fmt.Errorf("%w: perfect negotiation: an offer from %s collided with %s's own (%s) after the first exchange; pion v4.2.1 cannot roll back a local offer (SetLocalDescription(rollback) is rejected), so the polite pion side can neither accept it nor withdraw its own; use GlareLock for sessions that renegotiate",
			ErrUnsupported, p.cfg.RemoteID, p.cfg.ID, st)
		p.mu.Lock()
		if p.perfectErr == nil {
			p.perfectErr = err
		}
		p.notifyLocked()
		p.mu.Unlock()
		p.finishOfferLocked(err)
		p.emitErr(err)
		return nil, false
	}
	p.emit(Event{Type: EventGlare, Detail: "rolled back by replacing the never-negotiated peer connection (polite side)"})
	npc, err := p.swapLocked(pc)
	if err != nil {
		p.emitErr(err)
		return nil, false
	}
	return npc, true
}

// swapLocked replaces old, which has never completed an exchange, with a
// fresh pion peer carrying the same pending channels and tracks: the
// rollback pion cannot do, done where it is lossless.
func (p *GoPeer) swapLocked(old *webrtc.PeerConnection) (*webrtc.PeerConnection, error) {
	npc, err := p.newPC()
	if err != nil {
		return nil, fmt.Errorf("%w: polite rollback emulation: %w", ErrNegotiation, err)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = npc.Close()
		return nil, p.closedErr()
	}
	p.pc = npc
	hadHB := p.hbDC != nil
	p.hbDC = nil
	var locals []*channel
	for _, ch := range p.local {
		if !ch.isClosed() {
			locals = append(locals, ch)
		}
	}
	senders := append([]*mediaSender(nil), p.senders...)
	p.mu.Unlock()

	p.recordState(machineSignaling, npc.SignalingState().String())
	p.recordState(machineICE, npc.ICEConnectionState().String())
	p.recordState(machineConnection, npc.ConnectionState().String())
	if hadHB {
		p.ensureHeartbeatChannel(npc)
	}
	for _, ch := range locals {
		dc, err := npc.CreateDataChannel(ch.label, ch.opts.init())
		if err != nil {
			ch.fail(fmt.Errorf("%w: re-creating channel %q on the replacement peer: %w", ErrNegotiation, ch.label, err))
			continue
		}
		ch.bind(dc)
	}
	for _, ms := range senders {
		s, err := npc.AddTrack(ms.track)
		if err != nil {
			p.emitErr(fmt.Errorf("%w: re-adding track %q on the replacement peer: %w", ErrNegotiation, ms.track.ID(), err))
			continue
		}
		ms.setSender(s)
	}
	p.exchanges = 0
	p.offerWait = nil
	p.ignoreOffer = false
	p.swaps++
	p.outMu.Lock()
	p.candBuf = nil // the old peer's; its sockets close now
	p.outMu.Unlock()
	if err := old.Close(); err != nil {
		p.emitErr(fmt.Errorf("peer %s: closing the replaced pion peer: %w", p.cfg.ID, err))
	}
	return npc, nil
}

// Swaps counts the polite rollback emulations (GlarePerfect), for tests
// and reports.
func (p *GoPeer) Swaps() int {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	return p.swaps
}
