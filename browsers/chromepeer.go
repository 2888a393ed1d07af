package browsers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/pion/webrtc/v4"

	"github.com/netlab/netlab/internal/feed"
	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// Signaling kinds of ChromeConfig.Signaling.
const (
	SignalingWS     = "ws"     // the page dials ws://HOST:PORT/<id> itself
	SignalingSSE    = "sse"    // the page opens GET /messages/<id> and POSTs /message itself
	SignalingBridge = "bridge" // the page's messages go through a Go signaling.Client (ChromeConfig.Bridge)
)

// bindingName is the CDP binding the page reports its events through.
const bindingName = "netlabEvent"

// Errors of ChromePeer besides peer's.
var (
	// ErrPage: the page threw something that is not one of its coded
	// errors (a bug in the page, or the page went away).
	ErrPage = errors.New("browsers: page error")
	// ErrNotFound: the page has no such channel.
	ErrNotFound = errors.New("browsers: not found")
)

// SignalingConfig says how the page reaches signaling.
type SignalingConfig struct {
	// Kind is SignalingWS, SignalingSSE or SignalingBridge.
	Kind string
	// URL is the server's base URL for ws (ws://127.0.0.1:P) and sse
	// (http://127.0.0.1:P); a signaling.Server's URL() works for both
	// (http:// becomes ws:// for ws).
	URL string
}

// ChromeConfig is what netlab.start needs, and for the bridge transport
// the Go client whose messages go to the page.
// check normalizes the URL's scheme for the kind and checks that a
// bridge has the client of id.
func (s SignalingConfig) check(id string, bridge *signaling.Client) (SignalingConfig, error) {
	switch s.Kind {
	case SignalingWS:
		s.URL = strings.Replace(s.URL, "http://", "ws://", 1)
	case SignalingSSE:
		s.URL = strings.Replace(s.URL, "ws://", "http://", 1)
	case SignalingBridge:
		if bridge == nil {
			return s, fmt.Errorf("signaling kind bridge needs Bridge, the signaling client of %q", id)
		}
		if bridge.ID() != id {
			return s, fmt.Errorf("the Bridge client is %q's, want %q's", bridge.ID(), id)
		}
	default:
		return s, fmt.Errorf("signaling kind: want ws, sse or bridge, got %q", s.Kind)
	}
	return s, nil
}

// ChromeConfig configures a Chrome endpoint: the same settings as the Go
// peer's (peer.Config) where the page has them, and how the page reaches
// signaling.
type ChromeConfig struct {
	ID, RemoteID string
	Glare        peer.GlareStrategy
	ICEServers   []webrtc.ICEServer
	// RelayOnly is iceTransportPolicy "relay" (the lab always sets it:
	// Chrome then only ever talks to its TURN server on 127.0.0.1).
	RelayOnly bool
	Signaling SignalingConfig
	// Bridge is the client of ID for SignalingBridge: what it receives
	// goes to the page (netlab.deliver), what the page emits (signal-out)
	// it sends. The caller owns it (Close does not close it).
	Bridge      *signaling.Client
	LockTimeout time.Duration // default 5 s
	SettleDelay time.Duration // default 50 ms
	// AnswerTimeout bounds a negotiation's wait for the remote's answer
	// (default 30 s). An offer left without one is sent again, unchanged,
	// by the next negotiation (under GlarePerfect once by itself), or
	// rolled back when the remote offers first.
	AnswerTimeout time.Duration
	Heartbeat     peer.HeartbeatConfig
	Reconnect     peer.ReconnectConfig
	// Version is the signaling server version the page expects; a listing
	// with another makes it report version-mismatch and reload. Empty:
	// the page's own (signaling.ProtocolVersion).
	Version string
	// StartTimeout bounds loading the page and netlab.start (default 15 s)
	// when ctx has no earlier deadline.
	StartTimeout time.Duration
}

// DefaultAnswerTimeout is ChromeConfig.AnswerTimeout's default, the
// page's bound on a wait that has no caller deadline.
const DefaultAnswerTimeout = 30 * time.Second

func (c ChromeConfig) withDefaults() (ChromeConfig, error) {
	bad := func(format string, args ...any) (ChromeConfig, error) {
		return c, fmt.Errorf("%w: chrome peer: %s", peer.ErrBadConfig, fmt.Sprintf(format, args...))
	}
	if err := signaling.ValidateID(c.ID); err != nil {
		return bad("ID: %v", err)
	}
	if err := signaling.ValidateID(c.RemoteID); err != nil {
		return bad("RemoteID: %v", err)
	}
	if c.ID == c.RemoteID {
		return bad("ID and RemoteID must differ, got %q twice", c.ID)
	}
	if c.Glare != peer.GlareLock && c.Glare != peer.GlarePerfect {
		return bad("Glare: want GlareLock or GlarePerfect, got %v", c.Glare)
	}
	var err error
	if c.Signaling, err = c.Signaling.check(c.ID, c.Bridge); err != nil {
		return bad("%v", err)
	}
	if c.LockTimeout < 0 || c.SettleDelay < 0 || c.StartTimeout < 0 || c.AnswerTimeout < 0 {
		return bad("negative duration (LockTimeout %v, SettleDelay %v, StartTimeout %v, AnswerTimeout %v)", c.LockTimeout, c.SettleDelay, c.StartTimeout, c.AnswerTimeout)
	}
	if c.AnswerTimeout == 0 {
		c.AnswerTimeout = DefaultAnswerTimeout
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = peer.DefaultLockTimeout
	}
	if c.SettleDelay == 0 {
		c.SettleDelay = peer.DefaultSettleDelay
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 15 * time.Second
	}
	if c.Heartbeat.Interval == 0 {
		c.Heartbeat.Interval = peer.DefaultHeartbeatInterval
	}
	if c.Heartbeat.Timeout == 0 {
		c.Heartbeat.Timeout = peer.DefaultHeartbeatTimeout
	}
	if c.Heartbeat.Timeout <= c.Heartbeat.Interval {
		return bad("heartbeat timeout %v must be longer than the interval %v", c.Heartbeat.Timeout, c.Heartbeat.Interval)
	}
	if c.Reconnect.DisconnectedGrace == 0 {
		c.Reconnect.DisconnectedGrace = peer.DefaultDisconnectedGrace
	}
	c.ICEServers = append([]webrtc.ICEServer(nil), c.ICEServers...)
	return c, nil
}

// startConfig is the JSON of netlab.start.
func (c ChromeConfig) startConfig() map[string]any {
	glare := "lock"
	if c.Glare == peer.GlarePerfect {
		glare = "perfect"
	}
	servers := make([]map[string]any, 0, len(c.ICEServers))
	for _, s := range c.ICEServers {
		m := map[string]any{"urls": s.URLs}
		if s.Username != "" {
			m["username"] = s.Username
		}
		if cred, ok := s.Credential.(string); ok && cred != "" {
			m["credential"] = cred
		}
		servers = append(servers, m)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return map[string]any{
		"id":              c.ID,
		"remoteId":        c.RemoteID,
		"glare":           glare,
		"iceServers":      servers,
		"relayOnly":       c.RelayOnly,
		"signaling":       map[string]any{"kind": c.Signaling.Kind, "url": c.Signaling.URL},
		"lockTimeoutMs":   ms(c.LockTimeout),
		"settleDelayMs":   ms(c.SettleDelay),
		"answerTimeoutMs": ms(c.AnswerTimeout),
		"heartbeat":       map[string]any{"disabled": c.Heartbeat.Disabled, "intervalMs": ms(c.Heartbeat.Interval), "timeoutMs": ms(c.Heartbeat.Timeout)},
		"reconnect":       map[string]any{"disabled": c.Reconnect.Disabled, "graceMs": ms(c.Reconnect.DisconnectedGrace)},
		"version":         c.Version,
	}
}

// ChromePeer is a peer.Endpoint on a Chrome tab running the embedded page:
// calls go through Runtime.evaluate (awaiting the page's promises), events
// come back through the CDP binding netlabEvent.
//
//	ChromePeer ─Evaluate(netlab.X(...), awaitPromise)─▶ page (JS reference peer)
//	page ─netlabEvent(json)─▶ Runtime.bindingCalled ─▶ listener (tab's read loop)
//	      console, exceptions ─────────────────────────┘   │ push, never block
//	                                                      ▼
//	                                             in-order queue ─▶ eventLoop ─▶ events hub,
//	                                               channel inboxes, stats series, bridge out
//	bridge: Bridge client ─Subscribe─▶ bridgeIn ─▶ netlab.deliver ; signal-out ─▶ bridgeOut ─▶ Bridge.SendMessage
type ChromePeer struct {
	*pageLink              // the tab: its events, logs, and the bridge (pagelink.go)
	cfg       ChromeConfig // read-only
	tab       *Tab         // read-only

	events feed.Hub[peer.Event] // every event

	closeOnce sync.Once
	closeErr  error // written once in closeOnce: every Close returns it

	mu        sync.Mutex
	closed    bool              // guarded by mu
	crashed   bool              // guarded by mu: Crash was called; the page answers nothing
	inbox     map[uint16]*inbox // guarded by mu: messages per channel id
	processed int64             // guarded by mu: seq of the last page event handled
	progress  chan struct{}     // guarded by mu: closed and replaced when processed moves
	stats     []peer.Stats      // guarded by mu: the page's 1 s snapshots
}

var _ peer.Endpoint = (*ChromePeer)(nil)

// NewChromePeer loads pageURL (a PageServer's URL) in tab, adds the
// binding first, and starts the JS peer with cfg. The tab stays the
// caller's; Close leaves it on about:blank.
func NewChromePeer(ctx context.Context, tab *Tab, pageURL string, cfg ChromeConfig) (*ChromePeer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if tab == nil {
		return nil, fmt.Errorf("%w: chrome peer: nil tab", peer.ErrBadConfig)
	}
	p := &ChromePeer{
		cfg:      cfg,
		tab:      tab,
		inbox:    map[uint16]*inbox{},
		progress: make(chan struct{}),
	}
	var bridge *signaling.Client
	if cfg.Signaling.Kind == SignalingBridge {
		bridge = cfg.Bridge
	}
	p.pageLink = newLink(tab, cfg.ID, p, bridge)
	if err := p.begin(); err != nil {
		return nil, fmt.Errorf("browsers: chrome peer %s: %w", cfg.ID, err)
	}
	if err := p.boot(ctx, pageURL); err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return p, nil
}

func (p *ChromePeer) boot(ctx context.Context, pageURL string) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	defer cancel()
	rctx, rcancel := p.runCtx(ctx)
	defer rcancel()
	url := pageURL
	if p.cfg.Version != "" {
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		url += sep + "version=" + p.cfg.Version
	}
	if err := loadPage(ctx, rctx, url, p.loaded); err != nil {
		return fmt.Errorf("browsers: chrome peer %s: %w", p.cfg.ID, err)
	}
	if err := p.call(ctx, nil, "start", p.cfg.startConfig()); err != nil {
		return fmt.Errorf("browsers: chrome peer %s: netlab.start: %w", p.cfg.ID, err)
	}
	p.started()
	return nil
}

// peerCodes are the page's error codes as peer's errors.
var peerCodes = map[string]error{
	"closed":         peer.ErrClosed,
	"timeout":        context.DeadlineExceeded,
	"unsupported":    peer.ErrUnsupported,
	"bad-config":     peer.ErrBadConfig,
	"negotiation":    peer.ErrNegotiation,
	"channel-closed": peer.ErrChannelClosed,
	"not-found":      ErrNotFound,
}

// call runs netlab.fn(args...) in the page, awaits its promise and decodes
// the result into out (nil: ignored).
func (p *ChromePeer) call(ctx context.Context, out any, fn string, args ...any) error {
	if p.isClosed() && fn != "close" && fn != "kill" {
		return fmt.Errorf("browsers: chrome peer %s: %w", p.cfg.ID, peer.ErrClosed)
	}
	rctx, cancel := p.runCtx(ctx)
	defer cancel()
	err := pageCall(rctx, out, fn, args...)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		err = context.Cause(ctx)
	case p.isClosed():
		err = peer.ErrClosed
	default:
		err = codedErr(err, peerCodes)
	}
	return fmt.Errorf("browsers: chrome peer %s: netlab.%s: %w", p.cfg.ID, fn, err)
}

// pageEvent is one event of the page (the contract's event JSON).
type pageEvent struct {
	Type       string          `json:"type"`
	Seq        int64           `json:"seq"`
	At         float64         `json:"at"`
	Machine    string          `json:"machine"`
	State      string          `json:"state"`
	Label      string          `json:"label"`
	ChannelID  *float64        `json:"channelId"`
	Path       string          `json:"path"`
	SinceMs    float64         `json:"sinceMs"`
	DurationMs float64         `json:"durationMs"`
	Detail     string          `json:"detail"`
	Data       string          `json:"data"`  // message: base64
	Msg        string          `json:"msg"`   // signal-out: a signaling message
	Stats      json.RawMessage `json:"stats"` // stats
}

func msTime(ms float64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	sec, frac := math.Modf(ms / 1000)
	return time.Unix(int64(sec), int64(frac*1e9))
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

func remoteText(a *runtime.RemoteObject) string {
	if a == nil {
		return ""
	}
	if len(a.Value) > 0 {
		var s string
		if json.Unmarshal(a.Value, &s) == nil {
			return s
		}
		return string(a.Value)
	}
	if a.Description != "" {
		return a.Description
	}
	return string(a.Type)
}

// exception publishes an uncaught exception of the page as an error event.
func (p *ChromePeer) exception(err error) {
	p.publish(peer.Event{Type: peer.EventError, Err: err, Detail: err.Error()})
}

func (p *ChromePeer) pageEvent(payload string) {
	var e pageEvent
	if err := json.Unmarshal([]byte(payload), &e); err != nil {
		p.publish(peer.Event{Type: peer.EventError, Err: fmt.Errorf("%w: a bad event from the page: %v", ErrPage, err), Detail: payload})
		return
	}
	defer p.handled(e.Seq)
	var id uint16
	if e.ChannelID != nil {
		id = uint16(*e.ChannelID)
	}
	switch e.Type {
	case "page-load":
		if !p.pageLoaded() {
			p.publish(peer.Event{Type: peer.EventError, At: msTime(e.At), Err: fmt.Errorf("%w: the page reloaded (%s): the session is gone", peer.ErrClosed, e.Detail), Detail: "page reloaded"})
		}
		return
	case "message":
		b, err := base64.StdEncoding.DecodeString(e.Data)
		if err != nil {
			p.publish(peer.Event{Type: peer.EventError, Err: fmt.Errorf("%w: message on channel %d: %v", ErrPage, id, err)})
			return
		}
		p.inboxOf(id, false).Push(b)
		return
	case "signal-out":
		var m signaling.Message
		if err := json.Unmarshal([]byte(e.Msg), &m); err != nil {
			p.publish(peer.Event{Type: peer.EventError, Err: fmt.Errorf("%w: signal-out: %v", ErrPage, err), Detail: e.Msg})
			return
		}
		p.out.Push(bridgeItem{m: m, seq: e.Seq})
		return
	case "stats":
		s, err := decodeStats(e.Stats)
		if err == nil {
			p.mu.Lock()
			p.stats = append(p.stats, s)
			p.mu.Unlock()
		}
		return
	case "channel-open":
		p.inboxOf(id, true)
	}
	ev := peer.Event{
		Type:      peer.EventType(e.Type),
		At:        msTime(e.At),
		Machine:   e.Machine,
		State:     e.State,
		Label:     e.Label,
		ChannelID: id,
		Path:      e.Path,
		Since:     msTime(e.SinceMs),
		Duration:  msDuration(e.DurationMs),
		Detail:    e.Detail,
	}
	if ev.Type == peer.EventError {
		ev.Err = fmt.Errorf("browsers: %s: %s", p.cfg.ID, e.Detail)
	}
	p.publish(ev)
	if e.Type == "channel-close" {
		p.closeInbox(id)
	}
}

// handled notes that the page events up to seq are handled.
func (p *ChromePeer) handled(seq int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq > p.processed {
		p.processed = seq
		close(p.progress)
		p.progress = make(chan struct{})
	}
}

// waitHandled waits until the page events up to seq are handled.
func (p *ChromePeer) waitHandled(ctx context.Context, seq int64) error {
	for {
		p.mu.Lock()
		done, ch := p.processed >= seq, p.progress
		p.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.ctx.Done():
			return fmt.Errorf("browsers: chrome peer %s: %w", p.cfg.ID, peer.ErrClosed)
		}
	}
}

// inbox is one channel id's message queue.
type inbox struct {
	q      *feed.Queue[[]byte]
	closed bool // guarded by ChromePeer.mu
}

// inboxOf is the message queue of channel id; fresh makes a new one when
// the current one is closed (a channel id used again).
func (p *ChromePeer) inboxOf(id uint16, fresh bool) *feed.Queue[[]byte] {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := p.inbox[id]
	if in == nil || (fresh && in.closed) {
		in = &inbox{q: feed.NewQueue[[]byte]()}
		p.inbox[id] = in
	}
	return in.q
}

// closeInbox ends channel id's queue: Recv drains it, then reports the
// channel closed.
func (p *ChromePeer) closeInbox(id uint16) {
	p.mu.Lock()
	in := p.inbox[id]
	if in != nil {
		in.closed = true
	}
	p.mu.Unlock()
	if in != nil {
		in.q.Close()
	}
}

func (p *ChromePeer) publish(e peer.Event) {
	e.Peer = p.cfg.ID
	if e.At.IsZero() {
		e.At = time.Now()
	}
	p.events.Publish(e)
}

// bridgeSent publishes a failure to send the page's signal-out on the bridge.
func (p *ChromePeer) bridgeSent(it bridgeItem, err error) {
	if err != nil && p.ctx.Err() == nil {
		p.publish(peer.Event{Type: peer.EventError, Err: fmt.Errorf("browsers: %s: bridge: sending %s to %s: %w", p.cfg.ID, it.m.Type, it.m.To, err), Detail: "bridge send: " + err.Error()})
	}
}

// undelivered publishes a failure to hand the page a bridged message.
func (p *ChromePeer) undelivered(_ signaling.Message, err error) {
	if !p.isClosed() {
		p.publish(peer.Event{Type: peer.EventError, Err: err, Detail: "bridge deliver: " + err.Error()})
	}
}

func (p *ChromePeer) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// ID is the peer's signaling id.
func (p *ChromePeer) ID() string { return p.cfg.ID }

// RemoteID is the id of the peer it talks to.
func (p *ChromePeer) RemoteID() string { return p.cfg.RemoteID }

// Kind is peer.KindChrome.
func (p *ChromePeer) Kind() peer.Kind { return peer.KindChrome }

// Tab is the tab the peer runs in.
func (p *ChromePeer) Tab() *Tab { return p.tab }

// Events returns a queue of every event from now on.
func (p *ChromePeer) Events() *peer.EventQueue { return p.events.Subscribe() }

// EventHistory returns every event so far.
func (p *ChromePeer) EventHistory() []peer.Event { return p.events.History() }

// StatsHistory returns the page's snapshots, one a second.
func (p *ChromePeer) StatsHistory() []peer.Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]peer.Stats(nil), p.stats...)
}

// Screenshot captures the tab as PNG (for failed specs).
func (p *ChromePeer) Screenshot(ctx context.Context) ([]byte, error) {
	rctx, cancel := p.runCtx(ctx)
	defer cancel()
	b, err := chromedp.Run(rctx, chromedp.CaptureScreenshot())
	if err != nil {
		return nil, fmt.Errorf("browsers: chrome peer %s: screenshot: %w", p.cfg.ID, err)
	}
	return b, nil
}

// chanResult is what createDataChannel and acceptDataChannel resolve with.
type chanResult struct {
	Label   string              `json:"label"`
	ID      uint16              `json:"id"`
	Options peer.ChannelOptions `json:"options"`
	Seq     int64               `json:"seq"`
}

// CreateDataChannel negotiates a channel and returns once it is open.
func (p *ChromePeer) CreateDataChannel(ctx context.Context, label string, opts peer.ChannelOptions) (peer.Channel, error) {
	var r chanResult
	if err := p.call(ctx, &r, "createDataChannel", label, opts); err != nil {
		return nil, err
	}
	if opts.Negotiated && opts.ID != nil {
		r.ID = *opts.ID
	}
	return p.channel(ctx, r, opts)
}

// AcceptDataChannel returns the channel the remote opened with label.
func (p *ChromePeer) AcceptDataChannel(ctx context.Context, label string) (peer.Channel, error) {
	timeout := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	var r chanResult
	if err := p.call(ctx, &r, "acceptDataChannel", label, timeout.Milliseconds()); err != nil {
		return nil, err
	}
	return p.channel(ctx, r, r.Options)
}

func (p *ChromePeer) channel(ctx context.Context, r chanResult, opts peer.ChannelOptions) (peer.Channel, error) {
	if err := p.waitHandled(ctx, r.Seq); err != nil {
		return nil, err
	}
	return &chromeChannel{p: p, label: r.Label, id: r.ID, opts: opts, q: p.inboxOf(r.ID, false)}, nil
}

// AddMedia starts sending fake media and returns once negotiated.
func (p *ChromePeer) AddMedia(ctx context.Context, m peer.MediaSpec) error {
	return p.call(ctx, nil, "addMedia", map[string]any{"kind": m.Kind, "bitrate": m.Bitrate, "trackId": m.TrackID})
}

// AcquireLock runs body under the pair mutex: the page acquires it
// (netlab.lock), body runs here, netlab.unlock releases it after the
// settle rule.
func (p *ChromePeer) AcquireLock(ctx context.Context, body func(context.Context) error) error {
	token := "go-" + rand.Text()
	if err := p.call(ctx, nil, "lock", token); err != nil {
		// The page may still be waiting for the lock: give that wait up.
		uctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		_ = p.call(uctx, nil, "unlock", token, false)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("%w: %w", peer.ErrLockTimeout, err)
		}
		return err
	}
	bctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(p.ctx, cancel)
	var berr error
	func() {
		defer func() {
			stop()
			cancel()
		}()
		berr = body(bctx)
	}()
	uctx, ucancel := context.WithTimeout(p.ctx, 35*time.Second)
	defer ucancel()
	if err := p.call(uctx, nil, "unlock", token, berr == nil); err != nil && berr == nil && !p.isClosed() {
		return fmt.Errorf("browsers: chrome peer %s: releasing the lock: %w", p.cfg.ID, err)
	}
	return berr
}

// LockWaiting counts the lock calls queued or waiting for a lockResponse
// in the page (not one that holds the lock), as GoPeer's does, so that a
// test can order its calls; -1 when the page does not answer within 5 s.
func (p *ChromePeer) LockWaiting() int {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	var n int
	if err := p.call(ctx, &n, "lockWaiting"); err != nil {
		return -1
	}
	return n
}

// Restart does an ICE restart and returns once ICE is connected again.
func (p *ChromePeer) Restart(ctx context.Context) error {
	return p.call(ctx, nil, "restart")
}

// pageStats is the page's Stats JSON (rtt in seconds, times in ms).
type pageStats struct {
	At                 float64 `json:"at"`
	RTTS               float64 `json:"rttS"`
	LocalCandidate     string  `json:"localCandidate"`
	RemoteCandidate    string  `json:"remoteCandidate"`
	LocalAddress       string  `json:"localAddress"`
	RemoteAddress      string  `json:"remoteAddress"`
	BytesSent          float64 `json:"bytesSent"`
	BytesReceived      float64 `json:"bytesReceived"`
	PacketsSent        float64 `json:"packetsSent"`
	PacketsReceived    float64 `json:"packetsReceived"`
	RTPPacketsSent     float64 `json:"rtpPacketsSent"`
	RTPBytesSent       float64 `json:"rtpBytesSent"`
	RTPPacketsReceived float64 `json:"rtpPacketsReceived"`
	RTPBytesReceived   float64 `json:"rtpBytesReceived"`
	TracksReceived     int     `json:"tracksReceived"`
	ConnectionState    string  `json:"connectionState"`
	ICEState           string  `json:"iceState"`
	SignalingState     string  `json:"signalingState"`
	History            []struct {
		At      float64 `json:"at"`
		Machine string  `json:"machine"`
		State   string  `json:"state"`
	} `json:"history"`
}

func decodeStats(raw json.RawMessage) (peer.Stats, error) {
	var s pageStats
	if err := json.Unmarshal(raw, &s); err != nil {
		return peer.Stats{}, fmt.Errorf("%w: stats: %v", ErrPage, err)
	}
	out := peer.Stats{
		At:                 msTime(s.At),
		RTT:                time.Duration(s.RTTS * float64(time.Second)),
		LocalCandidate:     s.LocalCandidate,
		RemoteCandidate:    s.RemoteCandidate,
		LocalAddress:       s.LocalAddress,
		RemoteAddress:      s.RemoteAddress,
		BytesSent:          uint64(s.BytesSent),
		BytesReceived:      uint64(s.BytesReceived),
		PacketsSent:        uint64(s.PacketsSent),
		PacketsReceived:    uint64(s.PacketsReceived),
		RTPPacketsSent:     uint64(s.RTPPacketsSent),
		RTPBytesSent:       uint64(s.RTPBytesSent),
		RTPPacketsReceived: uint64(s.RTPPacketsReceived),
		RTPBytesReceived:   uint64(s.RTPBytesReceived),
		TracksReceived:     s.TracksReceived,
		ConnectionState:    s.ConnectionState,
		ICEState:           s.ICEState,
		SignalingState:     s.SignalingState,
	}
	for _, h := range s.History {
		out.History = append(out.History, peer.StateChange{At: msTime(h.At), Machine: h.Machine, State: h.State})
	}
	return out, nil
}

// Stats returns a snapshot from the page's getStats.
func (p *ChromePeer) Stats(ctx context.Context) (peer.Stats, error) {
	var raw json.RawMessage
	if err := p.call(ctx, &raw, "stats"); err != nil {
		return peer.Stats{}, err
	}
	return decodeStats(raw)
}

// Close says bye, tears the page's session down (netlab.close), leaves
// the tab on about:blank and stops everything it started. Idempotent; the
// tab and the Bridge client stay the caller's.
func (p *ChromePeer) Close() error {
	return p.shutdown(false)
}

// Kill is an abrupt end, for tests: the page tears its session down
// without a bye (netlab.kill), then everything stops as in Close. Unlike
// the Go peer's Kill, Chrome still closes its DTLS and SCTP association
// on the way out.
func (p *ChromePeer) Kill() {
	_ = p.shutdown(true)
}

// Crash crashes the tab's renderer (CDP Page.crash): the page dies without
// a word, sending nothing more, as a crashed or frozen tab does. Kill, by
// contrast, lets Chrome close the association on its way out. Close still
// tidies up afterwards.
func (p *ChromePeer) Crash() {
	p.mu.Lock()
	p.crashed = true
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(p.ctx, crashWait)
	defer cancel()
	rctx, rcancel := p.runCtx(ctx)
	defer rcancel()
	_, _ = chromedp.Run(rctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.Crash, cdp.Empty{})
		return err // none comes: the renderer is gone
	}))
}

// crashWait bounds Crash: Page.crash never answers.
const crashWait = time.Second

func (p *ChromePeer) shutdown(kill bool) error {
	p.closeOnce.Do(func() { p.closeErr = p.shutdownOnce(kill) })
	return p.closeErr
}

func (p *ChromePeer) shutdownOnce(kill bool) error {
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var seq int64
	fn := "close"
	if kill {
		fn = "kill"
	}
	p.mu.Lock()
	crashed := p.crashed
	p.mu.Unlock()
	// A tab whose browser died, or whose page was crashed on
	// purpose, has nothing left to close: the first is the
	// browser's failure (the suite reports it), not Close's.
	if !crashed {
		if cerr := p.call(ctx, &seq, fn); cerr != nil && !errors.Is(cerr, peer.ErrClosed) && p.tab.Context().Err() == nil {
			err = cerr
		}
	}
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	if p.cfg.Signaling.Kind == SignalingBridge && err == nil && !kill && !crashed {
		// The bye went out as signal-out before close resolved: send
		// it before the bridge stops.
		p.drainBridge(ctx, seq)
	}
	rctx, rcancel := p.runCtx(ctx)
	_ = chromedp.Do(rctx, chromedp.Navigate("about:blank")) // the page and its connections end here
	rcancel()
	p.stop()
	p.mu.Lock()
	queues := p.inbox
	p.inbox = map[uint16]*inbox{}
	p.mu.Unlock()
	for _, in := range queues {
		in.q.Close()
	}
	p.events.Close()
	return err
}

// drainBridge waits until the page events up to seq are handled and the
// signal-out messages among them sent.
func (p *ChromePeer) drainBridge(ctx context.Context, seq int64) {
	if err := p.waitHandled(ctx, seq); err != nil {
		return
	}
	p.flushBridge(ctx)
}

// chromeChannel is a ChromePeer's Channel: calls go to the page by channel
// id, messages come from the peer's per-channel queue.
type chromeChannel struct {
	p     *ChromePeer
	label string
	id    uint16
	opts  peer.ChannelOptions
	q     *feed.Queue[[]byte]
}

func (c *chromeChannel) Label() string                { return c.label }
func (c *chromeChannel) ID() uint16                   { return c.id }
func (c *chromeChannel) Options() peer.ChannelOptions { return c.opts }

// Send sends p on the channel (base64 across CDP).
func (c *chromeChannel) Send(ctx context.Context, b []byte) error {
	return c.p.call(ctx, nil, "send", c.id, base64.StdEncoding.EncodeToString(b))
}

// Recv returns the next message; peer.ErrChannelClosed once the channel
// closed and its messages are drained.
func (c *chromeChannel) Recv(ctx context.Context) ([]byte, error) {
	b, err := c.q.Pop(ctx)
	if errors.Is(err, feed.ErrClosed) {
		return nil, fmt.Errorf("browsers: channel %q (%d) of %s: %w", c.label, c.id, c.p.cfg.ID, peer.ErrChannelClosed)
	}
	return b, err
}

// Close closes the channel; idempotent.
func (c *chromeChannel) Close() error {
	if c.p.isClosed() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.p.call(ctx, nil, "closeChannel", c.id)
}
