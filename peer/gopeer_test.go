package peer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer/peertest"
	"github.com/netlab/netlab/peer/signaling"
)

// pair is two GoPeers, "a" (polite: "a" < "b") and "b", on a peertest
// world, talking over a signaling Loopback. Build it inside a synctest
// bubble (or in real time); t.Cleanup closes everything, in order.
type pair struct {
	a, b   *GoPeer
	gate   *gateTransport
	ca, cb *signaling.Client
	loop   *signaling.Loopback
	world  *peertest.World
	ha, hb *peertest.Host
}

type pairOpts struct {
	delay  time.Duration // signaling delay bound (0: immediate)
	seed   uint64
	config func(*Config)  // adjusts both configs
	shapeA *netem.Profile // shapes a's link (seeded with seed)
	opts   []Option       // for both peers
}

func newPair(t *testing.T, o pairOpts) *pair {
	t.Helper()
	pr := &pair{}
	var err error
	if pr.world, err = peertest.New(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pr.close)
	var hopts []peertest.HostOption
	if o.shapeA != nil {
		hopts = append(hopts, peertest.WithProfile(o.shapeA, o.seed))
	}
	if pr.ha, err = pr.world.AddHost("a", hopts...); err != nil {
		t.Fatal(err)
	}
	if pr.hb, err = pr.world.AddHost("b"); err != nil {
		t.Fatal(err)
	}
	var lopts []signaling.LoopbackOption
	if o.delay > 0 {
		lopts = append(lopts, signaling.WithDelay(o.delay, o.seed))
	}
	if pr.loop, err = signaling.NewLoopback(lopts...); err != nil {
		t.Fatal(err)
	}
	pr.gate = &gateTransport{Transport: pr.loop}
	if pr.ca, err = signaling.NewClient(signaling.ClientConfig{ID: "a", Transport: pr.gate}); err != nil {
		t.Fatal(err)
	}
	if pr.cb, err = signaling.NewClient(signaling.ClientConfig{ID: "b", Transport: pr.gate}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range []*signaling.Client{pr.ca, pr.cb} {
		if err := c.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(id, remote string, c *signaling.Client, h *peertest.Host) *GoPeer {
		cfg := Config{ID: id, RemoteID: remote, Signaling: c, Net: h.Net, Seed: o.seed + 1}
		if o.config != nil {
			o.config(&cfg)
		}
		p, err := New(cfg, o.opts...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	pr.a = mk("a", "b", pr.ca, pr.ha)
	pr.b = mk("b", "a", pr.cb, pr.hb)
	return pr
}

func (pr *pair) close() {
	for _, p := range []*GoPeer{pr.a, pr.b} {
		if p != nil {
			p.Close()
		}
	}
	for _, c := range []*signaling.Client{pr.ca, pr.cb} {
		if c != nil {
			c.Close()
		}
	}
	if pr.loop != nil {
		pr.loop.Close()
	}
	if pr.world != nil {
		pr.world.Close()
	}
}

// waitConnected waits until ICE is connected on both sides.
func (pr *pair) waitConnected(ctx context.Context) error {
	for _, p := range []*GoPeer{pr.a, pr.b} {
		err := p.waitFor(ctx, "ICE connected", func() (bool, error) {
			up, _, _ := p.iceMarks()
			return up, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// stats snapshots both sides.
func (pr *pair) stats(t *testing.T, ctx context.Context) (a, b Stats) {
	t.Helper()
	a, err := pr.a.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b, err = pr.b.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// expectMessage sends msg on from and expects it back on to.
func expectMessage(ctx context.Context, from, to Channel, msg string) error {
	if err := from.Send(ctx, []byte(msg)); err != nil {
		return fmt.Errorf("send %q on %q: %w", msg, from.Label(), err)
	}
	got, err := to.Recv(ctx)
	if err != nil {
		return fmt.Errorf("recv %q on %q: %w", msg, to.Label(), err)
	}
	if string(got) != msg {
		return fmt.Errorf("on %q got %q, want %q", to.Label(), got, msg)
	}
	return nil
}

// countEvents counts the events of type typ (and label, if not empty).
func countEvents(evs []Event, typ EventType, label string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ && (label == "" || e.Label == label) {
			n++
		}
	}
	return n
}

// waitEvent pops events until one matches.
func waitEvent(ctx context.Context, q *EventQueue, match func(Event) bool) (Event, error) {
	for {
		e, err := q.Pop(ctx)
		if err != nil {
			return Event{}, err
		}
		if match(e) {
			return e, nil
		}
	}
}

func errorEvents(evs []Event) []error {
	var errs []error
	for _, e := range evs {
		if e.Type == EventError {
			errs = append(errs, e.Err)
		}
	}
	return errs
}

// gateTransport holds every message sent while paused and hands them on,
// in order, at Resume: a way to make offers cross for certain.
type gateTransport struct {
	signaling.Transport
	mu     sync.Mutex
	paused bool       // guarded by mu
	held   []heldSend // guarded by mu
}

type heldSend struct {
	s signaling.Session
	m signaling.Message
}

type gateSession struct {
	signaling.Session
	g *gateTransport
}

func (g *gateTransport) Dial(ctx context.Context, id string) (signaling.Session, error) {
	s, err := g.Transport.Dial(ctx, id)
	if err != nil {
		return nil, err
	}
	return &gateSession{Session: s, g: g}, nil
}

func (s *gateSession) Send(ctx context.Context, m signaling.Message) error {
	s.g.mu.Lock()
	defer s.g.mu.Unlock()
	if s.g.paused {
		s.g.held = append(s.g.held, heldSend{s.Session, m})
		return nil
	}
	return s.Session.Send(ctx, m)
}

// Pause holds messages from now on.
func (g *gateTransport) Pause() {
	g.mu.Lock()
	g.paused = true
	g.mu.Unlock()
}

// Held counts the messages held.
func (g *gateTransport) Held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.held)
}

// Resume sends what was held, in order, and lets messages through again.
func (g *gateTransport) Resume() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.paused = false
	held := g.held
	g.held = nil
	var errs []error
	for _, h := range held {
		errs = append(errs, h.s.Send(context.Background(), h.m))
	}
	return errors.Join(errs...)
}
