package lab

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// linkEntries lists an endpoint's link entries of the timeline as
// "<at> <kind> <detail>".
func linkEntries(l *Lab, name string) []string {
	var out []string
	for _, e := range l.Timeline() {
		if e.Source == linkSource(name) {
			out = append(out, strings.TrimSpace(e.At.String()+" "+e.Kind+" "+e.Detail))
		}
	}
	return out
}

// TestTimelinePhasesFollowSetProfile: the timeline's phases are those of
// the profile in force. A schedule counts from the lab's start whichever
// profile it belongs to (netem's epoch is the lab's), so a phase of a new
// profile that has begun and not ended is entered when the profile is
// set, a later one at its start; a phase of a replaced profile that
// starts after the replacement never is.
func TestTimelinePhasesFollowSetProfile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sec := func(n float64) netem.Duration { return netem.Duration(n * float64(time.Second)) }
		topo := twoBehind(NATNone, NATNone, ServerOff)
		topo.Endpoints[0].Profile = &netem.Profile{Name: "a", Schedule: []netem.Phase{
			{Name: "a-early", Start: sec(1), Duration: sec(1)},
			{Name: "a-later", Start: sec(5)}, // replaced at 3 s: never in force
		}}
		l, err := New(topo)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		time.Sleep(3 * time.Second) // virtual time (bubble): to 3 s on the lab clock
		b := &netem.Profile{Name: "b", Schedule: []netem.Phase{
			{Name: "b-past", Start: sec(1), Duration: sec(1)}, // over before the set
			{Name: "b-now", Start: sec(2)},                    // in force at the set, until 4 s
			{Name: "b-next", Start: sec(4), Duration: sec(3)},
			{Name: "b-late", Start: sec(9)}, // replaced at 8 s: never in force
		}}
		if err := l.SetProfile("alice", b); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second) // virtual time: to 8 s
		if err := l.SetProfile("alice", nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // virtual time: to 10 s
		got := strings.Join(linkEntries(l, "alice"), ", ")
		want := "1s phase a-early, 3s profile b, 3s phase b-now, 4s phase b-next, 8s profile ideal"
		if got != want {
			t.Fatalf("alice's link on the timeline\n got %s\nwant %s", got, want)
		}
	})
}

// TestTimelineAfterSetProfileAtStart: the case the review found. A
// profile replaced at 0 s shows none of its phases.
func TestTimelineAfterSetProfileAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		topo := twoBehind(NATNone, NATNone, ServerOff)
		topo.Endpoints[0].Profile = &netem.Profile{Schedule: []netem.Phase{{Name: "later", Start: netem.Duration(5 * time.Second)}}}
		l, err := New(topo)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if err := l.SetProfile("alice", nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(6 * time.Second) // virtual time: past the replaced profile's 5 s phase
		if got := strings.Join(linkEntries(l, "alice"), ", "); got != "0s profile ideal" {
			t.Fatalf("alice's link on the timeline: %s, want only the profile change", got)
		}
	})
}

// TestConcurrentFlapsLeaveNoFlapper: Flaps of one endpoint racing each
// other (and a Close racing Flaps) leave no flapper nobody owns. Real
// time: an orphan flapper in a bubble would flap for ever, in virtual
// time, and the test would never end.
func TestConcurrentFlapsLeaveNoFlapper(t *testing.T) {
	before := goleak.IgnoreCurrent()
	l, err := New(twoBehind(NATNone, NATNone, ServerOff))
	if err != nil {
		t.Fatal(err)
	}
	const rounds, flappers = 1000, 4
	for range rounds {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range flappers {
			wg.Go(func() {
				<-start
				if err := l.Flap("alice", time.Hour, .5); err != nil {
					t.Errorf("Flap: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
	}
	// Flaps racing Close: each is in before it (nil) or refused (ErrClosed).
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range flappers {
		wg.Go(func() {
			<-start
			if err := l.Flap("bob", time.Hour, .5); err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("Flap during Close: %v, want nil or ErrClosed", err)
			}
		})
	}
	close(start)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := l.Flap("alice", time.Hour, .5); !errors.Is(err, ErrClosed) {
		t.Errorf("Flap after Close: %v, want ErrClosed", err)
	}
	goleak.VerifyNone(t, before)
}

// TestInMemoryBlackholeCatchesLateClients: an in-memory blackhole holds
// for every id while it is in force, including one that registers after
// it began: a client redialing after a reset, and a new one.
func TestInMemoryBlackholeCatchesLateClients(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := New(twoBehind(NATNone, NATNone, ServerOff))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		alice, err := l.Client(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.DropSignaling(DropReset); err != nil {
			t.Fatal(err)
		}
		// At once: alice is between sessions, not registered.
		if err := l.DropSignaling(DropBlackhole); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second) // alice's redials, with their backoff
		if st := alice.State(); st == signaling.StateConnected {
			t.Errorf("alice is %v during the blackhole", st)
		}
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		if _, err := l.Client(wctx, "carol"); err == nil {
			t.Error("carol registered during the blackhole")
		}
		if ids := l.Loopback().Registered(); len(ids) != 0 {
			t.Errorf("registered during the blackhole: %v", ids)
		}
		if err := l.RestoreSignaling(); err != nil {
			t.Fatal(err)
		}
		if err := alice.WaitConnected(ctx); err != nil {
			t.Errorf("alice after the blackhole: %v", err)
		}
		if _, err := l.Client(ctx, "carol"); err != nil {
			t.Errorf("carol after the blackhole: %v", err)
		}
	})
}

// TestChromeWithExternalTURNHasNoLinkControls: a Chrome endpoint with an
// external TURN server talks to it directly, so Cut, Restore, Flap and
// SetProfile would do nothing: they say so and record nothing. Building
// the lab needs no browser and no TURN server (the gateway dials on first
// use).
func TestChromeWithExternalTURNHasNoLinkControls(t *testing.T) {
	l, err := New(Topology{
		Endpoints: []EndpointConfig{{Name: "g"}, {Name: "c", Kind: peer.KindChrome}},
		TURN:      Server{Mode: ServerExternal, URLs: []string{"turn:127.0.0.1:3478?transport=udp"}, Username: "u", Credential: "p"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	controls := map[string]func() error{
		"Cut":             func() error { return l.Cut("c") },
		"Cut all":         func() error { return l.Cut() },
		"Cut g and c":     func() error { return l.Cut("g", "c") },
		"Restore":         func() error { return l.Restore("c") },
		"Restore all":     func() error { return l.Restore() },
		"Flap":            func() error { return l.Flap("c", time.Second, .5) },
		"SetProfile":      func() error { return l.SetProfile("c", &netem.Profile{Name: "lossy"}) },
		"SetProfile(nil)": func() error { return l.SetProfile("c", nil) },
	}
	const why = `endpoint "c": chrome endpoint with an external TURN server: its traffic does not cross the lab`
	for name, c := range controls {
		err := c()
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), why) {
			t.Errorf("%s = %v, want ErrUnsupported saying %q", name, err, why)
		}
	}
	if _, err := l.RebindNAT("c"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("RebindNAT = %v, want ErrUnsupported", err)
	}
	if tl := l.Timeline(); len(tl) != 0 {
		t.Errorf("refused controls on the timeline: %v", tl)
	}
	if l.eps["g"].isCut() {
		t.Error(`Cut("g", "c") cut g before refusing c`)
	}
	if err := l.Cut("g"); err != nil {
		t.Errorf("Cut of the Go endpoint: %v", err)
	}
}

// TestConcurrentCloseWaits: a Close while another is tearing down waits
// for the teardown and returns its error.
func TestConcurrentCloseWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := New(twoBehind(NATNone, NATNone, ServerOff))
		if err != nil {
			t.Fatal(err)
		}
		entered, release := make(chan struct{}), make(chan struct{})
		errSlow := errors.New("slow closer")
		l.onClose(func() error { // the newest: the first to run
			close(entered)
			<-release
			return errSlow
		})
		var first, second error
		var secondDone bool
		var mu sync.Mutex
		var wg sync.WaitGroup
		wg.Go(func() { first = l.Close() })
		<-entered
		wg.Go(func() {
			err := l.Close()
			mu.Lock()
			second, secondDone = err, true
			mu.Unlock()
		})
		synctest.Wait() // the second Close has run as far as it can
		mu.Lock()
		early := secondDone
		mu.Unlock()
		if early {
			t.Error("a second Close returned while the first was still tearing down")
		}
		close(release)
		wg.Wait()
		if !errors.Is(first, errSlow) || !errors.Is(second, errSlow) {
			t.Errorf("Close returned %v and %v, want both to carry %v", first, second, errSlow)
		}
		if err := l.Close(); !errors.Is(err, errSlow) {
			t.Errorf("a later Close returned %v, want %v", err, errSlow)
		}
	})
}
