package signaling

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/netlab/netlab/internal/feed"
)

// State is a client's connection state.
type State int

const (
	StateConnecting   State = iota // dialing
	StateConnected                 // registered; messages flow
	StateDisconnected              // waiting to retry; sends are queued
	StateClosed                    // Close was called
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateDisconnected:
		return "disconnected"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// EventType says what a ClientEvent reports.
type EventType string

const (
	EventState           EventType = "state"            // State changed
	EventListing         EventType = "listing"          // the server's listing arrived
	EventVersionMismatch EventType = "version-mismatch" // the server's version is not the expected one
	EventServerError     EventType = "server-error"     // the server refused something we sent
)

// ClientEvent is one thing that happened to a client.
type ClientEvent struct {
	Type    EventType
	At      time.Time
	State   State         // EventState
	Attempt int           // EventState: reconnect attempt (0 on the first dial)
	RetryIn time.Duration // EventState disconnected: the wait before the next dial
	Err     error         // why it disconnected, or what the server refused
	Listing *Listing      // EventListing, EventVersionMismatch
	Want    string        // EventVersionMismatch: the version expected
}

// ClientConfig configures a Client.
type ClientConfig struct {
	ID        string
	Transport Transport
	// QueueLimit bounds the messages kept while disconnected (default
	// 256); Send past it returns ErrQueueFull.
	QueueLimit int
	Backoff    Backoff
	// Seed drives the backoff jitter; 0 derives one from the id, so a run
	// is repeatable either way.
	Seed uint64
	// Version is the server version this client was built for; a listing
	// with another version raises EventVersionMismatch. Empty: no check.
	Version string
}

// Filter selects the messages a Subscription gets: From "" matches any
// sender, no Types matches any type.
type Filter struct {
	From  string
	Types []string
}

func (f Filter) match(m Message) bool {
	if f.From != "" && f.From != m.From {
		return false
	}
	if len(f.Types) == 0 {
		return true
	}
	for _, t := range f.Types {
		if t == m.Type {
			return true
		}
	}
	return false
}

// Subscription is an in-order queue of the messages matching its filter.
type Subscription struct {
	c      *Client
	filter Filter
	q      *feed.Queue[Message]
}

// Recv returns the next matching message, waiting until ctx ends; after
// Close (of the subscription or the client) it returns ErrClosed once
// the queue is drained.
func (s *Subscription) Recv(ctx context.Context) (Message, error) {
	m, err := s.q.Pop(ctx)
	if errors.Is(err, feed.ErrClosed) {
		return Message{}, ErrClosed
	}
	return m, err
}

// Close stops the subscription; idempotent.
func (s *Subscription) Close() {
	s.c.unsubscribe(s)
	s.q.Close()
}

// Client is one id's connection to signaling, shared by every peer that
// uses the id. It redials with backoff when the connection drops, queues
// what is sent meanwhile, and dispatches incoming messages to
// subscriptions by sender and type.
//
//	Send ──sendMu──▶ session.Send            (connected)
//	     └────────▶ queue (bounded) ──flush on reconnect──▶ session.Send
//	run: dial ─▶ read loop ─▶ subscriptions ; on error: backoff ─▶ dial
type Client struct {
	cfg  ClientConfig // read-only
	rng  *rand.Rand   // used by run only
	done chan struct{}
	wg   sync.WaitGroup
	ctx  context.Context // canceled by Close
	stop context.CancelFunc

	sendMu sync.Mutex // serializes sends, flushes and session changes
	sess   Session    // guarded by sendMu; nil while down
	queue  []Message  // guarded by sendMu

	mu        sync.Mutex
	state     State           // guarded by mu
	subs      []*Subscription // guarded by mu
	listing   *Listing        // guarded by mu
	connected chan struct{}   // guarded by mu; closed while connected
	unhandled int             // guarded by mu: messages no subscription matched

	events    feed.Hub[ClientEvent]
	closeOnce sync.Once
}

// NewClient validates cfg and starts connecting in the background.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := ValidateID(cfg.ID); err != nil {
		return nil, err
	}
	if cfg.Transport == nil {
		return nil, fmt.Errorf("signaling: client %q: no transport", cfg.ID)
	}
	if cfg.QueueLimit <= 0 {
		cfg.QueueLimit = 256
	}
	cfg.Backoff = cfg.Backoff.withDefaults()
	seed := cfg.Seed
	if seed == 0 {
		h := fnv.New64a()
		h.Write([]byte(cfg.ID))
		seed = h.Sum64()
	}
	ctx, stop := context.WithCancel(context.Background())
	c := &Client{
		cfg:       cfg,
		rng:       rand.New(rand.NewPCG(seed, 0x6e65746c6162)),
		done:      make(chan struct{}),
		ctx:       ctx,
		stop:      stop,
		connected: make(chan struct{}),
	}
	c.wg.Add(1)
	go c.run()
	return c, nil
}

// ID is the client's id.
func (c *Client) ID() string { return c.cfg.ID }

// Transport names the medium (ws, sse, loopback, delayed).
func (c *Client) Transport() string { return c.cfg.Transport.Name() }

// State is the current connection state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Listing is the last listing the server sent, or nil.
func (c *Client) Listing() *Listing {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.listing
}

// Unhandled counts messages that arrived with no subscription matching.
func (c *Client) Unhandled() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unhandled
}

// Events returns a queue of every client event from now on.
func (c *Client) Events() *feed.Queue[ClientEvent] { return c.events.Subscribe() }

// EventHistory returns every event so far.
func (c *Client) EventHistory() []ClientEvent { return c.events.History() }

// WaitConnected waits until the client is registered.
func (c *Client) WaitConnected(ctx context.Context) error {
	for {
		c.mu.Lock()
		ch, st := c.connected, c.state
		c.mu.Unlock()
		if st == StateClosed {
			return ErrClosed
		}
		select {
		case <-ch:
			if c.State() == StateConnected {
				return nil
			}
		case <-c.done:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("signaling: %s client %q not connected (state %v): %w", c.Transport(), c.cfg.ID, c.State(), ctx.Err())
		}
	}
}

// Subscribe returns a subscription to the messages matching f. Subscribe
// before the messages can arrive: nothing is replayed.
func (c *Client) Subscribe(f Filter) *Subscription {
	s := &Subscription{c: c, filter: f, q: feed.NewQueue[Message]()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == StateClosed {
		s.q.Close()
		return s
	}
	c.subs = append(c.subs, s)
	return s
}

func (c *Client) unsubscribe(s *Subscription) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.subs {
		if x == s {
			c.subs = append(c.subs[:i], c.subs[i+1:]...)
			return
		}
	}
}

// Send sends a message from this client's id, encoding data as JSON.
func (c *Client) Send(ctx context.Context, to, typ string, data any) error {
	m, err := NewMessage(c.cfg.ID, to, typ, data)
	if err != nil {
		return err
	}
	return c.SendMessage(ctx, m)
}

// SendMessage sends m. While connected it goes out at once (in order with
// every other send); while down it is queued for the next connection, or
// refused with ErrQueueFull. ErrUnknownRecipient and the server's
// refusals (ErrTooLarge, ErrMalformed) come back to the caller; nothing
// is retried for them.
func (c *Client) SendMessage(ctx context.Context, m Message) error {
	if m.From == "" {
		m.From = c.cfg.ID
	}
	if err := m.Validate(); err != nil {
		return err
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.State() == StateClosed {
		return ErrClosed
	}
	if c.sess != nil {
		err := c.sess.Send(ctx, m)
		if err == nil || !errors.Is(err, ErrNotConnected) {
			return err
		}
		// The session died under us: keep the message for the next one.
		c.sess = nil
	}
	if len(c.queue) >= c.cfg.QueueLimit {
		return fmt.Errorf("%w: %d messages waiting for %s client %q to reconnect", ErrQueueFull, len(c.queue), c.Transport(), c.cfg.ID)
	}
	c.queue = append(c.queue, m)
	return nil
}

// Queued is the number of messages waiting for a connection.
func (c *Client) Queued() int {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return len(c.queue)
}

// Close ends the connection and the reconnect loop and closes every
// subscription; it waits for the loop to end. Idempotent.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.stop()
		c.wg.Wait()
		close(c.done)
		c.mu.Lock()
		subs := c.subs
		c.subs = nil
		c.mu.Unlock()
		for _, s := range subs {
			s.q.Close()
		}
		c.events.Close()
	})
	return nil
}

func (c *Client) setState(st State, attempt int, retryIn time.Duration, err error) {
	c.mu.Lock()
	if st == StateConnected {
		close(c.connected)
	} else if c.state == StateConnected {
		c.connected = make(chan struct{})
	}
	c.state = st
	c.mu.Unlock()
	c.events.Publish(ClientEvent{Type: EventState, At: time.Now(), State: st, Attempt: attempt, RetryIn: retryIn, Err: err})
}

// run dials, reads until the session ends, and redials with backoff, until
// Close.
func (c *Client) run() {
	defer c.wg.Done()
	defer c.setState(StateClosed, 0, 0, nil)
	attempt := 0
	for {
		c.setState(StateConnecting, attempt, 0, nil)
		sess, err := c.cfg.Transport.Dial(c.ctx, c.cfg.ID)
		if err == nil {
			if err = c.attach(sess); err == nil {
				attempt = 0
				c.setState(StateConnected, 0, 0, nil)
				err = c.readLoop(sess)
			}
			c.detach(sess)
		}
		if c.ctx.Err() != nil {
			return
		}
		wait := c.cfg.Backoff.delay(attempt, c.rng)
		var re *RetryError
		if errors.As(err, &re) && re.After > 0 {
			wait = re.After
		}
		attempt++
		c.setState(StateDisconnected, attempt, wait, err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return
		}
	}
}

// attach flushes the queue on sess and makes it the live session.
func (c *Client) attach(sess Session) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	for len(c.queue) > 0 {
		err := sess.Send(c.ctx, c.queue[0])
		if errors.Is(err, ErrNotConnected) || c.ctx.Err() != nil {
			return fmt.Errorf("signaling: flushing %d queued messages: %w", len(c.queue), err)
		}
		if err != nil {
			// Refused for itself (unknown recipient, too large): drop
			// that message, say so, keep the rest.
			c.events.Publish(ClientEvent{Type: EventServerError, At: time.Now(), Err: fmt.Errorf("queued %s to %q: %w", c.queue[0].Type, c.queue[0].To, err)})
		}
		c.queue = c.queue[1:]
	}
	c.sess = sess
	return nil
}

func (c *Client) detach(sess Session) {
	c.sendMu.Lock()
	if c.sess == sess {
		c.sess = nil
	}
	c.sendMu.Unlock()
	sess.Close()
}

func (c *Client) readLoop(sess Session) error {
	for {
		m, err := sess.Recv(c.ctx)
		if err != nil {
			return err
		}
		if m.From == c.cfg.ID && m.To == c.cfg.ID && c.serverMessage(m) {
			continue
		}
		c.dispatch(m)
	}
}

// serverMessage handles what the server sends a client about itself
// (from == to == id): listing and error. It reports false for anything
// else, which is then dispatched like any message (a peer sending to
// itself).
func (c *Client) serverMessage(m Message) bool {
	switch m.Type {
	case TypeListing:
		var l Listing
		if err := m.DecodeData(&l); err != nil {
			c.events.Publish(ClientEvent{Type: EventServerError, At: time.Now(), Err: err})
			return true
		}
		c.mu.Lock()
		c.listing = &l
		c.mu.Unlock()
		c.events.Publish(ClientEvent{Type: EventListing, At: time.Now(), Listing: &l})
		if c.cfg.Version != "" && l.Version != c.cfg.Version {
			c.events.Publish(ClientEvent{Type: EventVersionMismatch, At: time.Now(), Listing: &l, Want: c.cfg.Version,
				Err: fmt.Errorf("%w: server version %q, client built for %q", ErrVersionMismatch, l.Version, c.cfg.Version)})
		}
		return true
	case TypeError:
		var e ErrorData
		if err := m.DecodeData(&e); err != nil {
			e = ErrorData{Code: "unknown", Message: string(m.Data)}
		}
		c.events.Publish(ClientEvent{Type: EventServerError, At: time.Now(), Err: fmt.Errorf("%w: %s: %s", ErrRejected, e.Code, e.Message)})
		return true
	}
	return false
}

func (c *Client) dispatch(m Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	matched := false
	for _, s := range c.subs {
		if s.filter.match(m) {
			s.q.Push(m)
			matched = true
		}
	}
	if !matched {
		c.unhandled++
	}
}
