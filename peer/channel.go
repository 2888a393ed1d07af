package peer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"

	"github.com/netlab/netlab/internal/feed"
)

// channel is a GoPeer's Channel: a pion data channel with an unbounded,
// in-order receive queue. Under GlarePerfect its pion channel may be
// replaced before it opens (swapLocked); the handle stays the same.
type channel struct {
	p     *GoPeer        // read-only
	label string         // read-only
	opts  ChannelOptions // read-only (ID filled in at open for the caller's view)
	local bool           // read-only: created here

	q        *feed.Queue[[]byte]
	opened   chan struct{} // closed at open (under evMu)
	closedCh chan struct{} // closed when the channel closes (under evMu)
	low      chan struct{} // capacity 1: buffered amount went low

	// evMu orders open and close: both run under it, so a channel opens
	// at most once and never after it closed, and EventChannelOpen comes
	// before EventChannelClose. Taken before mu and before the peer's mu.
	evMu sync.Mutex

	mu  sync.Mutex
	dc  *webrtc.DataChannel // guarded by mu
	id  uint16              // guarded by mu: set at open, or at close if pion knows it
	err error               // guarded by mu: why it closed without opening
}

var _ Channel = (*channel)(nil)

func newChannel(p *GoPeer, label string, opts ChannelOptions, local bool) *channel {
	return &channel{
		p:        p,
		label:    label,
		opts:     opts,
		local:    local,
		q:        feed.NewQueue[[]byte](),
		opened:   make(chan struct{}),
		closedCh: make(chan struct{}),
		low:      make(chan struct{}, 1),
	}
}

// init is the pion form of the options.
func (o ChannelOptions) init() *webrtc.DataChannelInit {
	ordered := !o.Unordered
	in := &webrtc.DataChannelInit{Ordered: &ordered, MaxRetransmits: o.MaxRetransmits, MaxPacketLifeTime: o.MaxPacketLifeTime}
	if o.Protocol != "" {
		proto := o.Protocol
		in.Protocol = &proto
	}
	if o.Negotiated {
		neg := true
		in.Negotiated = &neg
		in.ID = o.ID
	}
	return in
}

func (o ChannelOptions) validate() error {
	switch {
	case o.MaxRetransmits != nil && o.MaxPacketLifeTime != nil:
		return fmt.Errorf("%w: channel options: MaxRetransmits and MaxPacketLifeTime are exclusive, got both (%d, %d ms)", ErrBadConfig, *o.MaxRetransmits, *o.MaxPacketLifeTime)
	case o.Negotiated && o.ID == nil:
		return fmt.Errorf("%w: channel options: a negotiated channel needs an ID, got none", ErrBadConfig)
	case !o.Negotiated && o.ID != nil:
		return fmt.Errorf("%w: channel options: ID %d is for negotiated channels, got Negotiated false", ErrBadConfig, *o.ID)
	case o.ID != nil && *o.ID == heartbeatChannelID:
		return fmt.Errorf("%w: channel options: id %d is the heartbeat channel's", ErrBadConfig, heartbeatChannelID)
	case o.ID != nil && *o.ID == 65535:
		return fmt.Errorf("%w: channel options: id 65535 is reserved, want 0..65534", ErrBadConfig)
	case len(o.Protocol) > 65535:
		return fmt.Errorf("%w: channel options: protocol of %d bytes, limit 65535", ErrBadConfig, len(o.Protocol))
	}
	return nil
}

// optionsOf reads a pion channel's options (for remote channels).
func optionsOf(dc *webrtc.DataChannel) ChannelOptions {
	o := ChannelOptions{Unordered: !dc.Ordered(), MaxRetransmits: dc.MaxRetransmits(), MaxPacketLifeTime: dc.MaxPacketLifeTime(), Protocol: dc.Protocol(), Negotiated: dc.Negotiated()}
	if o.Negotiated {
		o.ID = dc.ID()
	}
	return o
}

// bind attaches ch to a pion channel (again, after a swap).
func (ch *channel) bind(dc *webrtc.DataChannel) {
	ch.mu.Lock()
	ch.dc = dc
	ch.mu.Unlock()
	dc.SetBufferedAmountLowThreshold(defaultBufferedLowAmount)
	dc.OnBufferedAmountLow(func() {
		select {
		case ch.low <- struct{}{}:
		default:
		}
	})
	dc.OnOpen(func() {
		ch.p.channelCallback(ch.label, callbackOpen, func() {
			if ch.current(dc) {
				ch.onOpen()
			}
		})
	})
	// pion runs OnOpen and OnClose each on a goroutine of its own
	// (datachannel.go onOpen, onClose), so for a channel that closes just
	// after it opened (a remote channel closed at once, or ours closed by
	// the remote as soon as it accepted it) this can run first. pion
	// calls OnClose only for a channel that reached ReadyState open (its
	// read loop starts there) or for one we closed before that, which
	// Close has finished already. So open it here first: open and close
	// are reported in that order, and the late OnOpen does nothing. (For
	// a channel of ours opened in band, ReadyState is open from the DCEP
	// OPEN on and sending works, while pion's OnOpen waits for the ACK:
	// one whose association fails between the two is reported opened and
	// closed.)
	dc.OnClose(func() {
		ch.p.channelCallback(ch.label, callbackClose, func() {
			if ch.current(dc) {
				ch.onOpen()
				ch.finish(true)
			}
		})
	})
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if ch.current(dc) {
			ch.q.Push(m.Data)
		}
	})
}

func (ch *channel) current(dc *webrtc.DataChannel) bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.dc == dc
}

// onOpen opens the channel: EventChannelOpen, and a remote channel goes
// to AcceptDataChannel (closed already if it closed at once; its messages
// can still be read). Once only, and never after the channel closed.
func (ch *channel) onOpen() {
	ch.evMu.Lock()
	defer ch.evMu.Unlock()
	if ch.isOpen() || ch.isClosed() {
		return
	}
	id := ch.noteID()
	close(ch.opened)
	p := ch.p
	p.emit(Event{Type: EventChannelOpen, Label: ch.label, ChannelID: id})
	if !ch.local {
		p.acceptQueue(ch.label).Push(ch)
	}
	p.notify()
}

// finish closes the channel's side: queue, events. event false: the peer
// is closing (no event, the hub is about to close). It reports whether
// this call closed the channel (false: it was closed already).
func (ch *channel) finish(event bool) bool {
	ch.evMu.Lock()
	defer ch.evMu.Unlock()
	if ch.isClosed() {
		return false
	}
	close(ch.closedCh)
	ch.q.Close()
	if event {
		// The id is known at close even for a channel that never opened,
		// once SCTP has given it one.
		ch.p.emit(Event{Type: EventChannelClose, Label: ch.label, ChannelID: ch.noteID()})
		ch.p.notify()
	}
	return true
}

// noteID takes the pion channel's id into id if pion knows it (it does
// from the start for negotiated and remote channels, from SCTP's start
// for ours opened in band) and returns id.
func (ch *channel) noteID() uint16 {
	ch.mu.Lock()
	dc := ch.dc
	ch.mu.Unlock()
	var known *uint16
	if dc != nil {
		known = dc.ID() // pion is not called with mu held
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if known != nil {
		ch.id = *known
	}
	return ch.id
}

// Data channel callbacks, for channelCallback.
const (
	callbackOpen  = "open"
	callbackClose = "close"
)

// channelCallback runs body, the pion OnOpen or OnClose callback of the
// data channel label (user or heartbeat channel), through
// testHookChannelCallback when a test set it.
func (p *GoPeer) channelCallback(label, callback string, body func()) {
	if h := testHookChannelCallback.Load(); h != nil {
		(*h)(p, label, callback, body)
		return
	}
	body()
}

// testHookChannelCallback, set only by tests, is given every data channel
// OnOpen and OnClose callback (peer, label, callbackOpen or callbackClose)
// and must run its body: a test can hold one back to force an order of
// pion's callback goroutines that the scheduler rarely picks.
var testHookChannelCallback atomic.Pointer[func(p *GoPeer, label, callback string, body func())]

// fail closes a channel that could not be (re)created.
func (ch *channel) fail(err error) {
	ch.mu.Lock()
	if ch.err == nil {
		ch.err = err
	}
	ch.mu.Unlock()
	ch.p.emitErr(err)
	ch.finish(true)
}

func (ch *channel) isOpen() bool {
	select {
	case <-ch.opened:
		return true
	default:
		return false
	}
}

func (ch *channel) isClosed() bool {
	select {
	case <-ch.closedCh:
		return true
	default:
		return false
	}
}

func (ch *channel) Label() string { return ch.label }

func (ch *channel) ID() uint16 {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.id
}

// Options are the channel's options; for a remote channel, as announced.
func (ch *channel) Options() ChannelOptions { return ch.opts }

// BufferedAmount is the bytes pion still holds for the channel: queued or
// in flight, released when the remote's SACK covers them (delivered, or
// given up and skipped by a FORWARD-TSN). Zero after sending: the remote
// has everything it will ever get.
func (ch *channel) BufferedAmount() uint64 {
	ch.mu.Lock()
	dc := ch.dc
	ch.mu.Unlock()
	if dc == nil {
		return 0
	}
	return dc.BufferedAmount()
}

// Send sends one message, waiting (until ctx ends) while more than 1 MiB
// is buffered, so a fast sender does not queue without bound.
func (ch *channel) Send(ctx context.Context, b []byte) error {
	ch.mu.Lock()
	dc := ch.dc
	ch.mu.Unlock()
	for {
		if ch.isClosed() {
			return fmt.Errorf("peer %s: send on %q: %w", ch.p.cfg.ID, ch.label, ErrChannelClosed)
		}
		if dc.BufferedAmount() <= defaultMaxBufferedAmount {
			break
		}
		select {
		case <-ch.low:
		case <-ch.closedCh:
		case <-ctx.Done():
			return fmt.Errorf("peer %s: send on %q: buffer full: %w", ch.p.cfg.ID, ch.label, ctx.Err())
		}
	}
	if err := dc.Send(b); err != nil {
		if ch.isClosed() {
			return fmt.Errorf("peer %s: send on %q: %w", ch.p.cfg.ID, ch.label, ErrChannelClosed)
		}
		return fmt.Errorf("peer %s: send on %q: %w", ch.p.cfg.ID, ch.label, err)
	}
	return nil
}

// Recv returns the next message in arrival order.
func (ch *channel) Recv(ctx context.Context) ([]byte, error) {
	b, err := ch.q.Pop(ctx)
	if errors.Is(err, feed.ErrClosed) {
		return nil, fmt.Errorf("peer %s: recv on %q: %w", ch.p.cfg.ID, ch.label, ErrChannelClosed)
	}
	return b, err
}

// Close closes the channel (both sides see it close). Idempotent.
func (ch *channel) Close() error {
	ch.mu.Lock()
	dc := ch.dc
	ch.mu.Unlock()
	// Finish before pion closes: its OnClose then finds the channel
	// closed, and one closed before it opened is not opened there.
	// No event for a channel that never existed.
	if !ch.finish(dc != nil) || dc == nil {
		return nil
	}
	return dc.Close()
}

// CreateDataChannel creates a channel (under the pair lock, or by perfect
// negotiation) and returns once it is open. A negotiated channel (opts
// Negotiated, ID) is created on both sides by the application; it needs
// signaling only if it is the first channel of the session.
func (p *GoPeer) CreateDataChannel(ctx context.Context, label string, opts ChannelOptions) (Channel, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if label == heartbeatChannelLabel {
		return nil, fmt.Errorf("%w: label %q is the heartbeat channel's", ErrBadConfig, label)
	}
	if len(label) > 65535 {
		return nil, fmt.Errorf("%w: label of %d bytes, limit 65535", ErrBadConfig, len(label))
	}
	ch := newChannel(p, label, opts, true)
	create := func() error {
		p.negMu.Lock()
		defer p.negMu.Unlock()
		if p.isClosed() {
			return p.closedErr()
		}
		pc := p.currentPC()
		p.ensureHeartbeatChannel(pc)
		dc, err := pc.CreateDataChannel(label, opts.init())
		if err != nil {
			return fmt.Errorf("peer %s: creating channel %q: %w", p.cfg.ID, label, err)
		}
		ch.bind(dc)
		p.mu.Lock()
		p.local = append(p.local, ch)
		p.mu.Unlock()
		return nil
	}
	var err error
	if p.cfg.Glare == GlarePerfect {
		if err = create(); err == nil {
			p.kickNegotiator()
		}
	} else {
		err = p.lockedOp(ctx, create, false)
	}
	if err != nil {
		_ = ch.Close() // a pion channel created before the failure goes too
		return nil, err
	}
	err = p.waitFor(ctx, fmt.Sprintf("channel %q to open", label), func() (bool, error) {
		if ch.isOpen() {
			return true, nil
		}
		if ch.isClosed() {
			ch.mu.Lock()
			cause := ch.err
			ch.mu.Unlock()
			if cause != nil {
				return false, cause
			}
			return false, fmt.Errorf("peer %s: channel %q closed before it opened: %w", p.cfg.ID, label, ErrChannelClosed)
		}
		// A wedged perfect negotiation leaves a channel that needs an
		// offer unopened for good; one over an SCTP association that is
		// already up needs none.
		if err := p.perfectError(); err != nil && !p.sctpNegotiated() {
			return false, err
		}
		return false, nil
	})
	if err != nil {
		_ = ch.Close()
		return nil, err
	}
	return ch, nil
}

// AcceptDataChannel returns the next channel the remote created with this
// label, once it has opened; channels that opened before anyone asked are
// kept, also when they have closed since (what they received can still
// be read).
func (p *GoPeer) AcceptDataChannel(ctx context.Context, label string) (Channel, error) {
	ch, err := p.acceptQueue(label).Pop(ctx)
	if errors.Is(err, feed.ErrClosed) {
		return nil, p.closedErr()
	}
	if err != nil {
		return nil, fmt.Errorf("peer %s: waiting for the remote's channel %q: %w", p.cfg.ID, label, err)
	}
	return ch, nil
}

func (p *GoPeer) acceptQueue(label string) *feed.Queue[*channel] {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.accept[label]
	if q == nil {
		q = feed.NewQueue[*channel]()
		if p.closed {
			q.Close()
			return q
		}
		p.accept[label] = q
	}
	return q
}

// onRemoteChannel takes a channel the remote announced; it reaches
// AcceptDataChannel once open.
func (p *GoPeer) onRemoteChannel(dc *webrtc.DataChannel) {
	ch := newChannel(p, dc.Label(), optionsOf(dc), false)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.remote = append(p.remote, ch)
	p.mu.Unlock()
	ch.bind(dc)
}

// sctpNegotiated: the current local description has the data section.
func (p *GoPeer) sctpNegotiated() bool {
	ld := p.currentPC().CurrentLocalDescription()
	return ld != nil && hasApplication(ld.SDP)
}

// perfectError is the sticky error of a wedged perfect negotiation.
func (p *GoPeer) perfectError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.perfectErr
}
