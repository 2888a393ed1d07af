package signaling

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"

	"github.com/netlab/netlab/internal/feed"
)

// SSETransport reaches a server with server-sent events: a session reads
// GET /messages/<id> and sends with POST /message, one at a time.
type SSETransport struct {
	base *url.URL     // read-only
	cfg  remoteConfig // read-only
}

// NewSSETransport checks baseURL (http://HOST:PORT, as Server.URL gives
// it) and that it is loopback unless AllowNonLoopback.
func NewSSETransport(baseURL string, opts ...RemoteOption) (*SSETransport, error) {
	cfg, err := newRemoteConfig(opts)
	if err != nil {
		return nil, err
	}
	u, err := parseBaseURL(baseURL, cfg.allowNonLoopback)
	if err != nil {
		return nil, err
	}
	return &SSETransport{base: u, cfg: cfg}, nil
}

// Name is "sse".
func (t *SSETransport) Name() string { return "sse" }

// Dial opens id's event stream and returns once the server has
// registered it (its listing, the first event, has arrived; Recv returns
// it first). Each session has its own HTTP client, closed with it.
func (t *SSETransport) Dial(ctx context.Context, id string) (Session, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	target := withScheme(t.base, false, "/messages/"+url.PathEscape(id))
	hc := &http.Client{
		Transport: &http.Transport{
			DialContext:         loopbackDialer(t.cfg.dialTimeout, t.cfg.allowNonLoopback).DialContext,
			DisableCompression:  true,
			MaxIdleConnsPerHost: 2,
		},
		// A redirect could lead anywhere; the server never sends one.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &sseSession{
		id:      id,
		cfg:     t.cfg,
		hc:      hc,
		postURL: withScheme(t.base, false, "/message"),
		ctx:     sctx,
		cancel:  cancel,
		q:       feed.NewQueue[Message](),
		ready:   make(chan struct{}),
		ended:   make(chan struct{}),
		pings:   make(chan json.RawMessage, 1),
	}
	dctx, dcancel := context.WithTimeout(ctx, t.cfg.dialTimeout)
	defer dcancel()
	// Until the stream is up, the dial's deadline bounds the session.
	stop := context.AfterFunc(dctx, cancel)
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, target, nil)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("signaling: sse %s: %v", target, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := hc.Do(req)
	if err != nil {
		s.Close()
		if dctx.Err() != nil {
			return nil, fmt.Errorf("%w: sse %s: %w", ErrNotConnected, target, dctx.Err())
		}
		return nil, dialError("sse", target, nil, err)
	}
	if resp.StatusCode != http.StatusOK {
		err := dialError("sse", target, resp, nil)
		resp.Body.Close()
		s.Close()
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		resp.Body.Close()
		s.Close()
		return nil, fmt.Errorf("%w: sse %s: want Content-Type text/event-stream, got %q", ErrRejected, target, resp.Header.Get("Content-Type"))
	}
	s.token = resp.Header.Get(sessionHeader)
	s.wg.Add(2)
	go s.readLoop(resp.Body)
	go s.pongLoop()
	select {
	case <-s.ready:
	case <-dctx.Done():
	}
	if !stop() || s.q.Len() == 0 {
		err := s.endErr()
		if dctx.Err() != nil {
			err = fmt.Errorf("%w: sse %s: no listing from the server: %w", ErrNotConnected, target, dctx.Err())
		}
		s.Close()
		return nil, err
	}
	return s, nil
}
