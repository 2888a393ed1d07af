package peer

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/netlab/netlab/peer/signaling"
)

// An offer pion has set but that never got its answer (its send failed,
// or the offer or its answer was lost) used to leave the peer in
// have-local-offer for good: pion v4.2.1 can neither replace nor roll
// back a local offer, so every later offer was refused ("cannot offer in
// signaling state have-local-offer") and, under GlareLock, every remote
// offer ignored. Now the same offer is sent again before anything else.

// resentEvents counts the EventErrors that report a re-sent offer.
func resentEvents(p *GoPeer) int {
	return countDetail(p.EventHistory(), EventError, "re-sent the unanswered offer")
}

// countDetail counts the events of type typ whose Detail has sub.
func countDetail(evs []Event, typ EventType, sub string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ && strings.Contains(e.Detail, sub) {
			n++
		}
	}
	return n
}

// waitStable waits until p's pion peer is stable.
func waitStable(ctx context.Context, p *GoPeer) error {
	return p.waitFor(ctx, "signaling stable", func() (bool, error) {
		return p.currentPC().SignalingState() == webrtc.SignalingStateStable, nil
	})
}

// TestUnsentOfferResent: b's ICE restart offer cannot be sent (a's
// signaling is cut off for a moment: "unknown recipient"). Once a is back
// the same offer goes again, the restart completes, and later restarts
// work. GlarePerfect goes through the public Restart (b is the impolite
// side, the one that restarts): the negotiator retries the offer with
// backoff. Under GlareLock the lock request would fail first, so the body
// runs directly, as a lock body granted just before the cut would: it
// retries the offer with backoff, keeping the lock, while its context
// lasts.
func TestUnsentOfferResent(t *testing.T) {
	for _, glare := range []GlareStrategy{GlareLock, GlarePerfect} {
		t.Run(glare.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pr := newPair(t, pairOpts{seed: 9, config: func(c *Config) { c.Glare = glare; c.Reconnect.Disabled = true }})
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
				defer cancel()
				ca, cb := openChannel(t, ctx, pr)
				pr.loop.Isolate("a", true) // a's signaling only
				time.Sleep(time.Second)    // virtual time (bubble): a's session is down
				first := make(chan error, 1)
				go func() {
					if glare == GlarePerfect {
						first <- pr.b.Restart(ctx)
					} else {
						first <- pr.b.negotiate(ctx, true)
					}
				}()
				time.Sleep(time.Second) // virtual time: b has set its offer and failed to send it
				if st := pr.b.currentPC().SignalingState(); st != webrtc.SignalingStateHaveLocalOffer {
					t.Fatalf("b is %s with a's signaling cut off, want have-local-offer (its offer set, not sent)", st)
				}
				pr.loop.Isolate("a", false)
				if err := <-first; err != nil {
					t.Errorf("restart across a's signaling outage: %v", err)
				}
				if err := waitStable(ctx, pr.b); err != nil {
					t.Fatalf("after a's signaling is back: %v (b is %s)", err, pr.b.currentPC().SignalingState())
				}
				if n := resentEvents(pr.b); n == 0 {
					t.Errorf("b reported no re-sent offer; its errors: %v", errorEvents(pr.b.EventHistory()))
				}
				rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
				defer rcancel()
				if err := pr.b.Restart(rctx); err != nil {
					t.Errorf("Restart after a's signaling is back: %v", err)
				}
				if err := expectMessage(ctx, ca, cb, "after the outage"); err != nil {
					t.Fatal(err)
				}
				if err := expectMessage(ctx, cb, ca, "and back"); err != nil {
					t.Fatal(err)
				}
				if errs := errorEvents(pr.a.EventHistory()); len(errs) > 0 {
					t.Errorf("a: error events: %v", errs)
				}
			})
		})
	}
}

// gateFilter runs the paused gate: it hands on, in order, what the gate
// holds, except the messages drop picks, until stop (then the gate lets
// everything through again).
type gateFilter struct {
	g    *gateTransport
	drop func(signaling.Message) bool
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	dropped []signaling.Message // guarded by mu
}

func filterGate(g *gateTransport, drop func(signaling.Message) bool) *gateFilter {
	f := &gateFilter{g: g, drop: drop, stop: make(chan struct{}), done: make(chan struct{})}
	g.Pause()
	go f.run()
	return f
}

func (f *gateFilter) run() {
	defer close(f.done)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			f.pass(false)
		case <-f.stop:
			f.pass(true)
			return
		}
	}
}

// pass hands on (or drops) what the gate holds; last lets everything
// through from then on. The gate's lock is held throughout, so that
// messages sent meanwhile keep their order.
func (f *gateFilter) pass(last bool) {
	f.g.mu.Lock()
	defer f.g.mu.Unlock()
	held := f.g.held
	f.g.held = nil
	if last {
		f.g.paused = false
	}
	for _, h := range held {
		if f.drop(h.m) {
			f.mu.Lock()
			f.dropped = append(f.dropped, h.m)
			f.mu.Unlock()
			continue
		}
		_ = h.s.Send(context.Background(), h.m) // as Resume does
	}
}

// Stop lets everything through again and returns what was dropped.
func (f *gateFilter) Stop() []signaling.Message {
	close(f.stop)
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dropped
}

// dropAll picks every message of type typ from from.
func dropAll(from, typ string) func(signaling.Message) bool {
	return func(m signaling.Message) bool { return m.From == from && m.Type == typ }
}

// TestLostOfferOrAnswerResent (GlareLock, public API): b's restart offer,
// or a's answer to it, is lost on the way; b's Restart gives up waiting
// and releases the lock with its offer unanswered (pion cannot withdraw
// it). Whichever side negotiates next, that offer goes again first: b's
// next body sends it before its own offer; a's lockRequest finds b not
// holding the lock, and b sends it before granting, so that a answers it
// before a offers (had a offered across it, each pion peer would ignore
// the other's offer for good). a, which never had the offer or has
// answered it already, answers it (again): a duplicate is a
// renegotiation that changes nothing.
func TestLostOfferOrAnswerResent(t *testing.T) {
	for _, lost := range []struct{ name, from, typ string }{
		{"offer", "b", signaling.TypeOffer},
		{"answer", "a", signaling.TypeAnswer},
	} {
		for _, next := range []string{"b", "a"} {
			t.Run(lost.name+"/next-"+next, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					pr := newPair(t, pairOpts{seed: 5, config: func(c *Config) { c.Reconnect.Disabled = true }})
					ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
					defer cancel()
					ca, cb := openChannel(t, ctx, pr)
					f := filterGate(pr.gate, dropAll(lost.from, lost.typ))
					lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
					err := pr.b.Restart(lctx)
					lcancel()
					if err == nil {
						t.Fatalf("Restart with its %s lost succeeded", lost.name)
					}
					t.Logf("Restart with its %s lost: %v", lost.name, err)
					// The offer, and once more as the lock went (and a's
					// answer to that, which takes a moment).
					time.Sleep(100 * time.Millisecond) // virtual time: the re-send and a's answer to it cross the gate
					if dropped := f.Stop(); len(dropped) != 2 {
						t.Errorf("dropped %d messages, want 2 (the %s, twice)", len(dropped), lost.name)
					}
					time.Sleep(time.Second) // virtual time: let any late answer land before checking the state
					if st := pr.b.currentPC().SignalingState(); st != webrtc.SignalingStateHaveLocalOffer {
						t.Fatalf("b is %s, want have-local-offer (its offer unanswered)", st)
					}
					p := pr.b
					if next == "a" {
						p = pr.a
					}
					rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
					defer rcancel()
					if err := p.Restart(rctx); err != nil {
						t.Fatalf("%s's Restart after the lost %s: %v", p.ID(), lost.name, err)
					}
					if n := resentEvents(pr.b); n != 2 {
						t.Errorf("b reported %d re-sent offers, want 2 (as the lock went, then before %s's offer)", n, next)
					}
					if n := countDetail(pr.b.EventHistory(), EventError, "before granting the pair lock"); (n == 1) != (next == "a") {
						t.Errorf("b re-sent its offer before granting the lock %d times (next: %s)", n, next)
					}
					if err := expectMessage(ctx, ca, cb, "after the lost "+lost.name); err != nil {
						t.Fatal(err)
					}
					if err := expectMessage(ctx, cb, ca, "and back"); err != nil {
						t.Fatal(err)
					}
					if errs := errorEvents(pr.a.EventHistory()); len(errs) > 0 {
						t.Errorf("a: error events: %v", errs)
					}
					for _, e := range pr.b.EventHistory() {
						if e.Type == EventError && !strings.Contains(e.Detail, "re-sent the unanswered offer") {
							t.Errorf("b: error event: %s", e.Detail)
						}
					}
					for _, p := range []*GoPeer{pr.a, pr.b} {
						if st := p.currentPC().SignalingState(); st != webrtc.SignalingStateStable {
							t.Errorf("%s is %s at the end, want stable", p.ID(), st)
						}
					}
				})
			})
		}
	}
}

// TestStaleAnswerIgnored: the second answer to an offer sent twice, should
// it arrive after our next offer (an ICE restart here), is not taken for
// the answer to that one.
func TestStaleAnswerIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr := newPair(t, pairOpts{seed: 3, config: func(c *Config) { c.Reconnect.Disabled = true }})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		openChannel(t, ctx, pr)
		fromA := pr.cb.Subscribe(signaling.Filter{From: "a", Types: []string{signaling.TypeAnswer}})
		defer fromA.Close()
		if err := pr.b.Restart(ctx); err != nil { // a answers b's offer
			t.Fatal(err)
		}
		old, err := fromA.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pr.gate.Pause()
		pc := pr.b.currentPC()
		pr.b.negMu.Lock()
		wait, err := pr.b.offerLocked(pc, true)
		pr.b.negMu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		q := pr.b.Events()
		defer q.Close()
		pr.b.handleMessage(old)
		e, err := waitEvent(ctx, q, func(e Event) bool { return e.Type == EventError })
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(e.Detail, "answer to an earlier offer") {
			t.Errorf("error event %q, want one about an answer to an earlier offer", e.Detail)
		}
		if st := pc.SignalingState(); st != webrtc.SignalingStateHaveLocalOffer {
			t.Fatalf("b is %s after the stale answer, want have-local-offer", st)
		}
		if err := pr.gate.Resume(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-wait:
			if err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatal("no answer to the restart offer")
		}
		if err := pr.waitConnected(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
