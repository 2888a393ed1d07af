package lab

import (
	"context"
	"fmt"

	"github.com/netlab/netlab/browsers"
	"github.com/netlab/netlab/internal/feed"
	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// WithBrowser gives the lab the browser its Chrome endpoints open their
// tabs in: one per suite process, shared by every lab (the caller closes
// it). A topology with Chrome endpoints needs one.
func WithBrowser(b *browsers.Browser) Option {
	return func(o *options) error {
		if b == nil {
			return fmt.Errorf("%w: WithBrowser needs a browser, got nil", ErrBadTopology)
		}
		o.browser = b
		return nil
	}
}

// Endpoint makes a peer on an endpoint, of the endpoint's kind: a Go peer
// (as Peer does) or a Chrome tab running the page's JS reference peer,
// relay-only through its TURN listener (bridge.go). A Chrome endpoint's
// signaling is the page's own WebSocket or SSE client for ws and sse, and
// for the in-memory transports the lab's client of its id, bridged into
// the page.
func (l *Lab) Endpoint(ctx context.Context, s PeerSpec) (peer.Endpoint, error) {
	ep, err := l.endpoint(s.Endpoint)
	if err != nil {
		return nil, err
	}
	if ep.cfg.Kind == peer.KindGo {
		return l.Peer(ctx, s)
	}
	if s.ID == "" {
		s.ID = s.Endpoint
	}
	if l.browser == nil {
		return nil, fmt.Errorf("%w: endpoint %q is a Chrome endpoint and the lab has no browser (WithBrowser)", ErrBadTopology, s.Endpoint)
	}
	tmpl := l.topo.Peer
	if s.Config != nil {
		tmpl = *s.Config
	}
	cfg := browsers.ChromeConfig{
		ID: s.ID, RemoteID: s.Remote, Glare: tmpl.Glare,
		ICEServers: l.chromeICEServers(ep), RelayOnly: true,
		LockTimeout: tmpl.LockTimeout, SettleDelay: tmpl.SettleDelay,
		Heartbeat: tmpl.Heartbeat, Reconnect: tmpl.Reconnect,
	}
	if cfg.Signaling, cfg.Bridge, err = l.chromeSignaling(ctx, s.ID); err != nil {
		return nil, err
	}
	page, tab, err := l.chromeTab(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	cp, err := browsers.NewChromePeer(ctx, tab, page.URL(), cfg)
	if err != nil {
		_ = tab.Close()
		return nil, fmt.Errorf("lab: Chrome endpoint %q: %w", s.ID, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = cp.Close()
		_ = tab.Close()
		return nil, ErrClosed
	}
	l.chromes = append(l.chromes, cp)
	l.watchPeer(cp)
	// Newest first at Close: the peer says bye, then its tab goes.
	l.closers = append(l.closers, tab.Close, cp.Close)
	return cp, nil
}

// Chromes returns the Chrome peers made so far, in creation order: a
// spec reads their console, exceptions, stats and screenshots.
func (l *Lab) Chromes() []*browsers.ChromePeer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*browsers.ChromePeer(nil), l.chromes...)
}

// Connect makes two peers talking to each other, a on endpoint ea and b on
// eb, of their endpoints' kinds, with ids ea and eb (or the given ids). A
// Go peer facing a Chrome tab is made the DTLS client.
// Every id is registered before either peer starts: Chrome endpoints on
// ws or sse register from their page, so they are made first.
func (l *Lab) Connect(ctx context.Context, ea, eb string, ids ...string) (a, b peer.Endpoint, err error) {
	ida, idb := ea, eb
	if len(ids) == 2 {
		ida, idb = ids[0], ids[1]
	} else if len(ids) != 0 {
		return nil, nil, fmt.Errorf("%w: Connect takes two ids or none, got %d", ErrBadTopology, len(ids))
	}
	specs := []PeerSpec{{Endpoint: ea, ID: ida, Remote: idb}, {Endpoint: eb, ID: idb, Remote: ida}}
	kind := func(name string) peer.Kind {
		if ep := l.eps[name]; ep != nil {
			return ep.cfg.Kind
		}
		return ""
	}
	for i, s := range specs {
		if kind(s.Endpoint) == peer.KindGo && kind(specs[1-i].Endpoint) == peer.KindChrome {
			// Against Chrome a Go peer is always the DTLS client
			// (peer.Config.DTLSClient says why).
			cfg := l.topo.Peer
			cfg.DTLSClient = true
			specs[i].Config = &cfg
		}
	}
	selfRegistering := func(s PeerSpec) bool {
		ep := l.eps[s.Endpoint]
		tr := l.topo.Signaling.Transport
		return ep != nil && ep.cfg.Kind == peer.KindChrome && (tr == TransportWS || tr == TransportSSE)
	}
	for _, s := range specs {
		if _, err := l.endpoint(s.Endpoint); err != nil {
			return nil, nil, err
		}
		if !selfRegistering(s) {
			if _, err := l.Client(ctx, s.ID); err != nil {
				return nil, nil, err
			}
		}
	}
	made := make([]peer.Endpoint, 2)
	for _, first := range []bool{true, false} {
		for i, s := range specs {
			if selfRegistering(s) != first {
				continue
			}
			if made[i], err = l.Endpoint(ctx, s); err != nil {
				return nil, nil, err
			}
		}
	}
	return made[0], made[1], nil
}

// pageServer serves the JS reference peer's page, started with the first
// Chrome endpoint and closed with the lab.
func (l *Lab) pageServer() (*browsers.PageServer, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if l.page != nil {
		return l.page, nil
	}
	ps, err := browsers.ServePage()
	if err != nil {
		return nil, fmt.Errorf("lab: serving the page: %w", err)
	}
	l.page = ps
	l.closers = append(l.closers, ps.Close)
	return ps, nil
}

// SignalingClient is a signaling client of one id, whoever runs it: a Go
// *signaling.Client, or a *browsers.ChromeClient (the page's own client in
// a tab, with the same Go face). What the seed's dispatch specs drive.
type SignalingClient interface {
	// ID is the client's id.
	ID() string
	// Transport names the medium.
	Transport() string
	// State is the connection state.
	State() signaling.State
	// WaitConnected waits until the client is registered.
	WaitConnected(ctx context.Context) error
	// Send sends a message from ID, data encoded as JSON.
	Send(ctx context.Context, to, typ string, data any) error
	// SendMessage sends m (From defaults to ID).
	SendMessage(ctx context.Context, m signaling.Message) error
	// Subscribe returns a queue of the messages matching f from now on.
	Subscribe(f signaling.Filter) *signaling.Subscription
	// Listing is the last listing the server sent, or nil.
	Listing() *signaling.Listing
	// Events returns a queue of the client's events from now on.
	Events() *feed.Queue[signaling.ClientEvent]
	// EventHistory returns the client's events so far.
	EventHistory() []signaling.ClientEvent
	// Close ends the client and its subscriptions; idempotent.
	Close() error
}

var (
	_ SignalingClient = (*signaling.Client)(nil)
	_ SignalingClient = (*browsers.ChromeClient)(nil)
)

// SignalingClient returns a registered signaling client of id on an
// endpoint, of the endpoint's kind: on a Go endpoint the lab's Go client
// of id (Client: one per id, shared); on a Chrome endpoint a ChromeClient
// in a fresh tab, the page's own WebSocket or SSE client for ws and sse,
// and for the in-memory transports the page's bridge through the lab's
// client of id (which the ChromeClient then owns: closing it ends the
// id's registration). Each call on a Chrome endpoint makes a new client:
// call it once per id. The lab closes what it made.
func (l *Lab) SignalingClient(ctx context.Context, endpoint, id string) (SignalingClient, error) {
	ep, err := l.endpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if ep.cfg.Kind == peer.KindGo {
		return l.Client(ctx, id)
	}
	if l.browser == nil {
		return nil, fmt.Errorf("%w: endpoint %q is a Chrome endpoint and the lab has no browser (WithBrowser)", ErrBadTopology, endpoint)
	}
	cfg := browsers.ChromeClientConfig{ID: id}
	if cfg.Signaling, cfg.Bridge, err = l.chromeSignaling(ctx, id); err != nil {
		return nil, err
	}
	page, tab, err := l.chromeTab(ctx, id)
	if err != nil {
		return nil, err
	}
	cc, err := browsers.NewChromeClient(ctx, tab, page.URL(), cfg)
	if err != nil {
		_ = tab.Close()
		return nil, fmt.Errorf("lab: Chrome signaling client %q: %w", id, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = cc.Close()
		_ = tab.Close()
		return nil, ErrClosed
	}
	l.watchClientHistory("signaling:"+id+" (chrome)", cc.EventHistory)
	// Newest first at Close: the client closes, then its tab goes.
	l.closers = append(l.closers, tab.Close, cc.Close)
	return cc, nil
}

// chromeSignaling is how a Chrome tab of id reaches signaling: the page's
// own client for ws and sse, the lab's client of id bridged into the page
// for the in-memory transports.
func (l *Lab) chromeSignaling(ctx context.Context, id string) (browsers.SignalingConfig, *signaling.Client, error) {
	switch l.topo.Signaling.Transport {
	case TransportWS:
		return browsers.SignalingConfig{Kind: browsers.SignalingWS, URL: l.SignalingURL()}, nil, nil
	case TransportSSE:
		return browsers.SignalingConfig{Kind: browsers.SignalingSSE, URL: l.SignalingURL()}, nil, nil
	}
	c, err := l.Client(ctx, id)
	if err != nil {
		return browsers.SignalingConfig{}, nil, err
	}
	return browsers.SignalingConfig{Kind: browsers.SignalingBridge}, c, nil
}

// chromeTab opens a tab for id in the lab's browser, and the page server
// it loads the page from.
func (l *Lab) chromeTab(ctx context.Context, id string) (*browsers.PageServer, *browsers.Tab, error) {
	page, err := l.pageServer()
	if err != nil {
		return nil, nil, err
	}
	tab, err := l.browser.NewTab(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: a tab for %q: %w", id, err)
	}
	return page, tab, nil
}
