package peer

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/netlab/netlab/internal/feed"
	"github.com/netlab/netlab/internal/pionlog"
	"github.com/netlab/netlab/peer/signaling"
)

// Message types the peer adds to the wire protocol (PROTOCOL.md).
const (
	// TypeHeartbeat carries one heartbeat beat on the signaling path; its
	// data is the beat's JSON as the heartbeat wrote it.
	TypeHeartbeat = "heartbeat"
	// TypeBye says the sender closed on purpose; no data.
	TypeBye = "bye"
)

// GoPeer is the reference Endpoint on pion/webrtc v4.2.1.
//
//	signaling.Client ─Subscribe(From: RemoteID)─▶ readLoop ─▶ offer/answer/candidates (negMu)
//	                                                        ├▶ pairLock.Handle
//	                                                        └▶ heartbeat.Received, bye
//	CreateDataChannel / AddMedia / Restart ─▶ pairLock.Acquire ─▶ create + offer + wait answer + settle
//	pion callbacks ─▶ events (feed.Hub), state history, reconnectLoop, negotiator
//
// Lock order: negMu before mu; a channel's evMu before mu. pion is never
// called with mu held (its callbacks take mu), except SignalingState, an
// atomic load (noteSignaling).
type GoPeer struct {
	cfg    Config            // read-only
	opts   options           // read-only
	polite bool              // read-only
	api    *webrtc.API       // read-only
	gnet   *guardNet         // read-only
	client *signaling.Client // read-only
	sub    *signaling.Subscription
	cev    *feed.Queue[signaling.ClientEvent] // the client's events, for clientLoop
	lock   *pairLock
	hb     *heartbeat
	// hbHeard adds the signaling heartbeat path once the remote has been
	// heard from (readLoop only).
	hbHeard sync.Once
	events  feed.Hub[Event]
	rtpOut  *rtpCounter // read-only: counts RTP as written to the transport

	ctx       context.Context // canceled by Close and Kill
	cancel    context.CancelFunc
	wg        sync.WaitGroup // every goroutine the peer started
	closeOnce sync.Once

	kick chan struct{}                          // wakes the negotiator; capacity 1
	iceQ *feed.Queue[webrtc.ICEConnectionState] // ICE states for reconnectLoop
	outQ *feed.Queue[candidateInit]             // local candidates for candidateLoop

	rtpInPackets, rtpInBytes atomic.Uint64

	// negMu serializes every SDP operation (offer, answer, applying a
	// remote description, adding candidates, the polite swap).
	negMu          sync.Mutex
	remoteCands    []candidateInit // guarded by negMu: waiting for a remote description
	offerWait      chan error      // guarded by negMu: told when our outstanding offer is answered
	ignoreOffer    bool            // guarded by negMu: perfect negotiation, last remote offer ignored
	forceOffer     bool            // guarded by negMu: a change only a new offer carries
	restartPending bool            // guarded by negMu: perfect negotiation, next offer restarts ICE
	exchanges      int             // guarded by negMu: offer/answer exchanges completed on pc
	swaps          int             // guarded by negMu: polite rollback emulations (pc replaced)

	// outMu keeps a description ahead of its candidates on the wire.
	outMu      sync.Mutex
	descSent   bool            // guarded by outMu: the current local description went out
	localUfrag string          // guarded by outMu: its ICE ufrag
	candBuf    []candidateInit // guarded by outMu: gathered before it went out

	mu         sync.Mutex
	closed     bool                             // guarded by mu
	pc         *webrtc.PeerConnection           // guarded by mu; replaced only by the polite swap
	hbDC       *webrtc.DataChannel              // guarded by mu: the heartbeat channel on pc
	local      []*channel                       // guarded by mu: channels created here
	remote     []*channel                       // guarded by mu: channels the remote created
	accept     map[string]*feed.Queue[*channel] // guarded by mu: open remote channels by label
	senders    []*mediaSender                   // guarded by mu
	tracksIn   int                              // guarded by mu
	states     map[string]string                // guarded by mu: machine -> current state
	history    []StateChange                    // guarded by mu
	changed    chan struct{}                    // guarded by mu: closed and replaced on every change
	ops        int                              // guarded by mu: GlareLock operations pending
	bye        bool                             // guarded by mu: the remote said bye
	perfectErr error                            // guarded by mu: perfect negotiation is wedged
	rc         reconnectState                   // guarded by mu
	rng        *rand.Rand                       // guarded by mu
	mediaSeq   int                              // guarded by mu: default track ids
}

var _ Endpoint = (*GoPeer)(nil)

// New validates cfg, builds the pion peer and starts listening to
// signaling. Nothing is negotiated until the first operation.
func New(cfg Config, opts ...Option) (*GoPeer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var o options
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: option %d is nil", ErrBadConfig, i)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.logger == nil {
		o.logger = pionlog.Default()
	}
	if o.cert == nil {
		c, err := GenerateCertificate()
		if err != nil {
			return nil, err
		}
		o.cert = &c
	}
	gnet, err := newGuardNet(cfg.Net)
	if err != nil {
		return nil, err
	}
	counter := &rtpCounter{}
	api, err := newAPI(cfg, o, gnet, counter)
	if err != nil {
		return nil, err
	}
	seed := cfg.Seed
	if seed == 0 {
		h := fnv.New64a()
		h.Write([]byte(cfg.ID + "\x00" + cfg.RemoteID))
		seed = h.Sum64()
	}
	p := &GoPeer{
		cfg:     cfg,
		opts:    o,
		polite:  cfg.ID < cfg.RemoteID,
		api:     api,
		gnet:    gnet,
		client:  cfg.Signaling,
		rtpOut:  counter,
		kick:    make(chan struct{}, 1),
		iceQ:    feed.NewQueue[webrtc.ICEConnectionState](),
		outQ:    feed.NewQueue[candidateInit](),
		accept:  map[string]*feed.Queue[*channel]{},
		states:  map[string]string{},
		changed: make(chan struct{}),
		rng:     rand.New(rand.NewPCG(seed, 0x676f70656572)),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	pc, err := p.newPC()
	if err != nil {
		// pion refuses only what it was given: the ICE servers.
		p.cancel()
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	p.pc = pc
	p.recordState(machineConnection, pc.ConnectionState().String())
	p.recordState(machineICE, pc.ICEConnectionState().String())
	p.recordState(machineSignaling, pc.SignalingState().String())
	// Subscribe before reading the state: a change in between is then
	// in the queue (and a repeat is dropped by recordState), not lost.
	p.cev = p.client.Events()
	p.recordState(machineClient, p.client.State().String())

	p.lock = newPairLock(lockConfig{Local: cfg.ID, Remote: cfg.RemoteID, Timeout: cfg.LockTimeout, Send: p.send})
	p.hb = newHeartbeat(cfg.Heartbeat, p.emit)
	p.hb.SetGate(pathSignaling, p.signalingUp) // no beats queued in the shared client while it is down
	p.sub = p.client.Subscribe(signaling.Filter{From: cfg.RemoteID})
	p.hb.Start()
	for _, loop := range []func(){p.readLoop, p.negotiatorLoop, p.candidateLoop, p.reconnectLoop, p.clientLoop} {
		p.spawn(loop)
	}
	return p, nil
}

// State machines in Stats.History and EventState.
const (
	machineConnection = "connection"
	machineICE        = "ice"
	machineSignaling  = "signaling"
	machineClient     = "signaling-client"
	pathSignaling     = "signaling"
	pathDataChannel   = "datachannel"
)

func (p *GoPeer) ID() string       { return p.cfg.ID }
func (p *GoPeer) RemoteID() string { return p.cfg.RemoteID }
func (p *GoPeer) Kind() Kind       { return KindGo }

// Polite reports whether this side is the polite one (ID < RemoteID).
func (p *GoPeer) Polite() bool { return p.polite }

// Events returns a queue of every event from now on.
func (p *GoPeer) Events() *EventQueue { return p.events.Subscribe() }

// EventHistory returns every event so far.
func (p *GoPeer) EventHistory() []Event { return p.events.History() }

// AcquireLock runs body under the pair mutex (PROTOCOL.md).
func (p *GoPeer) AcquireLock(ctx context.Context, body func(context.Context) error) error {
	return p.lock.Acquire(ctx, body)
}

// Close sends bye (best effort, within Config.ByeTimeout), then tears
// everything down and waits for it: pion peer, channels, media, heartbeat,
// lock, subscription. Idempotent; the signaling client stays open (the
// caller owns it).
func (p *GoPeer) Close() error {
	p.shutdown(false)
	return nil
}

// Kill is an abrupt death, for tests: nothing more reaches the remote (no
// bye, no DTLS close, no SCTP abort, no heartbeat), then everything stops
// as in Close. The remote finds out from its heartbeats and ICE.
func (p *GoPeer) Kill() {
	p.shutdown(true)
}

func (p *GoPeer) shutdown(kill bool) {
	p.closeOnce.Do(func() {
		if kill {
			p.gnet.kill()
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), p.cfg.ByeTimeout)
			_ = p.send(ctx, TypeBye, nil) // best effort: the remote's heartbeat covers a lost bye
			cancel()
		}
		p.hb.Close()
		p.mu.Lock()
		p.closed = true
		pc := p.pc
		p.notifyLocked()
		p.mu.Unlock()
		p.cancel()
		p.cev.Close() // the client's hub keeps it; closed, it stops filling
		p.lock.Close()
		p.sub.Close()
		// Graceful: pion's own goroutines end before Close returns. A
		// remote's DTLS close_notify makes pion close the peer on a
		// goroutine of its own, and a plain Close then returns at once
		// while that goroutine still tears down ICE (a TURN refresh).
		if err := pc.GracefulClose(); err != nil {
			p.emitErr(fmt.Errorf("peer %s: closing the pion peer: %w", p.cfg.ID, err))
		}
		p.outQ.Close()
		p.iceQ.Close()
		p.wg.Wait()
		p.mu.Lock()
		chans := append(append([]*channel(nil), p.local...), p.remote...)
		queues := p.accept
		p.accept = map[string]*feed.Queue[*channel]{}
		p.mu.Unlock()
		for _, ch := range chans {
			ch.finish(false)
		}
		for _, q := range queues {
			q.Close()
		}
		p.events.Close()
	})
}

// spawn runs f on a goroutine that Close waits for; false once closed.
func (p *GoPeer) spawn(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// send sends one message to the remote through the shared client.
func (p *GoPeer) send(ctx context.Context, typ string, data any) error {
	return p.client.Send(ctx, p.cfg.RemoteID, typ, data)
}

// emit publishes e with Peer (and At, when unset) filled in.
func (p *GoPeer) emit(e Event) {
	e.Peer = p.cfg.ID
	if e.At.IsZero() {
		e.At = time.Now()
	}
	p.events.Publish(e)
}

func (p *GoPeer) emitErr(err error) {
	p.emit(Event{Type: EventError, Err: err, Detail: err.Error()})
}

// currentPC is the live pion peer.
func (p *GoPeer) currentPC() *webrtc.PeerConnection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pc
}

func (p *GoPeer) isCurrent(pc *webrtc.PeerConnection) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pc == pc
}

func (p *GoPeer) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *GoPeer) closedErr() error {
	return fmt.Errorf("peer %s: %w", p.cfg.ID, ErrClosed)
}

// notifyLocked wakes every waitFor.
func (p *GoPeer) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *GoPeer) notify() {
	p.mu.Lock()
	p.notifyLocked()
	p.mu.Unlock()
}

// waitFor waits until cond holds (or fails), re-checking on every change.
// cond runs without mu, so it may call pion.
func (p *GoPeer) waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	for {
		p.mu.Lock()
		ch, closed := p.changed, p.closed
		p.mu.Unlock()
		if closed {
			return p.closedErr()
		}
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("peer %s: waiting for %s: %w", p.cfg.ID, what, ctx.Err())
		case <-p.ctx.Done():
			return p.closedErr()
		}
	}
}

// recordState notes a state of one machine (deduplicated) in the history
// and as EventState.
func (p *GoPeer) recordState(machine, state string) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recordStateLocked(now, machine, state)
}

// clientLoop turns the signaling client's events into the peer's.
func (p *GoPeer) clientLoop() {
	for {
		ev, err := p.cev.Pop(p.ctx)
		if err != nil {
			return
		}
		switch ev.Type {
		case signaling.EventState:
			p.recordState(machineClient, ev.State.String())
		case signaling.EventVersionMismatch:
			detail := "signaling server version differs"
			if ev.Listing != nil {
				detail = fmt.Sprintf("signaling server is version %q, want %q", ev.Listing.Version, ev.Want)
			}
			p.emit(Event{Type: EventVersionMismatch, At: ev.At, Detail: detail, Err: ev.Err})
		case signaling.EventServerError:
			if ev.Err != nil {
				p.emit(Event{Type: EventError, At: ev.At, Err: ev.Err, Detail: "signaling: " + ev.Err.Error()})
			}
		}
	}
}
