package browsers

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// dropTransport is a Transport whose sessions lose the next armed offers
// they send: Send returns nil, as for a message lost in transit.
type dropTransport struct {
	signaling.Transport
	armed   atomic.Int32 // offers still to lose
	dropped atomic.Int32
}

func (d *dropTransport) Dial(ctx context.Context, id string) (signaling.Session, error) {
	s, err := d.Transport.Dial(ctx, id)
	if err != nil {
		return nil, err
	}
	return &dropSession{Session: s, d: d}, nil
}

type dropSession struct {
	signaling.Session
	d *dropTransport
}

func (s *dropSession) Send(ctx context.Context, m signaling.Message) error {
	if m.Type == signaling.TypeOffer && s.d.armed.Add(-1) >= 0 {
		s.d.dropped.Add(1)
		return nil
	}
	return s.Session.Send(ctx, m)
}

// countDetail counts the events of type typ whose Detail has sub.
func countDetail(evs []peer.Event, typ peer.EventType, sub string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ && strings.Contains(e.Detail, sub) {
			n++
		}
	}
	return n
}

// lossyCall is a call between a Go peer and a Chrome peer on one
// loopback, Chrome's signaling through drop, with a channel open.
type lossyCall struct {
	ctx    context.Context
	drop   *dropTransport
	gp     *peer.GoPeer
	ch     *ChromePeer
	cc, gc peer.Channel // Chrome's and the Go peer's ends
}

// newLossyCall starts the call: glare is both sides' strategy, goID the
// Go peer's id (the smaller id is the polite side), answer Chrome's
// AnswerTimeout. Neither side restarts by itself.
func (w *world) newLossyCall(t *testing.T, ctx context.Context, glare peer.GlareStrategy, goID string, answer time.Duration) *lossyCall {
	t.Helper()
	loop, err := signaling.NewLoopback()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loop.Close() })
	c := &lossyCall{ctx: ctx, drop: &dropTransport{Transport: loop}}
	noRestarts := peer.ReconnectConfig{Disabled: true}
	c.gp, err = peer.New(peer.Config{ID: goID, RemoteID: "chrome", Signaling: newClient(t, ctx, goID, loop), Glare: glare, Reconnect: noRestarts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.gp.Close() })
	c.ch = w.chrome(t, ctx, ChromeConfig{
		ID: "chrome", RemoteID: goID, Glare: glare,
		Signaling: SignalingConfig{Kind: SignalingBridge}, Bridge: newClient(t, ctx, "chrome", c.drop),
		AnswerTimeout: answer, Reconnect: noRestarts,
	})
	if c.cc, err = c.ch.CreateDataChannel(ctx, "chat", peer.ChannelOptions{}); err != nil {
		t.Fatal(err)
	}
	if c.gc, err = c.gp.AcceptDataChannel(ctx, "chat"); err != nil {
		t.Fatal(err)
	}
	return c
}

// count counts Chrome's events of type typ whose Detail has sub.
func (c *lossyCall) count(typ peer.EventType, sub string) int {
	return countDetail(c.ch.EventHistory(), typ, sub)
}

// expectEnd checks that dropped offers were lost in all, and that the
// call ends stable and connected with no uncaught error in the page.
func (c *lossyCall) expectEnd(t *testing.T, dropped int32) {
	t.Helper()
	if n := c.drop.dropped.Load(); n != dropped {
		t.Errorf("offers lost: %d, want %d", n, dropped)
	}
	st, err := c.ch.Stats(c.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.SignalingState != "stable" || st.ConnectionState != "connected" {
		t.Errorf("Chrome at the end: signaling %s, connection %s; want stable, connected", st.SignalingState, st.ConnectionState)
	}
	checkNoPageErrors(t, c.ch)
}

// unansweredOffer: the page's offer is lost (GlareLock), so its
// negotiation ends without an answer and the page is left in
// have-local-offer. That used to wedge it: every later offer of its own
// was refused ("cannot offer in signaling state have-local-offer") and
// every remote offer ignored. Now a remote offer under the lock rolls the
// unanswered offer back, and the page's own next negotiation sends it
// again before anything new.
func (w *world) unansweredOffer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := w.newLossyCall(t, ctx, peer.GlareLock, "gopher", 2*time.Second)
	loseRestartOffer := func(round string) {
		t.Helper()
		c.drop.armed.Store(1)
		if err := c.ch.Restart(ctx); err == nil || !strings.Contains(err.Error(), "no answer") {
			t.Fatalf("%s: Chrome's restart with its offer lost: %v, want no answer", round, err)
		}
		st, err := c.ch.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.SignalingState != "have-local-offer" {
			t.Fatalf("%s: Chrome is %s after losing its offer, want have-local-offer", round, st.SignalingState)
		}
	}

	// 1. The remote restarts under the lock: its offer wins, ours is
	// rolled back.
	loseRestartOffer("remote offers next")
	if err := c.gp.Restart(ctx); err != nil {
		t.Fatalf("the Go peer's restart across Chrome's unanswered offer: %v", err)
	}
	if n := c.count(peer.EventGlare, "rolled back our unanswered offer"); n != 1 {
		t.Errorf("Chrome's roll-backs of its unanswered offer: %d, want 1", n)
	}
	if err := roundTrip(ctx, c.cc, c.gc, "after the remote's restart"); err != nil {
		t.Fatal(err)
	}

	// 2. Chrome negotiates next: the lost offer goes again, then a fresh
	// restart.
	loseRestartOffer("Chrome offers next")
	if err := c.ch.Restart(ctx); err != nil {
		t.Fatalf("Chrome's restart after its unanswered offer: %v", err)
	}
	if n := c.count(peer.EventError, "re-sent the unanswered offer"); n != 1 {
		t.Errorf("Chrome's re-sent offers: %d, want 1", n)
	}
	if err := roundTrip(ctx, c.gc, c.cc, "after Chrome's restart"); err != nil {
		t.Fatal(err)
	}
	c.expectEnd(t, 2)
}

// unansweredOfferPerfect: the same under perfect negotiation, with Chrome
// the impolite side (its id is the larger), which ignores a remote offer
// while its own is out. An offer still unanswered after AnswerTimeout is
// sent again once; if that is lost too, a remote offer rolls it back.
func (w *world) unansweredOfferPerfect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := w.newLossyCall(t, ctx, peer.GlarePerfect, "alpha", time.Second)
	unanswered := func() int { return c.count(peer.EventError, "the offer is unanswered") }

	// 1. Chrome's restart offer is lost: a second later it goes again,
	// and the restart completes.
	c.drop.armed.Store(1)
	if err := c.ch.Restart(ctx); err != nil {
		t.Fatalf("Chrome's restart with its first offer lost: %v", err)
	}
	if n := c.count(peer.EventError, "re-sent the unanswered offer"); n != 1 {
		t.Errorf("Chrome's re-sent offers: %d, want 1", n)
	}
	if err := roundTrip(ctx, c.cc, c.gc, "after the re-sent restart"); err != nil {
		t.Fatal(err)
	}

	// 2. The offer and its re-send are lost: Chrome stays in
	// have-local-offer until the Go peer's restart offer rolls it back.
	// Chrome's restart then completes with the Go peer's.
	c.drop.armed.Store(2)
	before := unanswered()
	restarted := make(chan error, 1)
	go func() { restarted <- c.ch.Restart(ctx) }()
	q := c.ch.Events()
	defer q.Close()
	for unanswered() < before+2 {
		if _, err := q.Pop(ctx); err != nil {
			t.Fatalf("waiting for Chrome's offer and its re-send to go unanswered (%d of 2): %v", unanswered()-before, err)
		}
	}
	if err := c.gp.Restart(ctx); err != nil {
		t.Fatalf("the Go peer's restart across Chrome's unanswered offer: %v", err)
	}
	if err := <-restarted; err != nil {
		t.Errorf("Chrome's restart, completed by the Go peer's: %v", err)
	}
	if n := c.count(peer.EventGlare, "rolled back our unanswered offer"); n != 1 {
		t.Errorf("Chrome's roll-backs of its unanswered offer: %d, want 1", n)
	}
	if err := roundTrip(ctx, c.gc, c.cc, "after the Go peer's restart"); err != nil {
		t.Fatal(err)
	}
	c.expectEnd(t, 3)
}
