package signaling

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/netlab/netlab/internal/feed"
)

// Loopback is an in-memory signaling medium for peers in one process:
// delivery is a direct hand-over, or, with WithDelay, a random per-message
// delay that keeps every message in order (the seed's random-delay
// loopback). It runs inside a synctest bubble, where its delays are
// virtual time.
//
//	client A ─Send─▶ Loopback ──(delay queue, FIFO)──▶ session B ─Recv─▶ client B
//
// SetReachable(false) cuts every session and refuses dials, which is how
// tests take signaling down and bring it back.
type Loopback struct {
	maxDelay time.Duration // read-only; 0: immediate

	mu        sync.Mutex
	sessions  map[string]*loopSession // guarded by mu
	reachable bool                    // guarded by mu
	isolated  map[string]bool         // guarded by mu
	closed    bool                    // guarded by mu
	rng       *rand.Rand              // guarded by mu
	lastAt    time.Time               // guarded by mu: latest delivery time handed out
	pending   []delayed               // guarded by mu: FIFO, deliverAt non-decreasing
	wake      chan struct{}
	done      chan struct{}
	wg        sync.WaitGroup
	delivered int // guarded by mu
	lost      int // guarded by mu: recipient gone at delivery time
}

type delayed struct {
	at time.Time
	m  Message
}

// LoopbackOption configures a Loopback.
type LoopbackOption func(*Loopback) error

// WithDelay delays each message by a random time in [0, max), drawn from a
// generator seeded with seed, keeping messages in order: a message is
// never delivered before one sent earlier.
func WithDelay(max time.Duration, seed uint64) LoopbackOption {
	return func(l *Loopback) error {
		if max <= 0 {
			return fmt.Errorf("signaling: loopback delay must be positive, got %v", max)
		}
		l.maxDelay = max
		l.rng = rand.New(rand.NewPCG(seed, 0x64656c6179))
		return nil
	}
}

// DefaultLoopbackDelay is the seed's random-delay bound (PROTOCOL.md).
const DefaultLoopbackDelay = 100 * time.Millisecond

// NewLoopback returns a medium with nobody registered.
func NewLoopback(opts ...LoopbackOption) (*Loopback, error) {
	l := &Loopback{
		sessions:  map[string]*loopSession{},
		isolated:  map[string]bool{},
		reachable: true,
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	for _, o := range opts {
		if err := o(l); err != nil {
			return nil, err
		}
	}
	if l.maxDelay > 0 {
		l.wg.Add(1)
		go l.deliverLoop()
	}
	return l, nil
}

// Name is "loopback", or "delayed" with WithDelay.
func (l *Loopback) Name() string {
	if l.maxDelay > 0 {
		return "delayed"
	}
	return "loopback"
}

// Dial registers id, replacing (and ending) any session already under it,
// as the server does.
func (l *Loopback) Dial(ctx context.Context, id string) (Session, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if !l.reachable || l.isolated[id] {
		return nil, fmt.Errorf("%w: %s signaling unreachable for %q", ErrNotConnected, l.Name(), id)
	}
	if old := l.sessions[id]; old != nil {
		old.q.Close()
	}
	s := &loopSession{l: l, id: id, q: feed.NewQueue[Message]()}
	l.sessions[id] = s
	return s, nil
}

// SetReachable(false) ends every session and refuses dials until
// SetReachable(true): a signaling outage.
func (l *Loopback) SetReachable(ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reachable = ok
	if !ok {
		for id, s := range l.sessions {
			s.q.Close()
			delete(l.sessions, id)
		}
	}
}

// Isolate(id, true) cuts id's session and refuses its dials until
// Isolate(id, false): an outage of one client's signaling only.
func (l *Loopback) Isolate(id string, cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !cut {
		delete(l.isolated, id)
		return
	}
	l.isolated[id] = true
	if s := l.sessions[id]; s != nil {
		s.q.Close()
		delete(l.sessions, id)
	}
}

// Disconnect ends id's session (its client redials): a dropped connection.
func (l *Loopback) Disconnect(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sessions[id]
	if s == nil {
		return false
	}
	s.q.Close()
	delete(l.sessions, id)
	return true
}

// Registered lists the ids with a live session.
func (l *Loopback) Registered() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.sessions))
	for id := range l.sessions {
		ids = append(ids, id)
	}
	return ids
}

// Counts returns the messages delivered and those lost because the
// recipient had gone when a delayed message came due.
func (l *Loopback) Counts() (delivered, lost int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.delivered, l.lost
}

// Close ends every session and the delivery goroutine, dropping messages
// still in flight. Idempotent.
func (l *Loopback) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	for id, s := range l.sessions {
		s.q.Close()
		delete(l.sessions, id)
	}
	l.pending = nil
	l.mu.Unlock()
	close(l.done)
	l.wg.Wait()
	return nil
}

func (l *Loopback) send(from *loopSession, m Message) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sessions[from.id] != from {
		return ErrNotConnected
	}
	if l.sessions[m.To] == nil {
		return fmt.Errorf("%w: %q", ErrUnknownRecipient, m.To)
	}
	if l.maxDelay == 0 {
		l.sessions[m.To].q.Push(m)
		l.delivered++
		return nil
	}
	at := time.Now().Add(time.Duration(l.rng.Int64N(int64(l.maxDelay))))
	if at.Before(l.lastAt) {
		at = l.lastAt
	}
	l.lastAt = at
	l.pending = append(l.pending, delayed{at: at, m: m})
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return nil
}

// deliverLoop hands each delayed message over when it comes due.
func (l *Loopback) deliverLoop() {
	defer l.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		l.mu.Lock()
		now := time.Now()
		for len(l.pending) > 0 && !l.pending[0].at.After(now) {
			m := l.pending[0].m
			l.pending = l.pending[1:]
			if s := l.sessions[m.To]; s != nil {
				s.q.Push(m)
				l.delivered++
			} else {
				l.lost++
			}
		}
		var next time.Duration = -1
		if len(l.pending) > 0 {
			next = l.pending[0].at.Sub(now)
		}
		l.mu.Unlock()
		if next >= 0 {
			t.Reset(next)
			select {
			case <-t.C:
			case <-l.wake:
				t.Stop()
			case <-l.done:
				return
			}
			continue
		}
		select {
		case <-l.wake:
		case <-l.done:
			return
		}
	}
}

type loopSession struct {
	l  *Loopback
	id string
	q  *feed.Queue[Message]
}

func (s *loopSession) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.l.send(s, m)
}

func (s *loopSession) Recv(ctx context.Context) (Message, error) {
	m, err := s.q.Pop(ctx)
	if err == feed.ErrClosed {
		return Message{}, ErrNotConnected
	}
	return m, err
}

func (s *loopSession) Close() error {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	if s.l.sessions[s.id] == s {
		delete(s.l.sessions, s.id)
	}
	s.q.Close()
	return nil
}
