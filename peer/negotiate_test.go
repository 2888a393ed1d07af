package peer

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netlab/netlab/peer/signaling"
)

const glareRounds = 20

// glareRound has both sides create a channel at the same instant and
// checks that each opens exactly once on each side and carries data both
// ways. It returns the polite side's rollback emulations.
func glareRound(t *testing.T, pr *pair) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type res struct {
		ch  Channel
		err error
	}
	ra, rb := make(chan res, 1), make(chan res, 1)
	go func() {
		ch, err := pr.a.CreateDataChannel(ctx, "from-a", ChannelOptions{})
		ra <- res{ch, err}
	}()
	go func() {
		ch, err := pr.b.CreateDataChannel(ctx, "from-b", ChannelOptions{})
		rb <- res{ch, err}
	}()
	a, b := <-ra, <-rb
	if a.err != nil || b.err != nil {
		t.Fatalf("CreateDataChannel: a %v, b %v", a.err, b.err)
	}
	atB, err := pr.b.AcceptDataChannel(ctx, "from-a")
	if err != nil {
		t.Fatal(err)
	}
	atA, err := pr.a.AcceptDataChannel(ctx, "from-b")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to Channel }{{a.ch, atB}, {atB, a.ch}, {b.ch, atA}, {atA, b.ch}} {
		if err := expectMessage(ctx, c.from, c.to, "glare"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second) // virtual time: let any late duplicate open show up
	for _, p := range []*GoPeer{pr.a, pr.b} {
		h := p.EventHistory()
		for _, label := range []string{"from-a", "from-b"} {
			if n := countEvents(h, EventChannelOpen, label); n != 1 {
				t.Errorf("%s: %q opened %d times, want once", p.ID(), label, n)
			}
		}
		if errs := errorEvents(h); len(errs) > 0 {
			t.Errorf("%s: error events: %v", p.ID(), errs)
		}
	}
}

// TestGlareLock (seed spec 17): both sides create a channel at once; the
// pair lock serializes the negotiations. 20 rounds, alternating immediate
// and delayed signaling, each round a fresh pair.
func TestGlareLock(t *testing.T) {
	for round := range glareRounds {
		synctest.Test(t, func(t *testing.T) {
			var delay time.Duration
			if round%2 == 1 {
				delay = 100 * time.Millisecond
			}
			pr := newPair(t, pairOpts{delay: delay, seed: uint64(1000 + round)})
			glareRound(t, pr)
			// Exactly one side offered: the lock let one negotiation through,
			// and the other channel rode on the association.
			offers := countState(pr.a.EventHistory(), machineSignaling, "have-local-offer") +
				countState(pr.b.EventHistory(), machineSignaling, "have-local-offer")
			if offers != 1 {
				// Seen once (round 16 under make test, 2026-11-22), not
				// in 400 rounds run right after. The histories say who
				// offered when, for the next time.
				t.Errorf("round %d: %d offers, want 1", round, offers)
				for _, p := range []*GoPeer{pr.a, pr.b} {
					for _, e := range p.EventHistory() {
						t.Logf("%s %v %s %s=%s %s %s", p.ID(), e.At.Format("15:04:05.000000"), e.Type, e.Machine, e.State, e.Label, e.Detail)
					}
				}
			}
			if n := countEvents(pr.a.EventHistory(), EventGlare, "") + countEvents(pr.b.EventHistory(), EventGlare, ""); n != 0 {
				t.Errorf("round %d: %d glare events under the lock", round, n)
			}
		})
	}
}

// TestGlarePerfect (seed spec 17) with perfect negotiation: offers cross;
// the impolite side ignores the polite one's, and the polite pion side,
// which cannot roll back, replaces its never-negotiated peer connection
// and answers. 20 rounds as in TestGlareLock.
func TestGlarePerfect(t *testing.T) {
	swaps := 0
	for round := range glareRounds {
		synctest.Test(t, func(t *testing.T) {
			var delay time.Duration
			if round%2 == 1 {
				delay = 100 * time.Millisecond
			}
			pr := newPair(t, pairOpts{delay: delay, seed: uint64(2000 + round), config: func(c *Config) { c.Glare = GlarePerfect }})
			glareRound(t, pr)
			if n := pr.b.Swaps(); n != 0 {
				t.Errorf("the impolite side swapped %d times", n)
			}
			if got, want := countEvents(pr.a.EventHistory(), EventGlare, ""), pr.a.Swaps(); got != want {
				t.Errorf("the polite side reported glare %d times, swapped %d times", got, want)
			}
			swaps += pr.a.Swaps()
		})
	}
	t.Logf("polite rollback emulations in %d rounds: %d", glareRounds, swaps)
	if swaps == 0 {
		t.Errorf("no round had crossing offers: the collision path went untested")
	}
}

// TestGlarePerfectForcedCollision: signaling holds every message while
// both sides create a channel, so both offers cross for certain.
func TestGlarePerfectForcedCollision(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr := newPair(t, pairOpts{config: func(c *Config) { c.Glare = GlarePerfect }})
		pr.gate.Pause()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		done := make(chan error, 2)
		for _, p := range []*GoPeer{pr.a, pr.b} {
			go func() {
				_, err := p.CreateDataChannel(ctx, "from-"+p.ID(), ChannelOptions{})
				done <- err
			}()
		}
		time.Sleep(500 * time.Millisecond) // virtual time: both offers made and held
		for _, p := range []*GoPeer{pr.a, pr.b} {
			if got := countState(p.EventHistory(), machineSignaling, "have-local-offer"); got != 1 {
				t.Fatalf("%s offered %d times while signaling was down, want 1", p.ID(), got)
			}
		}
		if err := pr.gate.Resume(); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if n := pr.a.Swaps(); n != 1 {
			t.Errorf("polite side swapped %d times, want 1", n)
		}
		for _, p := range []*GoPeer{pr.a, pr.b} {
			if n := countEvents(p.EventHistory(), EventGlare, ""); n != 1 {
				t.Errorf("%s reported glare %d times, want once", p.ID(), n)
			}
		}
		for _, p := range []*GoPeer{pr.a, pr.b} {
			remote := "from-a"
			if p == pr.a {
				remote = "from-b"
			}
			if _, err := p.AcceptDataChannel(ctx, remote); err != nil {
				t.Fatal(err)
			}
			if errs := errorEvents(p.EventHistory()); len(errs) > 0 {
				t.Errorf("%s: error events: %v", p.ID(), errs)
			}
		}
	})
}

// TestGlarePerfectAfterFirstExchange: a collision once a negotiation has
// completed cannot be handled by a polite pion peer: its operation fails
// with ErrUnsupported (and says why); the impolite side waits in vain.
func TestGlarePerfectAfterFirstExchange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr := newPair(t, pairOpts{config: func(c *Config) { c.Glare = GlarePerfect }})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := pr.a.CreateDataChannel(ctx, "first", ChannelOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // virtual time: let the first exchange settle
		pr.gate.Pause()
		errs := make(chan error, 2)
		for _, p := range []*GoPeer{pr.a, pr.b} {
			go func() {
				ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				errs <- p.AddMedia(ctx, MediaSpec{Kind: Audio, TrackID: "t-" + p.ID()})
			}()
		}
		time.Sleep(500 * time.Millisecond) // virtual time: both offers made and held
		if err := pr.gate.Resume(); err != nil {
			t.Fatal(err)
		}
		var unsupported, timedOut int
		for range 2 {
			err := <-errs
			switch {
			case errors.Is(err, ErrUnsupported):
				unsupported++
				t.Logf("polite side: %v", err)
			case errors.Is(err, context.DeadlineExceeded):
				timedOut++
			default:
				t.Errorf("AddMedia = %v, want ErrUnsupported (polite) or a timeout (impolite)", err)
			}
		}
		if unsupported != 1 || timedOut != 1 {
			t.Errorf("%d ErrUnsupported, %d timeouts; want one each", unsupported, timedOut)
		}
		found := false
		for _, err := range errorEvents(pr.a.EventHistory()) {
			found = found || errors.Is(err, ErrUnsupported)
		}
		if !found {
			t.Errorf("the polite side raised no EventError wrapping ErrUnsupported")
		}
	})
}

// TestBadSignals: garbage from the remote becomes EventError wrapping
// ErrBadSignal, never a panic, and the session still works afterwards.
func TestBadSignals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr := newPair(t, pairOpts{})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		q := pr.a.Events()
		bad := []signaling.Message{
			{Type: "offer", Data: json.RawMessage(`"not an object"`)},
			{Type: "offer", Data: json.RawMessage(`{"type":"answer","sdp":"v=0"}`)},
			{Type: "offer", Data: json.RawMessage(`{"type":"offer","sdp":"garbage"}`)},
			{Type: "offer", Data: json.RawMessage(`{"type":"offer","sdp":"v=0\r\nnonsense\r\n"}`)},
			{Type: "answer", Data: json.RawMessage(`{"type":"answer","sdp":"v=0\r\n"}`)},
			{Type: "icecandidate", Data: json.RawMessage(`null`)},
			{Type: "icecandidate", Data: json.RawMessage(`{"candidate":"","sdpMid":"0","sdpMLineIndex":0}`)},
			{Type: "icecandidate", Data: json.RawMessage(`{"candidate":"candidate:1 1 udp 1 192.0.2.99 1 typ host"}`)},
			{Type: "surprise"},
		}
		for _, m := range bad {
			m.From, m.To = "b", "a"
			if err := pr.cb.SendMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
			e, err := waitEvent(ctx, q, func(e Event) bool { return e.Type == EventError })
			if err != nil {
				t.Fatalf("no error event for %s %s: %v", m.Type, m.Data, err)
			}
			if !errors.Is(e.Err, ErrBadSignal) {
				t.Errorf("%s %s: error %v, want ErrBadSignal", m.Type, m.Data, e.Err)
			}
			t.Logf("%s %s -> %v", m.Type, m.Data, e.Err)
		}
		ca, err := pr.a.CreateDataChannel(ctx, "after", ChannelOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cb, err := pr.b.AcceptDataChannel(ctx, "after")
		if err != nil {
			t.Fatal(err)
		}
		if err := expectMessage(ctx, ca, cb, "still fine"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCandidateUfrag(t *testing.T) {
	for line, want := range map[string]string{
		"candidate:1 1 udp 2130706431 192.0.2.10 5000 typ host ufrag abcd":                                             "abcd",
		"candidate:1 1 udp 1694498815 198.51.100.1 6000 typ srflx raddr 192.0.2.10 rport 5000 ufrag wxyz generation 0": "wxyz",
		"candidate:1 1 udp 2130706431 192.0.2.10 5000 typ host generation 0":                                           "",
		"candidate:1 1 udp 2130706431 192.0.2.10 5000 typ host":                                                        "",
		"garbage": "",
	} {
		if got := candidateUfrag(line); got != want {
			t.Errorf("candidateUfrag(%q) = %q, want %q", line, got, want)
		}
	}
	u := "given"
	if got := (candidateInit{Candidate: "candidate:1 1 udp 1 192.0.2.1 1 typ host ufrag line", UsernameFragment: &u}).ufrag(); got != "given" {
		t.Errorf("usernameFragment should win over the line's ufrag, got %q", got)
	}
}
