package lab

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v3/vnet"

	"github.com/netlab/netlab/browsers"
	"github.com/netlab/netlab/internal/pionlog"
	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// Lab is a running topology. Build it with New, drive it (Peer, Pair, the
// link controls), read its Timeline, and Close it: Close stops everything
// it started, in reverse order, and waits.
//
// Inside a testing/synctest bubble, call New and Close inside the bubble;
// with an in-memory signaling transport, nothing in a Lab touches a real
// socket, so the whole lab runs in virtual time.
type Lab struct {
	topo    Topology              // read-only, defaults written out
	logger  logging.LoggerFactory // read-only
	start   time.Time             // read-only: the timeline's zero
	wan     *vnet.Router          // read-only
	eps     map[string]*endpoint  // read-only after New: by name
	order   []string              // read-only: endpoint names in topology order
	ice     []iceServer           // read-only: what Go peers are given
	sig     *sigMedium            // read-only
	byIP    map[string]*endpoint  // read-only after New: by public address
	servers serverStats

	mu       sync.Mutex
	clients  map[string]*signaling.Client // guarded by mu: by signaling id
	peers    []*peer.GoPeer               // guarded by mu: in creation order
	events   []Entry                      // guarded by mu: the timeline taken in so far
	sources  []*source                    // guarded by mu: what the timeline takes in
	flaps    map[string]*flapper          // guarded by mu: running flaps by endpoint
	profiles map[string][]profileChange   // guarded by mu: SetProfile's changes by endpoint, oldest first
	closers  []func() error               // guarded by mu: newest last
	closed   bool                         // guarded by mu: Close has begun
	chromes  []*browsers.ChromePeer       // guarded by mu: in creation order
	page     *browsers.PageServer         // guarded by mu: started with the first Chrome endpoint
	browser  *browsers.Browser            // read-only: WithBrowser's

	// flapMu makes a Flap's swap of flappers one step (control.go);
	// taken before mu, never while holding it.
	flapMu sync.Mutex

	closeDone chan struct{} // read-only: closed when Close's teardown is over
	closeErr  error         // written by the teardown before closeDone closes
}

// Option adjusts a Lab beyond its Topology.
type Option func(*options) error

type options struct {
	logger  logging.LoggerFactory
	browser *browsers.Browser
}

// WithLoggerFactory sets the logger of pion's vnet, TURN and peers
// (default: pion's default factory, errors only).
func WithLoggerFactory(f logging.LoggerFactory) Option {
	return func(o *options) error {
		if f == nil {
			return fmt.Errorf("%w: WithLoggerFactory needs a factory, got nil", ErrBadTopology)
		}
		o.logger = f
		return nil
	}
}

// New validates topo and builds it: the WAN, a LAN and NAT per endpoint,
// STUN and TURN, the signaling medium. Go peers are made on demand (Peer,
// Pair), since a pair's ids and options belong to the scenario. On error
// everything built so far is torn down.
func New(topo Topology, opts ...Option) (*Lab, error) {
	o := options{logger: pionlog.Default()}
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: option %d is nil", ErrBadTopology, i)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	topo = topo.withDefaults()
	if err := topo.validate(); err != nil {
		return nil, err
	}
	l := &Lab{
		topo:      topo,
		logger:    o.logger,
		start:     time.Now(),
		eps:       map[string]*endpoint{},
		byIP:      map[string]*endpoint{},
		clients:   map[string]*signaling.Client{},
		flaps:     map[string]*flapper{},
		profiles:  map[string][]profileChange{},
		closeDone: make(chan struct{}),
		browser:   o.browser,
	}
	buildMu.Lock()
	err := l.build()
	buildMu.Unlock()
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	return l, nil
}

// buildMu serializes building labs: pion's vnet numbers MAC addresses
// from an unguarded package counter (newMACAddress), so two labs built at
// once race on it.
var buildMu sync.Mutex

func (l *Lab) build() error {
	if err := l.buildWAN(); err != nil {
		return err
	}
	for i, ec := range l.topo.Endpoints {
		ep, err := l.buildEndpoint(i, ec)
		if err != nil {
			return fmt.Errorf("lab: endpoint %q: %w", ec.Name, err)
		}
		l.eps[ec.Name] = ep
		l.byIP[ep.publicIP] = ep
		l.order = append(l.order, ec.Name)
	}
	// The WAN starts after every LAN is attached and before anything
	// writes: chunks written before Start vanish (FINDINGS.md).
	if err := l.wan.Start(); err != nil {
		return fmt.Errorf("lab: starting the WAN: %w", err)
	}
	l.onClose(l.wan.Stop)
	// After the peers (closed before, being newer): sockets pion left
	// behind end here, not at their read deadline.
	l.onClose(func() error {
		for _, name := range l.order {
			if rb := l.eps[name].rebind; rb != nil {
				_ = rb.closeAll()
			}
		}
		return nil
	})
	if err := l.buildServers(); err != nil {
		return err
	}
	sig, err := l.buildSignaling()
	if err != nil {
		return err
	}
	l.sig = sig
	return nil
}

// onClose registers f to run at Close (newest first).
func (l *Lab) onClose(f func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, f)
}

// Topology returns the lab's topology, defaults written out.
func (l *Lab) Topology() Topology { return l.topo }

// Seed is the topology's seed.
func (l *Lab) Seed() uint64 { return l.topo.Seed }

// Start is the instant the lab was built: the zero of its timeline.
func (l *Lab) Start() time.Time { return l.start }

// Since is the time since Start on the lab's clock (virtual in a bubble).
func (l *Lab) Since() time.Duration { return time.Since(l.start) }

// Endpoints lists the endpoint names in topology order.
func (l *Lab) Endpoints() []string { return append([]string(nil), l.order...) }

func (l *Lab) endpoint(name string) (*endpoint, error) {
	ep := l.eps[name]
	if ep == nil {
		return nil, fmt.Errorf("%w: %q (the lab has %v)", ErrNoEndpoint, name, l.order)
	}
	return ep, nil
}

// Client returns the signaling client of id, registered: one per id,
// shared by every peer of that id (PROTOCOL.md). The lab closes it.
func (l *Lab) Client(ctx context.Context, id string) (*signaling.Client, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	if c := l.clients[id]; c != nil {
		l.mu.Unlock()
		return c, c.WaitConnected(ctx)
	}
	c, err := signaling.NewClient(signaling.ClientConfig{ID: id, Transport: l.sig.transport, Seed: l.topo.Seed})
	if err != nil {
		l.mu.Unlock()
		return nil, err
	}
	l.clients[id] = c
	l.watchClient(id, c)
	l.closers = append(l.closers, c.Close)
	l.mu.Unlock()
	if err := c.WaitConnected(ctx); err != nil {
		return nil, fmt.Errorf("lab: signaling client %q: %w", id, err)
	}
	return c, nil
}

// PeerSpec says which peer to make: on which endpoint, with which ids.
type PeerSpec struct {
	// Endpoint is the endpoint the peer runs on.
	Endpoint string
	// ID is its signaling id (default: the endpoint's name). Several
	// peers of one endpoint (a mesh, fresh pairs per round) need their
	// own ids.
	ID string
	// Remote is the signaling id of the peer it talks to.
	Remote string
	// Config overrides the topology's peer template when non-nil (ID,
	// RemoteID, Signaling and Net are still the lab's).
	Config *peer.Config
}

// Peer makes a Go peer on an endpoint. Both ids should be registered
// first (Client) where the transport is ws: a message to an id nobody
// holds closes the sender's socket (PROTOCOL.md); Pair does that.
func (l *Lab) Peer(ctx context.Context, s PeerSpec) (*peer.GoPeer, error) {
	ep, err := l.endpoint(s.Endpoint)
	if err != nil {
		return nil, err
	}
	if ep.cfg.Kind != peer.KindGo {
		return nil, fmt.Errorf("%w: endpoint %q is %s: Peer makes Go peers only", ErrUnsupported, s.Endpoint, ep.cfg.Kind)
	}
	if s.ID == "" {
		s.ID = s.Endpoint
	}
	c, err := l.Client(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	cfg := l.topo.Peer
	if s.Config != nil {
		cfg = *s.Config
	}
	cfg.ID, cfg.RemoteID, cfg.Signaling, cfg.Net = s.ID, s.Remote, c, ep.net
	if len(cfg.ICEServers) == 0 {
		cfg.ICEServers = l.iceServers()
	}
	if l.topo.TURN.Mode == ServerExternal {
		// The external server relays on loopback: only relay-to-relay
		// pairs keep its traffic there (gateway.go).
		cfg.RelayOnly = true
	}
	if cfg.Seed == 0 {
		cfg.Seed = l.topo.Seed
	}
	cert, err := ep.certificate()
	if err != nil {
		return nil, err
	}
	p, err := peer.New(cfg, peer.WithLoggerFactory(l.logger), peer.WithCertificate(cert))
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = p.Close()
		return nil, ErrClosed
	}
	l.peers = append(l.peers, p)
	l.watchPeer(p)
	l.closers = append(l.closers, p.Close)
	return p, nil
}

// Pair makes two Go peers talking to each other, a on endpoint ea and b
// on eb, with ids ea and eb (or the given ids); both ids are registered
// before either peer starts.
func (l *Lab) Pair(ctx context.Context, ea, eb string, ids ...string) (a, b *peer.GoPeer, err error) {
	ida, idb := ea, eb
	if len(ids) == 2 {
		ida, idb = ids[0], ids[1]
	} else if len(ids) != 0 {
		return nil, nil, fmt.Errorf("%w: Pair takes two ids or none, got %d", ErrBadTopology, len(ids))
	}
	for _, id := range []string{ida, idb} {
		if _, err := l.Client(ctx, id); err != nil {
			return nil, nil, err
		}
	}
	a, err = l.Peer(ctx, PeerSpec{Endpoint: ea, ID: ida, Remote: idb})
	if err != nil {
		return nil, nil, err
	}
	b, err = l.Peer(ctx, PeerSpec{Endpoint: eb, ID: idb, Remote: ida})
	if err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

// Ledgers returns every endpoint's impairment ledgers (and the signaling
// path's, when it has one), in topology order.
func (l *Lab) Ledgers() []netem.Ledger {
	var out []netem.Ledger
	for _, name := range l.order {
		out = append(out, l.eps[name].shaper.Ledgers()...)
	}
	if l.sig != nil && l.sig.proxy != nil {
		out = append(out, l.sig.proxy.Shaper().Ledgers()...)
	}
	return out
}

// checkOpen is ErrClosed once Close has begun: a control after it would
// act on torn-down parts and land on a timeline nobody reads.
func (l *Lab) checkOpen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return nil
}

// Close stops every flap, closes the peers, the clients, the signaling,
// STUN and TURN, and the routers, newest first, and waits for them. It is
// idempotent: the first call tears down, and every call, concurrent or
// later, returns once the teardown is complete, with its error (every
// error it met, joined).
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.closeDone // a channel, not a sync.Once: a bubble can wait on it
		return l.closeErr
	}
	l.closed = true
	flaps := l.flaps
	l.flaps = map[string]*flapper{}
	closers := l.closers
	l.closers = nil
	l.mu.Unlock()
	defer close(l.closeDone)
	for _, f := range flaps {
		f.stop()
	}
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	l.closeErr = errors.Join(errs...)
	return l.closeErr
}
