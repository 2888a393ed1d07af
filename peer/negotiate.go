package peer

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/netlab/netlab/peer/signaling"
)

// sessionDescriptionInit is RTCSessionDescriptionInit as browsers send it.
type sessionDescriptionInit struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

// candidateInit is RTCIceCandidateInit as browsers send it: every key
// present, null when unknown.
type candidateInit struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex"`
	UsernameFragment *string `json:"usernameFragment"`
}

// ufrag is the candidate's ICE generation: its usernameFragment, else
// the ufrag extension of the candidate line (pion and Chrome add one).
func (c candidateInit) ufrag() string {
	if c.UsernameFragment != nil && *c.UsernameFragment != "" {
		return *c.UsernameFragment
	}
	return candidateUfrag(c.Candidate)
}

// candidateUfrag is the value of the "ufrag" extension of a candidate
// line, or "".
func candidateUfrag(line string) string {
	f := strings.Fields(line)
	for i := 8; i+1 < len(f); i += 2 { // extensions follow "typ T" (fields 6, 7)
		if f[i] == "ufrag" {
			return f[i+1]
		}
	}
	return ""
}

// readLoop handles the remote's messages, one at a time, in order.
func (p *GoPeer) readLoop() {
	for {
		m, err := p.sub.Recv(p.ctx)
		if err != nil {
			return
		}
		p.handleMessage(m)
	}
}

func (p *GoPeer) handleMessage(m signaling.Message) {
	// Beat on signaling only once the remote is known to be there: until
	// then there is nobody to watch, and over WebSocket a message to an
	// id nobody holds closes the sender's own socket (PROTOCOL.md), so
	// beats sent early would cut us off again and again.
	p.hbHeard.Do(func() {
		p.hb.AddPath(pathSignaling, func(ctx context.Context, payload []byte) error {
			return p.send(ctx, TypeHeartbeat, json.RawMessage(payload))
		})
	})
	switch m.Type {
	case signaling.TypeOffer, signaling.TypeAnswer:
		desc, err := decodeDescription(m)
		if err != nil {
			p.emitErr(err)
			return
		}
		if desc.Type == webrtc.SDPTypeOffer {
			p.onOffer(m, desc)
		} else {
			p.onAnswer(m, desc)
		}
	case signaling.TypeICECandidate:
		c, err := decodeCandidate(m)
		if err != nil {
			p.emitErr(err)
			return
		}
		p.onCandidate(m, c)
	case signaling.TypeLockRequest, signaling.TypeLockResponse:
		if m.Type == signaling.TypeLockRequest && m.To == p.cfg.ID {
			p.resendBeforeGrant()
		}
		if !p.lock.Handle(m) {
			p.emitErr(badSignal(m, "not addressed to the pair %s-%s", p.cfg.ID, p.cfg.RemoteID))
		}
	case TypeHeartbeat:
		p.hb.Received(pathSignaling, m.Data)
	case TypeBye:
		p.onBye()
	default:
		p.emitErr(badSignal(m, "unknown message type (want offer, answer, icecandidate, lockRequest, lockResponse, heartbeat or bye)"))
	}
}

func badSignal(m signaling.Message, format string, args ...any) error {
	return fmt.Errorf("%w: %s from %q: %s", ErrBadSignal, m.Type, m.From, fmt.Sprintf(format, args...))
}

func decodeDescription(m signaling.Message) (webrtc.SessionDescription, error) {
	var d sessionDescriptionInit
	if err := m.DecodeData(&d); err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("%w: want {\"type\",\"sdp\"}: %w", ErrBadSignal, err)
	}
	if d.Type != m.Type {
		return webrtc.SessionDescription{}, badSignal(m, "data has type %q, want %q", d.Type, m.Type)
	}
	if !strings.HasPrefix(strings.TrimSpace(d.SDP), "v=") {
		return webrtc.SessionDescription{}, badSignal(m, "sdp does not start with v= (got %d bytes)", len(d.SDP))
	}
	return webrtc.SessionDescription{Type: webrtc.NewSDPType(d.Type), SDP: d.SDP}, nil
}

func decodeCandidate(m signaling.Message) (candidateInit, error) {
	var c candidateInit
	if err := m.DecodeData(&c); err != nil {
		return c, fmt.Errorf("%w: want {\"candidate\",\"sdpMid\",\"sdpMLineIndex\",\"usernameFragment\"}: %w", ErrBadSignal, err)
	}
	if strings.TrimSpace(c.Candidate) == "" {
		return c, badSignal(m, "empty candidate (end-of-candidates must not be sent)")
	}
	if c.SDPMid == nil && c.SDPMLineIndex == nil {
		return c, badSignal(m, "candidate %q has neither sdpMid nor sdpMLineIndex", c.Candidate)
	}
	return c, nil
}

// onOffer answers a remote offer (or, in perfect negotiation, ignores or
// works around a colliding one).
func (p *GoPeer) onOffer(m signaling.Message, desc webrtc.SessionDescription) {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	pc := p.currentPC()
	if p.isClosed() {
		return
	}
	if st := pc.SignalingState(); st != webrtc.SignalingStateStable {
		if p.cfg.Glare == GlareLock {
			p.emit(Event{Type: EventGlare, Detail: "ignored: the remote offered without holding the pair lock"})
			why := "the remote offered without holding the pair lock"
			if p.unansweredLocked(pc) {
				why = "an offer of ours is still unanswered (pion cannot withdraw it; our next negotiation sends it again)"
			}
			p.emitErr(fmt.Errorf("%w: offer from %s while %s: %s; ignored", ErrNegotiation, m.From, st, why))
			return
		}
		var ok bool
		if pc, ok = p.perfectCollisionLocked(pc, st); !ok {
			return
		}
	}
	p.ignoreOffer = false
	restart := false
	if rd := pc.RemoteDescription(); rd != nil {
		old, now := sdpUfrag(rd.SDP), sdpUfrag(desc.SDP)
		restart = old != "" && now != "" && old != now
	}
	if hasApplication(desc.SDP) {
		// Before SCTP can start: see ensureHeartbeatChannel.
		p.ensureHeartbeatChannel(pc)
	}
	// pion restarts ICE inside SetRemoteDescription for a restart offer
	// and gathers at once: hold our candidates from here until the answer
	// is out (or released on failure).
	p.holdCandidates()
	defer p.releaseCandidates()
	checking := p.checkingMark()
	err := pc.SetRemoteDescription(desc)
	p.noteSignaling(pc)
	if err != nil {
		p.emitErr(badSignal(m, "applying the offer: %v", err))
		return
	}
	if restart {
		p.remoteRestartBegun(checking)
	}
	p.flushRemoteCandidatesLocked(pc)
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		p.emitErr(fmt.Errorf("%w: creating the answer to %s: %w", ErrNegotiation, m.From, err))
		return
	}
	err = pc.SetLocalDescription(answer)
	p.noteSignaling(pc)
	if err != nil {
		p.emitErr(fmt.Errorf("%w: setting the answer to %s: %w", ErrNegotiation, m.From, err))
		return
	}
	p.exchanges++
	if err := p.sendDescription(answer); err != nil {
		p.emitErr(fmt.Errorf("%w: sending the answer to %s: %w", ErrNegotiation, m.From, err))
	}
	p.notify()
	p.kickNegotiator() // something of ours may still need an offer
}

// onAnswer applies the answer to our outstanding offer.
func (p *GoPeer) onAnswer(m signaling.Message, desc webrtc.SessionDescription) {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	pc := p.currentPC()
	if p.isClosed() {
		return
	}
	if st := pc.SignalingState(); st != webrtc.SignalingStateHaveLocalOffer {
		p.emitErr(badSignal(m, "answer while %s (no offer of ours outstanding); ignored", st))
		return
	}
	if why := staleAnswer(pc, desc); why != "" {
		// Our offer went out twice (resendOfferLocked) and the remote
		// answered both: this is the second answer to the earlier offer,
		// overtaken by our next one. The answer to that is still to come.
		p.emitErr(badSignal(m, "answer to an earlier offer of ours (%s); ignored", why))
		return
	}
	err := pc.SetRemoteDescription(desc)
	p.noteSignaling(pc)
	if err != nil {
		err = badSignal(m, "applying the answer: %v", err)
		p.emitErr(err)
		p.finishOfferLocked(fmt.Errorf("%w: %w", ErrNegotiation, err))
		return
	}
	// Candidates still held for an offer whose send had failed: the
	// remote has it after all.
	p.releaseCandidates()
	p.flushRemoteCandidatesLocked(pc)
	p.exchanges++
	p.finishOfferLocked(nil)
	p.notify()
	p.kickNegotiator()
}

func (p *GoPeer) finishOfferLocked(err error) {
	if p.offerWait != nil {
		p.offerWait <- err // capacity 1, sent once
		p.offerWait = nil
	}
}

// onCandidate adds a remote candidate, or keeps it until the remote
// description it belongs to is applied.
func (p *GoPeer) onCandidate(m signaling.Message, c candidateInit) {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	pc := p.currentPC()
	if p.isClosed() {
		return
	}
	rd := pc.RemoteDescription()
	if rd == nil || !matchesGeneration(rd, c) {
		// Before its description (none yet, or an ICE restart's still
		// on the way): keep it until the next remote description.
		if len(p.remoteCands) >= maxBufferedRemoteCandidate {
			p.emitErr(badSignal(m, "more than %d candidates waiting for a description; dropping the oldest", maxBufferedRemoteCandidate))
			p.remoteCands = p.remoteCands[1:]
		}
		p.remoteCands = append(p.remoteCands, c)
		return
	}
	if err := p.addCandidateLocked(pc, c); err != nil {
		p.emitErr(badSignal(m, "%v", err))
	}
}

// matchesGeneration: c has no ICE generation, or the one of rd.
func matchesGeneration(rd *webrtc.SessionDescription, c candidateInit) bool {
	u := c.ufrag()
	return u == "" || sdpHasUfrag(rd.SDP, u)
}

func (p *GoPeer) addCandidateLocked(pc *webrtc.PeerConnection, c candidateInit) error {
	err := pc.AddICECandidate(webrtc.ICECandidateInit{
		Candidate:        c.Candidate,
		SDPMid:           c.SDPMid,
		SDPMLineIndex:    c.SDPMLineIndex,
		UsernameFragment: c.UsernameFragment,
	})
	if err != nil && !(p.cfg.Glare == GlarePerfect && p.ignoreOffer) {
		return fmt.Errorf("candidate %q: %w", c.Candidate, err)
	}
	return nil
}

// flushRemoteCandidatesLocked runs after a remote description is applied:
// the waiting candidates of its generation are added, the others (of an
// ignored or replaced offer, or from before an ICE restart) dropped.
func (p *GoPeer) flushRemoteCandidatesLocked(pc *webrtc.PeerConnection) {
	rd := pc.RemoteDescription()
	cands := p.remoteCands
	p.remoteCands = nil
	for _, c := range cands {
		if !matchesGeneration(rd, c) {
			continue
		}
		if err := p.addCandidateLocked(pc, c); err != nil {
			p.emitErr(fmt.Errorf("%w: buffered icecandidate from %q: %w", ErrBadSignal, p.cfg.RemoteID, err))
		}
	}
}

// holdCandidates keeps local candidates back until the description being
// made has gone out (sendDescription) or was abandoned
// (releaseCandidates): a candidate must never reach the remote before
// the description of its ICE generation.
func (p *GoPeer) holdCandidates() {
	p.outMu.Lock()
	p.descSent = false
	p.outMu.Unlock()
}

// releaseCandidates sends what was held, if sendDescription has not:
// the description failed and the current one stays.
func (p *GoPeer) releaseCandidates() {
	p.outMu.Lock()
	defer p.outMu.Unlock()
	if !p.descSent {
		p.flushCandidatesLocked()
	}
}

func (p *GoPeer) flushCandidatesLocked() {
	p.descSent = true
	for _, c := range p.candBuf {
		p.outQ.Push(p.withUfragLocked(c))
	}
	p.candBuf = nil
}

// sendDescription sends d, then the candidates held meanwhile. An offer
// that fails to send keeps them held: it stays pending (pion cannot take
// it back) and they follow it when it is re-sent (resendOfferLocked).
func (p *GoPeer) sendDescription(d webrtc.SessionDescription) error {
	p.outMu.Lock()
	defer p.outMu.Unlock()
	sdp := d.SDP
	if p.cfg.DTLSClient && d.Type == webrtc.SDPTypeOffer {
		// The remote reads our role from what we send; pion learns it
		// from the answer (passive), so it becomes the client too.
		sdp = strings.ReplaceAll(sdp, "a=setup:actpass", "a=setup:active")
	}
	err := p.send(p.ctx, d.Type.String(), sessionDescriptionInit{Type: d.Type.String(), SDP: sdp})
	if err != nil && d.Type == webrtc.SDPTypeOffer {
		return err
	}
	p.localUfrag = sdpUfrag(d.SDP)
	p.flushCandidatesLocked()
	return err
}

func (p *GoPeer) withUfragLocked(c candidateInit) candidateInit {
	if c.UsernameFragment == nil && p.localUfrag != "" {
		u := p.localUfrag
		c.UsernameFragment = &u
	}
	return c
}

// localCandidate queues a gathered candidate for candidateLoop.
func (p *GoPeer) localCandidate(c *webrtc.ICECandidate) {
	j := c.ToJSON()
	ci := candidateInit{Candidate: j.Candidate, SDPMid: j.SDPMid, SDPMLineIndex: j.SDPMLineIndex}
	if u := candidateUfrag(j.Candidate); u != "" {
		ci.UsernameFragment = &u // the generation it was gathered for
	}
	p.outMu.Lock()
	defer p.outMu.Unlock()
	if !p.descSent {
		p.candBuf = append(p.candBuf, ci)
		return
	}
	p.outQ.Push(p.withUfragLocked(ci))
}

// candidateLoop sends local candidates in order, off pion's goroutines.
func (p *GoPeer) candidateLoop() {
	for {
		c, err := p.outQ.Pop(p.ctx)
		if err != nil {
			return
		}
		if err := p.send(p.ctx, signaling.TypeICECandidate, c); err != nil && p.ctx.Err() == nil {
			p.emitErr(fmt.Errorf("peer %s: sending a candidate to %s: %w", p.cfg.ID, p.cfg.RemoteID, err))
		}
	}
}

// offerLocked creates, sets and sends an offer; the returned channel
// gets the outcome of the answer. Once set, the offer is pion's until
// answered: if its send fails it stays pending, unanswered
// (unansweredLocked), and has to be re-sent (resendOfferLocked) before
// anything else can be offered.
func (p *GoPeer) offerLocked(pc *webrtc.PeerConnection, iceRestart bool) (chan error, error) {
	if p.isClosed() {
		return nil, p.closedErr()
	}
	if st := pc.SignalingState(); st != webrtc.SignalingStateStable {
		return nil, fmt.Errorf("%w: %s cannot offer in signaling state %s", ErrNegotiation, p.cfg.ID, st)
	}
	if p.hasChannelsLocked() {
		p.ensureHeartbeatChannel(pc)
	}
	// CreateOffer with ICERestart restarts ICE and gathers at once: hold
	// our candidates from here until the offer is out.
	p.holdCandidates()
	offer, err := pc.CreateOffer(&webrtc.OfferOptions{ICERestart: iceRestart})
	if err != nil {
		p.releaseCandidates()
		return nil, fmt.Errorf("%w: %s creating an offer: %w", ErrNegotiation, p.cfg.ID, err)
	}
	err = pc.SetLocalDescription(offer)
	p.noteSignaling(pc)
	if err != nil {
		p.releaseCandidates()
		return nil, fmt.Errorf("%w: %s setting its offer: %w", ErrNegotiation, p.cfg.ID, err)
	}
	p.forceOffer = false
	if iceRestart {
		p.restartPending = false
	}
	wait := make(chan error, 1)
	p.offerWait = wait
	if err := p.sendDescription(offer); err != nil {
		p.offerWait = nil
		return nil, fmt.Errorf("%w: %s sending its offer to %s (the offer stays pending, to be sent again): %w", ErrNegotiation, p.cfg.ID, p.cfg.RemoteID, err)
	}
	return wait, nil
}

// unansweredLocked reports whether pc holds an offer of ours that nothing
// waits an answer for: its send failed, the negotiation that made it
// stopped waiting (its answer or the offer itself was lost), or its
// answer was refused. pion v4.2.1 can neither replace nor roll back a
// local offer, so nothing else can be offered until that one is answered:
// it is the offer to send again.
func (p *GoPeer) unansweredLocked(pc *webrtc.PeerConnection) bool {
	return p.offerWait == nil && pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer && pc.PendingLocalDescription() != nil
}

// unsentLocked: an unanswered offer (unansweredLocked) that never went
// out; its candidates are still held.
func (p *GoPeer) unsentLocked(pc *webrtc.PeerConnection) bool {
	if !p.unansweredLocked(pc) {
		return false
	}
	p.outMu.Lock()
	defer p.outMu.Unlock()
	return !p.descSent
}

func (p *GoPeer) offerUnsent() bool {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	return !p.isClosed() && p.unsentLocked(p.currentPC())
}

// resendOfferLocked sends pc's unanswered offer (unansweredLocked) again,
// the same offer with the same ICE credentials, and returns the channel
// told of its answer.
//
// The remote may have had it already: one that applied it and answered
// (the answer was lost) is stable with it as its remote description, and
// applies it again as a renegotiation that changes nothing (the same
// ufrag is no ICE restart; pion and Chrome answer with what they have).
// If both answers reach us, the second is the remote's answer to an
// offer already answered; signaling keeps it ahead of the remote's next
// lockResponse, and onAnswer drops it should it arrive after our next
// offer anyway (staleAnswer).
func (p *GoPeer) resendOfferLocked(pc *webrtc.PeerConnection) (chan error, error) {
	wait := make(chan error, 1)
	if err := p.sendAgainLocked(pc, wait, ""); err != nil {
		return nil, err
	}
	return wait, nil
}

// sendAgainLocked sends pc's unanswered offer again; wait (if not nil)
// becomes offerWait, told of the answer. Without one the offer stays
// unanswered for the next negotiation, unless its answer comes first.
func (p *GoPeer) sendAgainLocked(pc *webrtc.PeerConnection, wait chan error, why string) error {
	if p.isClosed() {
		return p.closedErr()
	}
	if !p.unansweredLocked(pc) {
		return fmt.Errorf("%w: %s has no unanswered offer to send again (signaling %s)", ErrNegotiation, p.cfg.ID, pc.SignalingState())
	}
	offer := pc.PendingLocalDescription() // with the candidates gathered so far
	p.holdCandidates()
	p.offerWait = wait
	if err := p.sendDescription(*offer); err != nil {
		p.offerWait = nil
		return fmt.Errorf("%w: %s re-sending its unanswered offer to %s: %w", ErrNegotiation, p.cfg.ID, p.cfg.RemoteID, err)
	}
	p.emitErr(fmt.Errorf("%w: %s re-sent the unanswered offer to %s%s (its first send failed, or no answer came): pion cannot withdraw a local offer, so the same offer goes again before anything new", ErrNegotiation, p.cfg.ID, p.cfg.RemoteID, why))
	return nil
}

// resendBeforeGrant runs before a lockRequest from the remote is handled
// (GlareLock): if an offer of ours is unanswered and we do not hold the
// lock (whose body would send it), it goes out again first, so that the
// remote answers it before its own body offers. Were the remote to offer
// across it, both pion peers would be left with an offer the other
// ignores, for good.
func (p *GoPeer) resendBeforeGrant() {
	if p.cfg.Glare != GlareLock || p.lock.Held() {
		return
	}
	p.negMu.Lock()
	defer p.negMu.Unlock()
	if pc := p.currentPC(); !p.isClosed() && p.unansweredLocked(pc) {
		if err := p.sendAgainLocked(pc, nil, " before granting the pair lock"); err != nil {
			p.emitErr(err)
		}
	}
}

// staleAnswer says why desc cannot be the answer to pc's pending offer,
// or "" when it can: an answer has as many m-lines as its offer, and
// answers an ICE restart with new credentials of its own.
func staleAnswer(pc *webrtc.PeerConnection, desc webrtc.SessionDescription) string {
	offer := pc.PendingLocalDescription()
	if offer == nil {
		return ""
	}
	if a, o := countMLines(desc.SDP), countMLines(offer.SDP); a != o {
		return fmt.Sprintf("it has %d m-lines, our offer %d", a, o)
	}
	cl, cr := pc.CurrentLocalDescription(), pc.CurrentRemoteDescription()
	if cl == nil || cr == nil {
		return ""
	}
	if u := sdpUfrag(offer.SDP); u != "" && u != sdpUfrag(cl.SDP) && sdpUfrag(desc.SDP) == sdpUfrag(cr.SDP) {
		return "our offer restarts ICE and it keeps the remote's old ICE credentials"
	}
	return ""
}

func countMLines(s string) int {
	n := 0
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "m=") {
			n++
		}
	}
	return n
}

// needsNegotiationLocked is our view of pion's negotiation-needed check
// (which pion does not export): something local that the current
// descriptions do not carry yet.
func (p *GoPeer) needsNegotiationLocked(pc *webrtc.PeerConnection) bool {
	if p.forceOffer || p.restartPending || p.unansweredLocked(pc) {
		return true
	}
	hasDC := p.hasChannelsLocked()
	ld := pc.CurrentLocalDescription()
	if ld == nil {
		return hasDC || len(pc.GetTransceivers()) > 0
	}
	if hasDC && !hasApplication(ld.SDP) {
		return true
	}
	for _, t := range pc.GetTransceivers() {
		if t.Mid() == "" {
			return true
		}
	}
	return false
}

// hasChannelsLocked: a data channel was created on the current pc (the
// heartbeat channel counts). Needs negMu, which every creation holds.
func (p *GoPeer) hasChannelsLocked() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hbDC != nil {
		return true
	}
	for _, ch := range p.local {
		if !ch.isClosed() {
			return true
		}
	}
	return false
}

func (p *GoPeer) kickNegotiator() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// negotiatorLoop offers what pion (or our own bookkeeping) says needs
// negotiating and that no operation is about to negotiate anyway. An
// offer of ours whose send failed is tried again, with backoff (250 ms
// doubling to 5 s), until it is out: nothing else can be offered before
// it is answered. Those retries report an error only once the offer went
// out (a failure to send it is what was reported already).
func (p *GoPeer) negotiatorLoop() {
	retry := time.NewTimer(restartBackoffMax)
	retry.Stop()
	defer retry.Stop()
	var backoff time.Duration
	for {
		retrying := false
		select {
		case <-p.kick:
		case <-retry.C:
			retrying = true
		case <-p.ctx.Done():
			return
		}
		var err error
		if p.cfg.Glare == GlarePerfect {
			err = p.perfectNegotiate()
		} else {
			err = p.lockNegotiate()
		}
		unsent := p.offerUnsent()
		if err != nil && p.ctx.Err() == nil && !(retrying && unsent) {
			p.emitErr(err)
		}
		if unsent {
			backoff = min(max(2*backoff, restartBackoffMin), restartBackoffMax)
			retry.Reset(backoff)
		} else {
			backoff = 0
			retry.Stop()
		}
	}
}

func (p *GoPeer) needsNegotiation() bool {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	if p.isClosed() {
		return false
	}
	return p.needsNegotiationLocked(p.currentPC())
}

// sdpUfrag is the first a=ice-ufrag of an SDP.
func sdpUfrag(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}

func sdpHasUfrag(s, ufrag string) bool {
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok && v == ufrag {
			return true
		}
	}
	return false
}

func hasApplication(s string) bool {
	return strings.HasPrefix(s, "m=application") || strings.Contains(s, "\nm=application")
}
