package browsers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/netlab/netlab/internal/feed"
	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// ChromeClientConfig is what netlab.startClient needs: an id and how the
// page reaches signaling.
type ChromeClientConfig struct {
	ID        string
	Signaling SignalingConfig
	// Bridge is the Go client of ID for SignalingBridge: what it receives
	// goes to the page (netlab.deliver), what the page's client sends
	// (signal-out) it sends. The ChromeClient owns it: Close closes it,
	// since closing a client is what ends its id's registration.
	Bridge *signaling.Client
	// StartTimeout bounds loading the page and the page's client
	// registering (default 15 s) when ctx has no earlier deadline.
	StartTimeout time.Duration
}

func (c ChromeClientConfig) withDefaults() (ChromeClientConfig, error) {
	bad := func(format string, args ...any) (ChromeClientConfig, error) {
		return c, fmt.Errorf("%w: chrome client: %s", peer.ErrBadConfig, fmt.Sprintf(format, args...))
	}
	if err := signaling.ValidateID(c.ID); err != nil {
		return bad("ID: %v", err)
	}
	var err error
	if c.Signaling, err = c.Signaling.check(c.ID, c.Bridge); err != nil {
		return bad("%v", err)
	}
	if c.StartTimeout < 0 {
		return bad("negative StartTimeout %v", c.StartTimeout)
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 15 * time.Second
	}
	return c, nil
}

// ChromeClient is a signaling client of one id living in a Chrome tab:
// the page's own client (netlab.startClient: its WebSocket or SSE client,
// or the bridge to a Go client), with the Go face of a *signaling.Client
// (Send, Subscribe with a Filter, State, Close...). That face is a real
// signaling.Client whose transport is the page: its one session lasts
// while the page's client is connected, its sends are netlab.clientSend,
// and what it receives is the page's signal-in events, so subscriptions,
// filters, listings and states behave as they do for a Go client.
//
//	Send ─▶ signaling.Client ─▶ pageSession.Send ─Evaluate(netlab.clientSend)─▶ page client ─▶ medium
//	medium ─▶ page client ─netlabEvent(signal-in)─▶ listener ─▶ raw ─▶ eventLoop ─▶ in ─▶ pageSession.Recv
//	      ─▶ signaling.Client dispatch ─▶ Subscriptions
//	page state (signaling-client) ─▶ eventLoop ─▶ ends the session when not connected; Dial waits for connected
//	bridge: Bridge ─Subscribe─▶ bridgeIn ─▶ netlab.deliver ; signal-out ─▶ bridgeOut ─▶ Bridge.SendMessage ─▶ sent[seq]
type ChromeClient struct {
	*pageLink                    // the tab: its events, logs, and the bridge (pagelink.go)
	cfg       ChromeClientConfig // read-only
	tab       *Tab               // read-only

	in     *feed.Queue[signaling.Message] // signal-in, for the session (outlives sessions: nothing is lost between two)
	client *signaling.Client              // the Go face; made once the page's client started

	closeOnce sync.Once
	closeErr  error // written once in closeOnce: every Close returns it

	mu        sync.Mutex
	closed    bool            // guarded by mu
	state     string          // guarded by mu: the page client's state
	stateCh   chan struct{}   // guarded by mu: closed and replaced when state changes
	sess      *pageSession    // guarded by mu: the live session, nil while none
	sent      map[int64]error // guarded by mu: bridge: what sending the signal-out of seq gave
	sentCh    chan struct{}   // guarded by mu: closed and replaced when sent grows
	transport string          // read-only after New: Transport's name
}

// NewChromeClient loads pageURL (a PageServer's URL) in tab, adds the
// binding first, starts the page's signaling client with cfg and returns
// once it is registered. The tab stays the caller's; Close leaves it on
// about:blank. For SignalingBridge the client owns cfg.Bridge (on error
// too).
func NewChromeClient(ctx context.Context, tab *Tab, pageURL string, cfg ChromeClientConfig) (*ChromeClient, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		if cfg.Bridge != nil {
			_ = cfg.Bridge.Close()
		}
		return nil, err
	}
	if tab == nil {
		if cfg.Bridge != nil {
			_ = cfg.Bridge.Close()
		}
		return nil, fmt.Errorf("%w: chrome client: nil tab", peer.ErrBadConfig)
	}
	c := &ChromeClient{
		cfg:       cfg,
		tab:       tab,
		in:        feed.NewQueue[signaling.Message](),
		stateCh:   make(chan struct{}),
		sent:      map[int64]error{},
		sentCh:    make(chan struct{}),
		transport: "chrome-" + cfg.Signaling.Kind,
	}
	var bridge *signaling.Client
	if cfg.Signaling.Kind == SignalingBridge {
		c.transport += "-" + cfg.Bridge.Transport()
		bridge = cfg.Bridge
	}
	c.pageLink = newLink(tab, cfg.ID, c, bridge)
	if err := c.begin(); err != nil {
		if cfg.Bridge != nil {
			_ = cfg.Bridge.Close()
		}
		return nil, fmt.Errorf("browsers: chrome client %s: %w", cfg.ID, err)
	}
	if err := c.boot(ctx, pageURL); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

func (c *ChromeClient) boot(ctx context.Context, pageURL string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.StartTimeout)
	defer cancel()
	rctx, rcancel := c.runCtx(ctx)
	defer rcancel()
	if err := loadPage(ctx, rctx, pageURL, c.loaded); err != nil {
		return fmt.Errorf("browsers: chrome client %s: %w", c.cfg.ID, err)
	}
	timeout := time.Until(deadlineOf(ctx))
	start := map[string]any{
		"id":               c.cfg.ID,
		"signaling":        map[string]any{"kind": c.cfg.Signaling.Kind, "url": c.cfg.Signaling.URL},
		"connectTimeoutMs": max(1, timeout.Milliseconds()),
	}
	if err := c.call(ctx, nil, "startClient", start); err != nil {
		return fmt.Errorf("browsers: chrome client %s: netlab.startClient: %w", c.cfg.ID, err)
	}
	c.started()
	// The Go face dials the page (pageTransport.Dial waits for the page's
	// client to be connected): made now, its session starts connected.
	client, err := signaling.NewClient(signaling.ClientConfig{
		ID:        c.cfg.ID,
		Transport: pageTransport{c},
		// Redialing is waiting for the page's client, which has its own
		// backoff: this one only spaces the waits.
		Backoff: signaling.Backoff{Min: time.Millisecond, Max: 20 * time.Millisecond},
	})
	if err != nil {
		return fmt.Errorf("browsers: chrome client %s: %w", c.cfg.ID, err)
	}
	c.mu.Lock()
	c.client = client
	c.mu.Unlock()
	if err := client.WaitConnected(ctx); err != nil {
		return fmt.Errorf("browsers: chrome client %s: %w", c.cfg.ID, err)
	}
	return nil
}

func deadlineOf(ctx context.Context) time.Time {
	dl, _ := ctx.Deadline() // boot's ctx always has one
	return dl
}

// clientCodes are the page's error codes as signaling's errors.
var clientCodes = map[string]error{
	"closed":      signaling.ErrNotConnected,
	"timeout":     context.DeadlineExceeded,
	"bad-config":  peer.ErrBadConfig,
	"not-found":   signaling.ErrUnknownRecipient,
	"too-large":   signaling.ErrTooLarge,
	"malformed":   signaling.ErrMalformed,
	"negotiation": ErrPage,
}

// call runs netlab.fn(args...) in the page, awaits its promise and decodes
// the result into out (nil: ignored).
func (c *ChromeClient) call(ctx context.Context, out any, fn string, args ...any) error {
	rctx, cancel := c.runCtx(ctx)
	defer cancel()
	err := pageCall(rctx, out, fn, args...)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		err = context.Cause(ctx)
	case c.ctx.Err() != nil:
		err = signaling.ErrClosed
	default:
		err = codedErr(err, clientCodes)
	}
	return fmt.Errorf("browsers: chrome client %s: netlab.%s: %w", c.cfg.ID, fn, err)
}

// exception: an uncaught exception is in the logs and Err already.
func (c *ChromeClient) exception(error) {}

func (c *ChromeClient) pageEvent(payload string) {
	var e pageEvent
	if err := json.Unmarshal([]byte(payload), &e); err != nil {
		c.log(fmt.Sprintf("a bad event from the page: %v: %s", err, payload), nil)
		return
	}
	switch e.Type {
	case "page-load":
		if !c.pageLoaded() {
			// Its client is gone with the page: the session ends, the
			// Go face waits for a client that will not come back.
			c.log("the page reloaded: "+e.Detail, nil)
			c.setState("closed")
		}
	case "state":
		if e.Machine == "signaling-client" {
			c.setState(e.State)
		}
	case "signal-in":
		var m signaling.Message
		if err := json.Unmarshal([]byte(e.Msg), &m); err != nil {
			c.log(fmt.Sprintf("signal-in: %v: %s", err, e.Msg), nil)
			return
		}
		c.in.Push(m)
	case "signal-out":
		var m signaling.Message
		if err := json.Unmarshal([]byte(e.Msg), &m); err != nil {
			c.log(fmt.Sprintf("signal-out: %v: %s", err, e.Msg), nil)
			return
		}
		c.out.Push(bridgeItem{m: m, seq: e.Seq})
	case "error":
		c.log("page error: "+e.Detail, nil)
	}
}

// setState records the page client's state; a session ends when it is
// no longer connected.
func (c *ChromeClient) setState(st string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == st {
		return
	}
	c.state = st
	close(c.stateCh)
	c.stateCh = make(chan struct{})
	if st != "connected" && c.sess != nil {
		c.sess.cancel()
		c.sess = nil
	}
}

// bridgeSent notes what sending the signal-out of it.seq gave, for the Send
// waiting on it.
func (c *ChromeClient) bridgeSent(it bridgeItem, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent[it.seq] = err
	close(c.sentCh)
	c.sentCh = make(chan struct{})
}

// waitSent waits for bridgeOut's outcome for the signal-out of seq.
func (c *ChromeClient) waitSent(ctx context.Context, seq int64) error {
	for {
		c.mu.Lock()
		err, ok := c.sent[seq]
		if ok {
			delete(c.sent, seq)
		}
		ch := c.sentCh
		c.mu.Unlock()
		if ok {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.ctx.Done():
			return signaling.ErrNotConnected
		}
	}
}

// undelivered logs a bridged message the page could not be handed.
func (c *ChromeClient) undelivered(m signaling.Message, err error) {
	c.log(fmt.Sprintf("bridge: delivering %s from %s: %v", m.Type, m.From, err), nil)
}

// pageTransport is the Go face's transport: the page's client.
type pageTransport struct{ c *ChromeClient }

func (t pageTransport) Name() string { return t.c.transport }

// Dial waits until the page's client is connected and returns a session
// that lasts while it stays so.
func (t pageTransport) Dial(ctx context.Context, id string) (signaling.Session, error) {
	c := t.c
	for {
		c.mu.Lock()
		st, ch := c.state, c.stateCh
		if st == "connected" && !c.closed {
			sctx, cancel := context.WithCancel(c.ctx)
			s := &pageSession{c: c, ctx: sctx, cancel: cancel}
			if c.sess != nil {
				c.sess.cancel()
			}
			c.sess = s
			c.mu.Unlock()
			return s, nil
		}
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, signaling.ErrNotConnected
		}
	}
}

// pageSession is one connected stretch of the page's client.
type pageSession struct {
	c      *ChromeClient
	ctx    context.Context // canceled when the page's client leaves connected, or by Close
	cancel context.CancelFunc
}

// Send sends m through the page's client (netlab.clientSend); on the
// bridge it returns once the Bridge client has sent it, with what that
// gave.
func (s *pageSession) Send(ctx context.Context, m signaling.Message) error {
	if s.ctx.Err() != nil {
		return signaling.ErrNotConnected
	}
	c := s.c
	var seq int64
	if err := c.call(ctx, &seq, "clientSend", m.To, m.Type, string(m.Data)); err != nil {
		if errors.Is(err, signaling.ErrClosed) {
			return fmt.Errorf("%w: %w", signaling.ErrNotConnected, err)
		}
		return err
	}
	if c.cfg.Signaling.Kind == SignalingBridge {
		return c.waitSent(ctx, seq)
	}
	return nil
}

// Recv returns the next message the page's client received;
// ErrNotConnected once the session ended (what arrives later waits for
// the next session).
func (s *pageSession) Recv(ctx context.Context) (signaling.Message, error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	m, err := s.c.in.Pop(rctx)
	if err != nil {
		if ctx.Err() != nil {
			return signaling.Message{}, ctx.Err()
		}
		return signaling.Message{}, signaling.ErrNotConnected
	}
	return m, nil
}

func (s *pageSession) Close() error {
	s.cancel()
	return nil
}

// ID is the client's id.
func (c *ChromeClient) ID() string { return c.cfg.ID }

// Transport names the medium: chrome-ws, chrome-sse, or chrome-bridge-
// and the Bridge client's.
func (c *ChromeClient) Transport() string { return c.transport }

// Tab is the tab the client runs in.
func (c *ChromeClient) Tab() *Tab { return c.tab }

// State is the Go face's state: connected while the page's client is.
func (c *ChromeClient) State() signaling.State { return c.client.State() }

// WaitConnected waits until the page's client is registered (and the Go
// face attached to it).
func (c *ChromeClient) WaitConnected(ctx context.Context) error { return c.client.WaitConnected(ctx) }

// Send sends a message from the client's id, encoding data as JSON, as
// signaling.Client's Send does.
func (c *ChromeClient) Send(ctx context.Context, to, typ string, data any) error {
	return c.client.Send(ctx, to, typ, data)
}

// SendMessage sends m, as signaling.Client's SendMessage does: through the
// page at once while connected, else queued for the next connection.
func (c *ChromeClient) SendMessage(ctx context.Context, m signaling.Message) error {
	return c.client.SendMessage(ctx, m)
}

// Subscribe returns a subscription to the messages matching f that the
// page's client receives from now on.
func (c *ChromeClient) Subscribe(f signaling.Filter) *signaling.Subscription {
	return c.client.Subscribe(f)
}

// Listing is the last listing the server sent the page's client, or nil.
func (c *ChromeClient) Listing() *signaling.Listing { return c.client.Listing() }

// Unhandled counts messages that arrived with no subscription matching.
func (c *ChromeClient) Unhandled() int { return c.client.Unhandled() }

// Queued is the number of messages waiting for the page's client to
// connect.
func (c *ChromeClient) Queued() int { return c.client.Queued() }

// Events returns a queue of the Go face's events from now on.
func (c *ChromeClient) Events() *feed.Queue[signaling.ClientEvent] { return c.client.Events() }

// EventHistory returns the Go face's events so far (its state follows
// the page's client).
func (c *ChromeClient) EventHistory() []signaling.ClientEvent { return c.client.EventHistory() }

// Close closes the page's client (its socket or stream closes, so the
// server forgets the id), the Go face (its subscriptions end) and, on the
// bridge, the Bridge client; it leaves the tab on about:blank and stops
// everything it started. Idempotent; the tab stays the caller's.
func (c *ChromeClient) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *ChromeClient) close() error {
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c.mu.Lock()
	c.closed = true
	client := c.client
	c.mu.Unlock()
	started := c.isStarted() // else boot failed before the page's client started: nothing to close there
	if cerr := c.call(ctx, nil, "clientClose"); cerr != nil && started && !errors.Is(cerr, signaling.ErrClosed) {
		err = cerr
	}
	if client != nil {
		_ = client.Close()
	}
	rctx, rcancel := c.runCtx(ctx)
	_ = chromedp.Do(rctx, chromedp.Navigate("about:blank")) // the page and its connections end here
	rcancel()
	c.in.Close()
	c.stop()
	if c.cfg.Bridge != nil {
		_ = c.cfg.Bridge.Close()
	}
	return err
}
