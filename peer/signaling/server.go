package signaling

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// ProtocolVersion is the version a server reports in its listing unless
// ServerConfig.Version says otherwise.
const ProtocolVersion = "1"

// ServerConfig states what a Server should be; NewServer fills defaults.
type ServerConfig struct {
	// Addr to listen on, default 127.0.0.1:0. Only loopback (or
	// localhost) unless AllowNonLoopback.
	Addr string
	// Version reported in every listing (default ProtocolVersion).
	Version string
	// MaxMessageBytes bounds one message, WebSocket or POST (default
	// DefaultMaxMessageBytes).
	MaxMessageBytes int
	// PingInterval: how often the server pings each client (a ping
	// message on SSE, a ping frame on WebSocket). An SSE client that has
	// not answered the previous ping by the next one is dropped; a
	// WebSocket that sends nothing, pongs included, for 2.5 intervals is
	// closed. Default 10 s.
	PingInterval time.Duration
	// WriteTimeout bounds each write to a client; a client that does not
	// read is dropped after it (default 10 s).
	WriteTimeout time.Duration
	// CloseGrace: how long the server waits for a WebSocket client's
	// close reply (and drains what it still sends) before it cuts the
	// connection (default 1 s).
	CloseGrace time.Duration
	// QueueLength bounds the messages waiting to be written to one
	// client; a sender waits while it is full (default 256).
	QueueLength int
	// AllowNonLoopback lets Addr be any address.
	AllowNonLoopback bool
	// RequireSessionToken refuses an SSE POST that carries no session
	// token (403, forged): only the holder of a stream can then post as
	// its id. Off by default, since the reference clients send none; the
	// lab's clients (the Go SSE transport, the page) always send it.
	RequireSessionToken bool
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.Version == "" {
		c.Version = ProtocolVersion
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.CloseGrace <= 0 {
		c.CloseGrace = time.Second
	}
	if c.QueueLength <= 0 {
		c.QueueLength = 256
	}
	return c
}

// ServerOption configures a Server beyond its config.
type ServerOption func(*Server) error

// WithLogger logs connections and refusals to l (default: nothing).
func WithLogger(l *slog.Logger) ServerOption {
	return func(s *Server) error {
		if l == nil {
			return errors.New("signaling: WithLogger(nil)")
		}
		s.log = l
		return nil
	}
}

type serverState int

const (
	stateNew serverState = iota
	stateRunning
	stateStopping
	stateStopped
)

// Server is the signaling server of PROTOCOL.md: one id space shared by
// WebSocket and SSE clients, so either kind can send to the other.
//
//	ws client  ──ws /<id>───────────▶ reader ─┐            ┌─▶ writer ──▶ ws client
//	sse client ──POST /message──────▶ handler ┼─▶ registry ┤
//	sse client ◀─GET /messages/<id>── stream ◀┘  (by to)   └─▶ (queue per client)
//
// Each registered client has one bounded outgoing queue written by one
// goroutine (the WebSocket writer, or the SSE stream handler), so what one
// sender sends arrives in order. A POST is answered once its message is
// written to the recipient's stream.
type Server struct {
	cfg      ServerConfig // read-only after NewServer
	log      *slog.Logger // read-only after NewServer
	upgrader websocket.Upgrader
	m        counters

	mu         sync.Mutex
	state      serverState   // guarded by mu
	ln         net.Listener  // guarded by mu; set by Start
	hs         *http.Server  // guarded by mu; set by Start
	retryAfter time.Duration // guarded by mu; set when shutdown starts
	// active counts the handlers in flight (WebSocket and SSE
	// connections, POSTs, listings); Add only under mu while running.
	active    sync.WaitGroup
	quit      chan struct{} // closed when shutdown starts
	force     chan struct{} // closed when shutdown stops waiting for clients
	stopped   chan struct{} // closed when shutdown is over
	serveDone chan struct{} // closed when the HTTP serve loop returns
	stopErr   error         // written before stopped is closed

	regMu   sync.Mutex
	clients map[string]*peerConn // guarded by regMu
	// hijacked are the WebSocket connections, which http.Server no
	// longer tracks: a forced shutdown cuts them.
	hijacked map[*websocket.Conn]struct{} // guarded by regMu
}

// NewServer validates cfg; Start binds and serves.
func NewServer(cfg ServerConfig, opts ...ServerOption) (*Server, error) {
	if cfg.MaxMessageBytes < 0 || cfg.PingInterval < 0 || cfg.WriteTimeout < 0 || cfg.CloseGrace < 0 || cfg.QueueLength < 0 {
		return nil, fmt.Errorf("signaling: server config: negative limit in %+v", cfg)
	}
	cfg = cfg.withDefaults()
	if err := checkLoopbackHostPort("server address", cfg.Addr, cfg.AllowNonLoopback); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		log:       slog.New(slog.DiscardHandler),
		quit:      make(chan struct{}),
		force:     make(chan struct{}),
		stopped:   make(chan struct{}),
		serveDone: make(chan struct{}),
		clients:   map[string]*peerConn{},
		hijacked:  map[*websocket.Conn]struct{}{},
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.WriteTimeout,
		// Any origin: the server is for a lab on loopback, and Chrome
		// test pages come from other origins (ports).
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return s, nil
}

// Start binds the address and serves in the background.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateRunning:
		return fmt.Errorf("signaling: server on %s already started", s.ln.Addr())
	case stateStopping, stateStopped:
		return fmt.Errorf("%w: server shut down; make a new one", ErrClosed)
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("signaling: listen on %s: %w", s.cfg.Addr, err)
	}
	if err := checkLoopbackHostPort("server address", ln.Addr().String(), s.cfg.AllowNonLoopback); err != nil {
		ln.Close() // localhost resolved to something else
		return err
	}
	s.ln = ln
	s.hs = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: s.cfg.WriteTimeout,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.state = stateRunning
	go func() {
		defer close(s.serveDone)
		s.hs.Serve(ln) // returns at Shutdown or Close
	}()
	s.log.Info("signaling server listening", "url", "http://"+ln.Addr().String(), "version", s.cfg.Version)
	return nil
}

// Addr is the bound address once started (the configured one before).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.cfg.Addr
}

// URL is the server's base URL, http://HOST:PORT; WebSocket clients use
// ws://HOST:PORT/<id>.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Version is the version the server reports.
func (s *Server) Version() string { return s.cfg.Version }

// Metrics returns a snapshot of the counters.
func (s *Server) Metrics() Metrics {
	m := s.m.snapshot()
	s.regMu.Lock()
	for _, c := range s.clients {
		if c.kind == kindWS {
			m.WSClients++
		} else {
			m.SSEClients++
		}
	}
	s.regMu.Unlock()
	return m
}

// enter admits a handler: it reports false (and the advertised retry
// delay) once shutdown has begun; otherwise the caller must call
// s.active.Done when it ends.
func (s *Server) enter() (bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateRunning {
		return false, s.retryAfter
	}
	s.active.Add(1)
	return true, 0
}

// serveHTTP routes: a WebSocket upgrade at /<id> (any path, so an id may
// be "listing"), GET /messages/<id>, POST /message, GET /listing, GET
// /metrics (the Metrics as JSON).
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	// Browsers on test pages of another origin use EventSource and fetch.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	ok, retry := s.enter()
	if !ok {
		s.refuseHTTP(w, http.StatusServiceUnavailable, ReasonShuttingDown, fmt.Sprintf("server shutting down, retry after %v", retry), retry)
		return
	}
	defer s.active.Done()
	path := r.URL.Path
	switch {
	case websocket.IsWebSocketUpgrade(r):
		s.serveWS(w, r, strings.TrimPrefix(path, "/"))
	case r.Method == http.MethodOptions:
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type, "+sessionHeader)
		// The page's POSTs carry the session header, so they are
		// preflighted: once per page, not once per message (7200 s is
		// Chrome's cap).
		w.Header().Set("Access-Control-Max-Age", "7200")
		w.WriteHeader(http.StatusNoContent)
	case path == "/message":
		s.servePost(w, r)
	case strings.HasPrefix(path, "/messages/"):
		s.serveSSE(w, r, strings.TrimPrefix(path, "/messages/"))
	case path == "/listing":
		s.serveListing(w, r)
	case path == "/metrics":
		s.serveMetrics(w, r)
	default:
		s.refuseHTTP(w, http.StatusNotFound, ReasonBadRequest, fmt.Sprintf("no route for %s %s: want a WebSocket upgrade at /<id>, GET /messages/<id>, POST /message or GET /listing", r.Method, path), 0)
	}
}

// refuseHTTP answers an error status with an ErrorData body and counts
// the refusal; retry > 0 adds Retry-After (whole seconds, rounded up).
func (s *Server) refuseHTTP(w http.ResponseWriter, status int, reason, text string, retry time.Duration) {
	s.m.refuse(reason)
	s.log.Debug("refused", "status", status, "reason", reason, "detail", text)
	if retry > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int64((retry+time.Second-1)/time.Second)))
	}
	writeJSON(w, status, ErrorData{Code: reason, Message: text})
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.refuseHTTP(w, http.StatusMethodNotAllowed, ReasonBadRequest, "GET /metrics, got "+r.Method, 0)
		return
	}
	writeJSON(w, http.StatusOK, s.Metrics())
}
