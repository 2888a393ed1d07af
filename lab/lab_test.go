package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewRejectsBadTopologies(t *testing.T) {
	ok := EndpointConfig{Name: "alice"}
	loss := &netem.Profile{Link: netem.Link{Blackhole: new(bool)}, Schedule: []netem.Phase{{Start: 0}}}
	cases := []struct {
		name string
		topo Topology
		want string
	}{
		{"no endpoints", Topology{}, "endpoints: a topology needs at least one endpoint"},
		{"bad name", Topology{Endpoints: []EndpointConfig{{Name: "a/b"}}}, "endpoints[0].name"},
		{"twice", Topology{Endpoints: []EndpointConfig{ok, ok}}, `endpoints[1].name: "alice" is used twice`},
		{"nat", Topology{Endpoints: []EndpointConfig{{Name: "a", NAT: "cone"}}}, `endpoints[0].nat: nat "cone": want one of none, 1:1`},
		{"kind", Topology{Endpoints: []EndpointConfig{{Name: "a", Kind: "firefox"}}}, `endpoints[0].kind: want "go" or "chrome", got "firefox"`},
		{"uplink schedule", Topology{Endpoints: []EndpointConfig{{Name: "a", Uplink: loss}}}, "endpoints[0].uplink: a schedule belongs in profile"},
		{"stun mode", Topology{Endpoints: []EndpointConfig{ok}, STUN: Server{Mode: "maybe"}}, `stun.mode: want on, off or external, got "maybe"`},
		{"turn urls", Topology{Endpoints: []EndpointConfig{ok}, TURN: Server{Mode: ServerOn, URLs: []string{"turn:127.0.0.1"}}}, "turn.urls: only with mode"},
		{"external elsewhere", Topology{Endpoints: []EndpointConfig{ok}, TURN: Server{Mode: ServerExternal, URLs: []string{"turn:192.0.2.1:3478"}}}, "must be on 127.0.0.1"},
		{"transport", Topology{Endpoints: []EndpointConfig{ok}, Signaling: SignalingConfig{Transport: "carrier-pigeon"}}, "signaling.transport: want loopback, delayed, ws or sse"},
		{"tcp profile in memory", Topology{Endpoints: []EndpointConfig{ok}, Signaling: SignalingConfig{Profile: &netem.Profile{}}}, "signaling.profile: only ws and sse"},
		{"peer ids", Topology{Endpoints: []EndpointConfig{ok}, Peer: peer.Config{ID: "x"}}, "peer: ID, RemoteID, Signaling and Net are the lab's"},
		{"ledger events", Topology{Endpoints: []EndpointConfig{ok}, LedgerEvents: -1}, "ledger_events: want 0 to 1048576 decisions per direction, got -1"},
		{"ledger events cap", Topology{Endpoints: []EndpointConfig{ok}, LedgerEvents: maxLedgerEvents + 1}, "ledger_events: want 0 to 1048576"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := New(c.topo)
			if err == nil {
				l.Close()
				t.Fatal("New accepted it")
			}
			if !errors.Is(err, ErrBadTopology) {
				t.Fatalf("error %v does not wrap ErrBadTopology", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			if n := strings.Count(err.Error(), ErrBadTopology.Error()); n != 1 {
				t.Fatalf("error %q says %q %d times", err, ErrBadTopology, n)
			}
		})
	}
}

// quickICE makes failures cheap: disconnected after 1 s, failed 2 s later.
var quickICE = peer.Config{ICE: peer.ICETimeouts{Disconnected: time.Second, Failed: 2 * time.Second, KeepAlive: 500 * time.Millisecond}}

func twoBehind(a, b NAT, turn ServerMode) Topology {
	return Topology{
		Seed:      7,
		Endpoints: []EndpointConfig{{Name: "alice", NAT: a}, {Name: "bob", NAT: b}},
		TURN:      Server{Mode: turn},
		Peer:      quickICE,
	}
}

// connect opens a channel from a to b and checks a message crosses.
func connect(ctx context.Context, t *testing.T, a, b *peer.GoPeer) error {
	t.Helper()
	ch, err := a.CreateDataChannel(ctx, "x", peer.ChannelOptions{})
	if err != nil {
		return err
	}
	in, err := b.AcceptDataChannel(ctx, "x")
	if err != nil {
		return err
	}
	if err := ch.Send(ctx, []byte("hi")); err != nil {
		return err
	}
	got, err := in.Recv(ctx)
	if err != nil {
		return err
	}
	if string(got) != "hi" {
		t.Fatalf("got %q", got)
	}
	return nil
}

func TestSymmetricPairNeedsTURN(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, turn := range []ServerMode{ServerOff, ServerOn} {
			l, err := New(twoBehind(NATPortRestricted, NATSymmetric, turn))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			a, b, err := l.Pair(ctx, "alice", "bob")
			if err != nil {
				t.Fatal(err)
			}
			err = connect(ctx, t, a, b)
			if turn == ServerOff && err == nil {
				t.Error("port-restricted x symmetric connected without TURN")
			}
			if turn == ServerOn {
				if err != nil {
					t.Fatalf("with TURN: %v", err)
				}
				st, err := a.Stats(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if st.LocalCandidate != "relay" && st.RemoteCandidate != "relay" {
					t.Errorf("selected pair %s -> %s, want a relay", st.LocalCandidate, st.RemoteCandidate)
				}
			}
			cancel()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestCutRestoreOnTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		topo := twoBehind(NATFullCone, NATPortRestricted, ServerOn)
		topo.Peer.Reconnect.Disabled = true
		ctx, l, a, _ := connectedPair(t, topo)
		q := a.Events()
		if err := l.Cut("bob"); err != nil {
			t.Fatal(err)
		}
		waitEvent(ctx, t, q, func(e peer.Event) bool {
			return e.Type == peer.EventState && e.Machine == "ice" && e.State == "disconnected"
		})
		if err := l.Restore("bob"); err != nil {
			t.Fatal(err)
		}
		waitEvent(ctx, t, q, func(e peer.Event) bool {
			return e.Type == peer.EventState && e.Machine == "ice" && e.State == "connected"
		})
		var kinds []string
		for _, e := range l.Timeline() {
			if e.Source == "link:bob" || (e.Source == "alice" && e.Kind == "state" && strings.HasPrefix(e.Detail, "ice=")) {
				kinds = append(kinds, e.Kind+":"+e.Detail)
			}
		}
		got := strings.Join(kinds, " ")
		want := "state:ice=new state:ice=checking state:ice=connected cut: state:ice=disconnected restore: state:ice=connected"
		if got != want {
			t.Fatalf("timeline\n got %s\nwant %s", got, want)
		}
	})
}

// connectedPair builds topo, pairs alice and bob and checks that a
// message crosses; the lab is closed when the test ends.
func connectedPair(t *testing.T, topo Topology) (context.Context, *Lab, *peer.GoPeer, *peer.GoPeer) {
	t.Helper()
	l, err := New(topo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	a, b, err := l.Pair(ctx, "alice", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := connect(ctx, t, a, b); err != nil {
		t.Fatal(err)
	}
	return ctx, l, a, b
}

func waitEvent(ctx context.Context, t *testing.T, q *peer.EventQueue, match func(peer.Event) bool) peer.Event {
	t.Helper()
	for {
		e, err := q.Pop(ctx)
		if err != nil {
			t.Fatalf("waiting for an event: %v", err)
		}
		if match(e) {
			return e
		}
	}
}

func TestRebindNATNeedsANAT(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := New(twoBehind(NATNone, NATOneToOne, ServerOff))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for _, n := range []string{"alice", "bob"} {
			if _, err := l.RebindNAT(n); !errors.Is(err, ErrUnsupported) {
				t.Errorf("RebindNAT(%s) = %v, want ErrUnsupported", n, err)
			}
		}
		if _, err := l.RebindNAT("carol"); !errors.Is(err, ErrNoEndpoint) {
			t.Errorf("RebindNAT(carol) = %v, want ErrNoEndpoint", err)
		}
	})
}

func TestFlapOnTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := New(twoBehind(NATNone, NATNone, ServerOff))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if err := l.Flap("bob", time.Second, 0.25); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2100 * time.Millisecond) // two periods and a bit, virtual
		if err := l.Restore("bob"); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range l.Timeline() {
			got = append(got, e.At.String()+" "+e.Kind)
		}
		want := "0s flap 250ms flap-down 1s flap-up 1.25s flap-down 2s flap-up 2.1s restore"
		if strings.Join(got, " ") != want {
			t.Fatalf("timeline\n got %s\nwant %s", strings.Join(got, " "), want)
		}
		if err := l.Flap("bob", time.Second, 1); !errors.Is(err, ErrBadTopology) {
			t.Errorf("duty 1: %v, want ErrBadTopology", err)
		}
	})
}

// TestControlsAfterClose: every control says ErrClosed once the lab is
// closed, and nothing lands on the timeline.
func TestControlsAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := New(twoBehind(NATFullCone, NATNone, ServerOff))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		entries := len(l.Timeline())
		controls := map[string]func() error{
			"Cut":              func() error { return l.Cut("alice") },
			"Restore":          func() error { return l.Restore() },
			"Flap":             func() error { return l.Flap("alice", time.Second, .5) },
			"SetProfile":       func() error { return l.SetProfile("alice", nil) },
			"RebindNAT":        func() error { _, err := l.RebindNAT("alice"); return err },
			"DropSignaling":    func() error { return l.DropSignaling(DropBlackhole) },
			"RestoreSignaling": func() error { return l.RestoreSignaling() },
			"RestartServer":    func() error { return l.RestartServer(context.Background(), time.Second) },
		}
		for name, c := range controls {
			if err := c(); !errors.Is(err, ErrClosed) {
				t.Errorf("%s after Close = %v, want ErrClosed", name, err)
			}
		}
		if n := len(l.Timeline()); n != entries {
			t.Errorf("the timeline grew from %d to %d entries after Close", entries, n)
		}
	})
}

// TestWrongTURNCredentialsAreCounted: an unknown user is refused by the
// lab's AuthHandler, a known user with a wrong password by pion's
// MESSAGE-INTEGRITY check after it; both are counted and on the timeline.
func TestWrongTURNCredentialsAreCounted(t *testing.T) {
	for _, tc := range []struct {
		name, user, password, want string
	}{
		{"unknown user", "mallory", TURNPassword, `unknown user "mallory"`},
		{"wrong password", TURNUser, "not-" + TURNPassword, fmt.Sprintf(`user %q in realm %q: wrong password`, TURNUser, TURNRealm)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l, err := New(twoBehind(NATSymmetric, NATSymmetric, ServerOn))
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				cfg := quickICE
				cfg.Glare = peer.GlarePerfect // offers at once, without bob's lock
				cfg.ICEServers = l.iceServers()
				for i := range cfg.ICEServers {
					if cfg.ICEServers[i].Username != "" {
						cfg.ICEServers[i].Username, cfg.ICEServers[i].Credential = tc.user, tc.password
					}
				}
				if _, err := l.Client(ctx, "bob"); err != nil {
					t.Fatal(err)
				}
				a, err := l.Peer(ctx, PeerSpec{Endpoint: "alice", Remote: "bob", Config: &cfg})
				if err != nil {
					t.Fatal(err)
				}
				_, _ = a.CreateDataChannel(ctx, "x", peer.ChannelOptions{}) // fails: nobody answers, and no relay
				// The server has noted what it counted.
				synctest.Wait()
				if l.TURNAuthFailures() == 0 {
					t.Fatal("no TURN auth failure counted")
				}
				var entries []string
				for _, e := range l.Timeline() {
					if e.Source == "turn" && e.Kind == "auth-failed" {
						entries = append(entries, e.Detail)
					}
				}
				if uint64(len(entries)) != l.TURNAuthFailures() {
					t.Errorf("%d failures counted, %d on the timeline", l.TURNAuthFailures(), len(entries))
				}
				for _, d := range entries {
					if !strings.Contains(d, tc.want) {
						t.Errorf("auth-failed entry %q does not say %q", d, tc.want)
					}
				}
			})
		})
	}
}

// signalingClients builds a lab of two endpoints signaling over tr and
// connects alice's and bob's clients; cleanup closes the lab.
func signalingClients(t *testing.T, tr Transport) (context.Context, *Lab, *signaling.Client, *signaling.Client) {
	t.Helper()
	topo := twoBehind(NATNone, NATNone, ServerOff)
	topo.Signaling.Transport = tr
	l, err := New(topo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	alice, err := l.Client(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := l.Client(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	return ctx, l, alice, bob
}

func TestSignalingDropAndRestartOverWS(t *testing.T) {
	ctx, l, c, _ := signalingClients(t, TransportWS)
	reconnected := func(what string) {
		t.Helper()
		q := c.Events()
		defer q.Close()
		for {
			ev, err := q.Pop(ctx)
			if err != nil {
				t.Fatalf("%s: alice never reconnected: %v", what, err)
			}
			if ev.State.String() == "connected" {
				return
			}
		}
	}
	before := c.State()
	if err := l.DropSignaling(DropReset); err != nil {
		t.Fatal(err)
	}
	reconnected("reset")
	if err := l.RestartServer(ctx, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	reconnected("restart")
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range l.Timeline() {
		if e.Source == "signaling" {
			kinds = append(kinds, e.Kind)
		}
	}
	if strings.Join(kinds, " ") != "signaling-drop server-restart" {
		t.Fatalf("signaling entries %v (state before: %v)", kinds, before)
	}
}

// A lab's server requires the SSE session token, whatever the topology
// says: a POST as alice without her stream's token is refused, and her
// own SSE client, which sends it, still reaches bob.
func TestSignalingServerRequiresSessionToken(t *testing.T) {
	ctx, l, alice, bob := signalingClients(t, TransportSSE)
	sub := bob.Subscribe(signaling.Filter{From: "alice"})
	defer sub.Close()
	resp, err := http.Post(l.Server().URL()+"/message", "application/json", strings.NewReader(`{"from":"alice","to":"bob","type":"forged"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "X-Netlab-Session") {
		t.Errorf("a POST as alice without her token: %s %s, want 403 naming X-Netlab-Session", resp.Status, body)
	}
	if err := alice.Send(ctx, "bob", "hello", nil); err != nil {
		t.Fatalf("alice's own client: %v", err)
	}
	m, err := sub.Recv(ctx)
	if err != nil || m.Type != "hello" {
		t.Fatalf("bob got %+v, %v; want alice's hello and not the forged message", m, err)
	}
}
