package peer

import (
	"context"
	"errors"
	"fmt"
	"sync"

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
	opened   chan struct{} // closed at the first open
	closedCh chan struct{} // closed when the channel closes
	low      chan struct{} // capacity 1: buffered amount went low
	openOnce sync.Once
	doneOnce sync.Once

	mu  sync.Mutex
	dc  *webrtc.DataChannel // guarded by mu
	id  uint16              // guarded by mu: set at open
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
		if ch.current(dc) {
			ch.onOpen(dc)
		}
	})
	dc.OnClose(func() {
		if ch.current(dc) {
			ch.finish(true)
		}
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

func (ch *channel) onOpen(dc *webrtc.DataChannel) {
	ch.openOnce.Do(func() {
		ch.mu.Lock()
		if id := dc.ID(); id != nil {
			ch.id = *id
		}
		id := ch.id
		ch.mu.Unlock()
		close(ch.opened)
		p := ch.p
		p.emit(Event{Type: EventChannelOpen, Label: ch.label, ChannelID: id})
		if !ch.local {
			p.acceptQueue(ch.label).Push(ch)
		}
		p.notify()
	})
}

// finish closes the channel's side: queue, events. event false: the peer
// is closing (no event, the hub is about to close).
func (ch *channel) finish(event bool) {
	ch.doneOnce.Do(func() {
		close(ch.closedCh)
		ch.q.Close()
		if event {
			ch.mu.Lock()
			id := ch.id
			ch.mu.Unlock()
			ch.p.emit(Event{Type: EventChannelClose, Label: ch.label, ChannelID: id})
			ch.p.notify()
		}
	})
}

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
	var err error
	if dc != nil && !ch.isClosed() {
		err = dc.Close()
	}
	ch.finish(dc != nil) // no event for a channel that never existed
	return err
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

// AcceptDataChannel returns the next open channel the remote created with
// this label; channels that opened before anyone asked are kept.
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
