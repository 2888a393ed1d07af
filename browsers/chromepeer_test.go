package browsers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/turn/v4"
	"github.com/pion/webrtc/v4"

	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// TestChromePeer runs every ChromePeer spec against real components on
// 127.0.0.1: one Chromium for all of them (a tab per endpoint), the
// signaling server, a TURN server that Chrome relays through (relay only:
// Chrome sends nothing but to 127.0.0.1), and Go peers on real loopback
// sockets.
func TestChromePeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b := launchT(t, ctx, Config{})
	page, err := ServePage()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := page.Close(); err != nil {
			t.Errorf("page server Close: %v", err)
		}
	})
	w := &world{b: b, pageURL: page.URL(), turnURL: startTURN(t)}

	t.Run("chrome-chrome-ws", w.chromeChromeWS)
	t.Run("go-chrome-sse", func(t *testing.T) { w.goChrome(t, SignalingSSE) })
	t.Run("go-chrome-bridge", func(t *testing.T) { w.goChrome(t, SignalingBridge) })
	t.Run("reliability-modes", w.reliabilityModes)
	t.Run("lock-serializes", w.lockSerializes)
	t.Run("uncaught-exception", w.uncaughtException)
	t.Run("close-sends-bye", w.closeSendsBye)
	t.Run("media-and-restart", w.mediaAndRestart)
	t.Run("chrome-chrome-perfect-glare", w.perfectGlare)
	t.Run("heartbeat-timeout", w.heartbeatTimeout)
	t.Run("version-mismatch", w.versionMismatch)
	t.Run("kill-says-no-bye", w.killNoBye)
	t.Run("close-error-kept", w.closeErrorKept)
	t.Run("unanswered-offer", w.unansweredOffer)
	t.Run("unanswered-offer-perfect", w.unansweredOfferPerfect)

	// Media woke Chrome's audio service, which starts PulseAudio's client:
	// its runtime dir must be the one in the user data dir (removed by
	// Close), not a /tmp/pulse-* of its own that nobody removes.
	if fi, err := os.Stat(filepath.Join(b.UserDataDir(), "xdg-runtime", "pulse")); w.mediaRan && (err != nil || !fi.IsDir()) {
		t.Errorf("PulseAudio's runtime dir in the user data dir: %v; want a dir (XDG_RUNTIME_DIR, launch.go)", err)
	}
}

// world is what the specs share: the browser, the page, the TURN server.
type world struct {
	b       *Browser
	pageURL string
	turnURL string

	mediaRan bool // media-and-restart ran (not filtered out by -run)
}

const (
	turnUser  = "netlab"
	turnPass  = "secret"
	turnRealm = "netlab.test"
)

// startTURN starts a TURN server on a real 127.0.0.1 socket that relays
// on 127.0.0.1, until the test ends.
func startTURN(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	key := turn.GenerateAuthKey(turnUser, turnRealm, turnPass)
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:       turnRealm,
		AuthHandler: func(user, _ string, _ net.Addr) ([]byte, bool) { return key, user == turnUser },
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            pc,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("TURN Close: %v", err)
		}
	})
	return fmt.Sprintf("turn:%s?transport=udp", pc.LocalAddr())
}

// startSignaling starts a server that requires the SSE session token, as
// the lab's does: the page's SSE client must send it.
func startSignaling(t *testing.T) *signaling.Server {
	t.Helper()
	srv, err := signaling.NewServer(signaling.ServerConfig{RequireSessionToken: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func newClient(t *testing.T, ctx context.Context, id string, tr signaling.Transport) *signaling.Client {
	t.Helper()
	c, err := signaling.NewClient(signaling.ClientConfig{ID: id, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// chrome opens a tab and starts a ChromePeer on it; cleanup closes both
// and fails the test on an uncaught exception in the page.
func (w *world) chrome(t *testing.T, ctx context.Context, cfg ChromeConfig) *ChromePeer {
	t.Helper()
	tab := newTabT(t, ctx, w.b)
	cfg.ICEServers = []webrtc.ICEServer{{URLs: []string{w.turnURL}, Username: turnUser, Credential: turnPass}}
	cfg.RelayOnly = true
	p, err := NewChromePeer(ctx, tab, w.pageURL, cfg)
	if err != nil {
		t.Fatalf("NewChromePeer %s: %v", cfg.ID, err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("ChromePeer %s Close: %v", cfg.ID, err)
		}
		if t.Failed() || os.Getenv("NETLAB_TRACE") != "" {
			for _, l := range p.Logs() {
				t.Logf("%s console: %s", cfg.ID, l)
			}
			for _, e := range p.EventHistory() {
				t.Logf("%s event: %s %s %s %s %d %s", cfg.ID, e.At.Format("15:04:05.000"), e.Type, e.Machine+" "+e.State, e.Label, e.ChannelID, e.Detail)
			}
		}
	})
	return p
}

// checkNoPageErrors fails t on an uncaught exception in the page.
func checkNoPageErrors(t *testing.T, ps ...*ChromePeer) {
	t.Helper()
	for _, p := range ps {
		if err := p.Err(); err != nil {
			t.Errorf("%s: uncaught in the page: %v", p.ID(), err)
		}
	}
}

func newGoPeer(t *testing.T, id, remote string, c *signaling.Client) *peer.GoPeer {
	t.Helper()
	p, err := peer.New(peer.Config{ID: id, RemoteID: remote, Signaling: c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// roundTrip sends msg from a to b and checks it arrives.
func roundTrip(ctx context.Context, a, b peer.Channel, msg string) error {
	if err := a.Send(ctx, []byte(msg)); err != nil {
		return fmt.Errorf("send %q on %s: %w", msg, a.Label(), err)
	}
	got, err := b.Recv(ctx)
	if err != nil {
		return fmt.Errorf("recv %q on %s: %w", msg, b.Label(), err)
	}
	if !bytes.Equal(got, []byte(msg)) {
		return fmt.Errorf("on %s: got %q, want %q", b.Label(), got, msg)
	}
	return nil
}

func countEvents(evs []peer.Event, typ peer.EventType, label string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ && (label == "" || e.Label == label) {
			n++
		}
	}
	return n
}

// waitEvent pops q until an event matching ok arrives.
func waitEvent(ctx context.Context, q *peer.EventQueue, ok func(peer.Event) bool) (peer.Event, error) {
	for {
		e, err := q.Pop(ctx)
		if err != nil {
			return peer.Event{}, err
		}
		if ok(e) {
			return e, nil
		}
	}
}

func (w *world) chromeChromeWS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := startSignaling(t)
	sig := SignalingConfig{Kind: SignalingWS, URL: srv.URL()}
	alice := w.chrome(t, ctx, ChromeConfig{ID: "alice", RemoteID: "bob", Signaling: sig})
	bob := w.chrome(t, ctx, ChromeConfig{ID: "bob", RemoteID: "alice", Signaling: sig})

	start := time.Now()
	ca, err := alice.CreateDataChannel(ctx, "chat", peer.ChannelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("chrome-chrome over ws: channel open after %v", time.Since(start))
	cb, err := bob.AcceptDataChannel(ctx, "chat")
	if err != nil {
		t.Fatal(err)
	}
	if ca.ID() != cb.ID() {
		t.Errorf("channel ids: alice %d, bob %d; want the same", ca.ID(), cb.ID())
	}
	for i := range 3 {
		if err := roundTrip(ctx, ca, cb, fmt.Sprintf("alice->bob %d", i)); err != nil {
			t.Fatal(err)
		}
		if err := roundTrip(ctx, cb, ca, fmt.Sprintf("bob->alice %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := alice.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.LocalCandidate != "relay" || !strings.HasPrefix(s.LocalAddress, "127.0.0.1:") {
		t.Errorf("alice's selected local candidate %s %s, want relay on 127.0.0.1", s.LocalCandidate, s.LocalAddress)
	}
	if s.ConnectionState != "connected" || s.BytesReceived == 0 {
		t.Errorf("alice's stats: connection %q, %d bytes received; want connected and some", s.ConnectionState, s.BytesReceived)
	}
	checkNoPageErrors(t, alice, bob)
}

// goChrome: a Go peer and a Chrome peer over kind (sse: both on the
// server; bridge: both on one in-memory loopback, Chrome through a Go
// client). Each side creates a channel at the same instant (glare under
// the lock strategy); each channel opens exactly once on each side and
// carries messages both ways.
func (w *world) goChrome(t *testing.T, kind string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var goClient *signaling.Client
	cfg := ChromeConfig{ID: "chrome", RemoteID: "gopher"}
	switch kind {
	case SignalingSSE:
		srv := startSignaling(t)
		tr, err := signaling.NewSSETransport(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		goClient = newClient(t, ctx, "gopher", tr)
		cfg.Signaling = SignalingConfig{Kind: SignalingSSE, URL: srv.URL()}
	case SignalingBridge:
		loop, err := signaling.NewLoopback()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { loop.Close() })
		goClient = newClient(t, ctx, "gopher", loop)
		cfg.Signaling = SignalingConfig{Kind: SignalingBridge}
		cfg.Bridge = newClient(t, ctx, "chrome", loop)
	}
	ch := w.chrome(t, ctx, cfg)
	gp := newGoPeer(t, "gopher", "chrome", goClient)

	// Both at the same instant.
	var wg sync.WaitGroup
	var goCh, chromeCh peer.Channel
	var goErr, chromeErr error
	release := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		<-release
		goCh, goErr = gp.CreateDataChannel(ctx, "from-go", peer.ChannelOptions{})
	}()
	go func() {
		defer wg.Done()
		<-release
		chromeCh, chromeErr = ch.CreateDataChannel(ctx, "from-chrome", peer.ChannelOptions{})
	}()
	start := time.Now()
	close(release)
	wg.Wait()
	if goErr != nil || chromeErr != nil {
		t.Fatalf("CreateDataChannel at once: go %v, chrome %v", goErr, chromeErr)
	}
	t.Logf("go-chrome over %s: both channels open after %v", kind, time.Since(start))
	goAcc, err := gp.AcceptDataChannel(ctx, "from-chrome")
	if err != nil {
		t.Fatal(err)
	}
	chromeAcc, err := ch.AcceptDataChannel(ctx, "from-go")
	if err != nil {
		t.Fatal(err)
	}
	pairs := []struct {
		name string
		a, b peer.Channel
	}{
		{"go->chrome on from-go", goCh, chromeAcc},
		{"chrome->go on from-go", chromeAcc, goCh},
		{"chrome->go on from-chrome", chromeCh, goAcc},
		{"go->chrome on from-chrome", goAcc, chromeCh},
	}
	for _, p := range pairs {
		if err := roundTrip(ctx, p.a, p.b, p.name); err != nil {
			t.Fatal(err)
		}
	}
	for _, side := range []peer.Endpoint{gp, ch} {
		evs := side.EventHistory()
		for _, label := range []string{"from-go", "from-chrome"} {
			if n := countEvents(evs, peer.EventChannelOpen, label); n != 1 {
				t.Errorf("%s: channel %q opened %d times, want once", side.ID(), label, n)
			}
		}
		if n := countEvents(evs, peer.EventGlare, ""); n != 0 {
			t.Errorf("%s: %d glare events under the lock strategy, want none", side.ID(), n)
		}
	}
	checkNoPageErrors(t, ch)
}

// reliabilityModes: the seven channel configurations, created in Chrome,
// accepted by Go with the same options, a message each way; and a
// negotiated channel created on both sides.
func (w *world) reliabilityModes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := startSignaling(t)
	tr, err := signaling.NewWSTransport(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	gp := newGoPeer(t, "gopher", "chrome", newClient(t, ctx, "gopher", tr))
	ch := w.chrome(t, ctx, ChromeConfig{ID: "chrome", RemoteID: "gopher", Signaling: SignalingConfig{Kind: SignalingWS, URL: srv.URL()}})
	for _, m := range peer.ReliabilityModes() {
		c, err := ch.CreateDataChannel(ctx, m.Name, m.Opts)
		if err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		g, err := gp.AcceptDataChannel(ctx, m.Name)
		if err != nil {
			t.Fatalf("%s: accept: %v", m.Name, err)
		}
		got := g.Options()
		if got.Unordered != m.Opts.Unordered || !eqU16(got.MaxRetransmits, m.Opts.MaxRetransmits) || !eqU16(got.MaxPacketLifeTime, m.Opts.MaxPacketLifeTime) {
			t.Errorf("%s: Go sees options %s, want %s", m.Name, optString(got), optString(m.Opts))
		}
		if err := roundTrip(ctx, c, g, m.Name+" chrome->go"); err != nil {
			t.Errorf("%s: %v", m.Name, err)
		}
		if err := roundTrip(ctx, g, c, m.Name+" go->chrome"); err != nil {
			t.Errorf("%s: %v", m.Name, err)
		}
	}
	id := uint16(100) // Chrome numbers its own channels from 0 or 1 by twos: 100 is free
	neg := peer.ChannelOptions{Negotiated: true, ID: &id}
	c, err := ch.CreateDataChannel(ctx, "prearranged", neg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gp.CreateDataChannel(ctx, "prearranged", neg)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID() != id || g.ID() != id {
		t.Errorf("negotiated channel ids: chrome %d, go %d; want %d", c.ID(), g.ID(), id)
	}
	if err := roundTrip(ctx, c, g, "prearranged chrome->go"); err != nil {
		t.Error(err)
	}
	if err := roundTrip(ctx, g, c, "prearranged go->chrome"); err != nil {
		t.Error(err)
	}
	checkNoPageErrors(t, ch)
}

func eqU16(a, b *uint16) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func optString(o peer.ChannelOptions) string {
	f := func(p *uint16) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprint(*p)
	}
	return fmt.Sprintf("{unordered %v, maxRetransmits %s, maxPacketLifeTime %s}", o.Unordered, f(o.MaxRetransmits), f(o.MaxPacketLifeTime))
}

// lockSerializes: AcquireLock on the Chrome side and on the Go side at
// the same instant, several rounds: the bodies never overlap and all run.
func (w *world) lockSerializes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := startSignaling(t)
	tr, err := signaling.NewWSTransport(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	gp := newGoPeer(t, "gopher", "chrome", newClient(t, ctx, "gopher", tr))
	ch := w.chrome(t, ctx, ChromeConfig{ID: "chrome", RemoteID: "gopher", Signaling: SignalingConfig{Kind: SignalingWS, URL: srv.URL()}})
	var inside, overlaps, ran atomic.Int32
	body := func(context.Context) error {
		if inside.Add(1) > 1 {
			overlaps.Add(1)
		}
		ran.Add(1)
		time.Sleep(150 * time.Millisecond) // hold the lock long enough that an overlap would show
		inside.Add(-1)
		return nil
	}
	const rounds = 4
	for r := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, e := range []peer.Endpoint{gp, ch} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = e.AcquireLock(ctx, body)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
	}
	if overlaps.Load() != 0 {
		t.Errorf("%d overlapping bodies, want none", overlaps.Load())
	}
	if ran.Load() != 2*rounds {
		t.Errorf("%d bodies ran, want %d", ran.Load(), 2*rounds)
	}
	// A body's error comes back.
	boom := errors.New("boom")
	if err := ch.AcquireLock(ctx, func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("AcquireLock with a failing body: %v, want boom", err)
	}
	checkNoPageErrors(t, ch)
}

// uncaughtException: an exception nobody catches in the page shows in
// Err() and as an error event.
func (w *world) uncaughtException(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := startSignaling(t)
	ch := w.chrome(t, ctx, ChromeConfig{ID: "chrome", RemoteID: "nobody", Signaling: SignalingConfig{Kind: SignalingWS, URL: srv.URL()}})
	if err := ch.Err(); err != nil {
		t.Fatalf("Err before: %v, want nil", err)
	}
	q := ch.Events()
	if err := ch.call(ctx, nil, "throwUncaught", "kaboom-42"); err != nil {
		t.Fatal(err)
	}
	if _, err := waitEvent(ctx, q, func(e peer.Event) bool { return e.Type == peer.EventError && strings.Contains(e.Detail, "kaboom-42") }); err != nil {
		t.Fatalf("no error event for the uncaught exception: %v", err)
	}
	err := ch.Err()
	if err == nil || !strings.Contains(err.Error(), "kaboom-42") || !errors.Is(err, ErrPage) {
		t.Errorf("Err() = %v, want ErrPage naming kaboom-42", err)
	}
	logged := false
	for _, l := range ch.Logs() {
		logged = logged || strings.Contains(l, "kaboom-42")
	}
	if !logged {
		t.Errorf("Logs() has no kaboom-42: %q", ch.Logs())
	}
	png, err := ch.Screenshot(ctx)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("Screenshot: %d bytes, %v; want a PNG", len(png), err)
	}
}

// closeErrorKept: a Close that fails says so on every call, not only the
// first. The page is navigated away under the peer, so netlab.close is
// not there to call.
func (w *world) closeErrorKept(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := startSignaling(t)
	tab := newTabT(t, ctx, w.b)
	p, err := NewChromePeer(ctx, tab, w.pageURL, ChromeConfig{
		ID: "chrome", RemoteID: "nobody", RelayOnly: true,
		Signaling:  SignalingConfig{Kind: SignalingWS, URL: srv.URL()},
		ICEServers: []webrtc.ICEServer{{URLs: []string{w.turnURL}, Username: turnUser, Credential: turnPass}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tab.Context(), chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	first := p.Close()
	if first == nil {
		t.Fatal("Close with the page gone: nil, want an error")
	}
	if again := p.Close(); again != first {
		t.Errorf("second Close: %v, want the first's %v", again, first)
	}
}

// closeSendsBye: Close says bye (the Go peer sees EventBye), is
// idempotent, and calls after it fail with ErrClosed.
func (w *world) closeSendsBye(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	loop, err := signaling.NewLoopback()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loop.Close() })
	gp := newGoPeer(t, "gopher", "chrome", newClient(t, ctx, "gopher", loop))
	ch := w.chrome(t, ctx, ChromeConfig{ID: "chrome", RemoteID: "gopher", Signaling: SignalingConfig{Kind: SignalingBridge}, Bridge: newClient(t, ctx, "chrome", loop)})
	c, err := ch.CreateDataChannel(ctx, "x", peer.ChannelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gp.AcceptDataChannel(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	// The page sends a stats snapshot every second.
	if err := waitStats(ctx, ch, 2); err != nil {
		t.Fatal(err)
	}
	if s := ch.StatsHistory()[1]; s.ConnectionState != "connected" || s.LocalCandidate != "relay" {
		t.Errorf("second stats snapshot: connection %q, local candidate %q; want connected, relay", s.ConnectionState, s.LocalCandidate)
	}
	gq := gp.Events()
	if err := ch.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := waitEvent(ctx, gq, func(e peer.Event) bool { return e.Type == peer.EventBye }); err != nil {
		t.Fatalf("the Go peer saw no bye: %v", err)
	}
	if err := ch.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.Send(ctx, []byte("late")); !errors.Is(err, peer.ErrClosed) {
		t.Errorf("Send after Close: %v, want ErrClosed", err)
	}
	if _, err := ch.Stats(ctx); !errors.Is(err, peer.ErrClosed) {
		t.Errorf("Stats after Close: %v, want ErrClosed", err)
	}
	checkNoPageErrors(t, ch)
}

// waitStats waits until p has n stats snapshots (each page event handled
// moves p.progress).
func waitStats(ctx context.Context, p *ChromePeer, n int) error {
	for {
		p.mu.Lock()
		have, ch := len(p.stats), p.progress
		p.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%s: %d stats snapshots, want %d: %w", p.ID(), have, n, ctx.Err())
		}
	}
}

// mediaAndRestart: Chrome sends fake video and audio to a Go peer (the Go
// peer gets both tracks, RTP flows), then ICE restarts from either side
// bring the session back each time.
func (w *world) mediaAndRestart(t *testing.T) {
	w.mediaRan = true
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := startSignaling(t)
	tr, err := signaling.NewWSTransport(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	gp := newGoPeer(t, "gopher", "chrome", newClient(t, ctx, "gopher", tr))
	ch := w.chrome(t, ctx, ChromeConfig{ID: "chrome", RemoteID: "gopher", Signaling: SignalingConfig{Kind: SignalingWS, URL: srv.URL()}})
	gq := gp.Events()
	start := time.Now()
	if err := ch.AddMedia(ctx, peer.MediaSpec{Kind: peer.Video, Bitrate: 300_000}); err != nil {
		t.Fatal(err)
	}
	if err := ch.AddMedia(ctx, peer.MediaSpec{Kind: peer.Audio}); err != nil {
		t.Fatal(err)
	}
	t.Logf("video and audio negotiated after %v", time.Since(start))
	kinds := map[string]bool{}
	for len(kinds) < 2 {
		e, err := waitEvent(ctx, gq, func(e peer.Event) bool { return e.Type == peer.EventTrack })
		if err != nil {
			t.Fatalf("Go peer tracks %v: %v", kinds, err)
		}
		kinds[e.Detail] = true
	}
	if !kinds["video"] || !kinds["audio"] {
		t.Errorf("Go peer got tracks %v, want video and audio", kinds)
	}
	if err := waitStats(ctx, ch, 2); err != nil {
		t.Fatal(err)
	}
	st, err := ch.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.RTPPacketsSent == 0 {
		t.Errorf("Chrome sent no RTP: %+v", st)
	}

	// Chrome restarts: the Go peer sees the remote restart, both connect.
	start = time.Now()
	if err := ch.Restart(ctx); err != nil {
		t.Fatalf("Chrome Restart: %v", err)
	}
	t.Logf("Chrome's ICE restart connected again after %v", time.Since(start))
	if _, err := waitEvent(ctx, gq, func(e peer.Event) bool { return e.Type == peer.EventRestart && e.Detail == "remote ICE restart" }); err != nil {
		t.Fatalf("the Go peer saw no remote restart: %v", err)
	}
	// The Go peer restarts: Chrome sees the remote restart.
	cq := ch.Events()
	if err := gp.Restart(ctx); err != nil {
		t.Fatalf("Go Restart: %v", err)
	}
	if _, err := waitEvent(ctx, cq, func(e peer.Event) bool { return e.Type == peer.EventRestart && e.Detail == "remote ICE restart" }); err != nil {
		t.Fatalf("Chrome saw no remote restart: %v", err)
	}
	if st, err := ch.Stats(ctx); err != nil || st.ICEState != "connected" && st.ICEState != "completed" {
		t.Errorf("Chrome after the restarts: ICE %q, %v; want connected", st.ICEState, err)
	}
	checkNoPageErrors(t, ch)
}

// perfectGlare: two Chrome peers under perfect negotiation create a
// channel each at the same instant; Chrome rolls back on the polite side,
// and each channel opens exactly once on each side.
func (w *world) perfectGlare(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := startSignaling(t)
	sig := SignalingConfig{Kind: SignalingWS, URL: srv.URL()}
	alice := w.chrome(t, ctx, ChromeConfig{ID: "alice", RemoteID: "bob", Signaling: sig, Glare: peer.GlarePerfect})
	bob := w.chrome(t, ctx, ChromeConfig{ID: "bob", RemoteID: "alice", Signaling: sig, Glare: peer.GlarePerfect})
	var wg sync.WaitGroup
	chans := make([]peer.Channel, 2)
	errs := make([]error, 2)
	for i, p := range []*ChromePeer{alice, bob} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			chans[i], errs[i] = p.CreateDataChannel(ctx, "from-"+p.ID(), peer.ChannelOptions{})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	fromBob, err := alice.AcceptDataChannel(ctx, "from-bob")
	if err != nil {
		t.Fatal(err)
	}
	fromAlice, err := bob.AcceptDataChannel(ctx, "from-alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(ctx, chans[0], fromAlice, "a->b"); err != nil {
		t.Error(err)
	}
	if err := roundTrip(ctx, chans[1], fromBob, "b->a"); err != nil {
		t.Error(err)
	}
	glare := 0
	for _, p := range []*ChromePeer{alice, bob} {
		evs := p.EventHistory()
		glare += countEvents(evs, peer.EventGlare, "")
		for _, label := range []string{"from-alice", "from-bob"} {
			if n := countEvents(evs, peer.EventChannelOpen, label); n != 1 {
				t.Errorf("%s: channel %q opened %d times, want once", p.ID(), label, n)
			}
		}
	}
	t.Logf("perfect negotiation: %d glare events", glare)
	checkNoPageErrors(t, alice, bob)
}

// beatingPair is a Go peer "gopher" and a tab "chrome" with heartbeats
// hb, over WebSocket signaling, the tab having created channel "x".
func (w *world) beatingPair(t *testing.T, ctx context.Context, hb peer.HeartbeatConfig) (*peer.GoPeer, *ChromePeer) {
	t.Helper()
	srv := startSignaling(t)
	tr, err := signaling.NewWSTransport(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	gp, err := peer.New(peer.Config{ID: "gopher", RemoteID: "chrome", Signaling: newClient(t, ctx, "gopher", tr), Heartbeat: hb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gp.Close() })
	ch := w.chrome(t, ctx, ChromeConfig{ID: "chrome", RemoteID: "gopher", Signaling: SignalingConfig{Kind: SignalingWS, URL: srv.URL()}, Heartbeat: hb})
	if _, err := ch.CreateDataChannel(ctx, "x", peer.ChannelOptions{}); err != nil {
		t.Fatal(err)
	}
	return gp, ch
}

// heartbeatTimeout: a Go peer dies without a word (Kill); Chrome notices
// on both heartbeat paths within [Timeout, Timeout+Interval] of the death
// (plus scheduling slack), and raises nothing before Timeout.
func (w *world) heartbeatTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hb := peer.HeartbeatConfig{Interval: 200 * time.Millisecond, Timeout: time.Second}
	gp, ch := w.beatingPair(t, ctx, hb)
	if _, err := gp.AcceptDataChannel(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	q := ch.Events()
	time.Sleep(3 * hb.Interval) // a few beats on both paths before the death
	if n := countEvents(ch.EventHistory(), peer.EventHeartbeatTimeout, ""); n != 0 {
		t.Fatalf("%d heartbeat timeouts while the Go peer was alive", n)
	}
	died := time.Now()
	gp.Kill()
	paths := map[string]time.Duration{}
	for len(paths) < 2 {
		e, err := waitEvent(ctx, q, func(e peer.Event) bool { return e.Type == peer.EventHeartbeatTimeout })
		if err != nil {
			t.Fatalf("heartbeat timeouts so far %v: %v", paths, err)
		}
		paths[e.Path] = e.At.Sub(died)
	}
	const slack = 300 * time.Millisecond // timers and CDP delivery on a 2-core machine
	for _, path := range []string{"signaling", "datachannel"} {
		d, ok := paths[path]
		if !ok {
			t.Errorf("no heartbeat timeout on %s (got %v)", path, paths)
			continue
		}
		t.Logf("heartbeat timeout on %s %v after the death", path, d)
		if d < hb.Timeout-slack || d > hb.Timeout+hb.Interval+slack {
			t.Errorf("heartbeat timeout on %s %v after the death, want within [%v, %v] (+-%v)", path, d, hb.Timeout, hb.Timeout+hb.Interval, slack)
		}
	}
	checkNoPageErrors(t, ch)
}

// versionMismatch: a server of another version makes the page report
// version-mismatch and reload itself once (ChromePeer reports the reload:
// the session is gone).
func (w *world) versionMismatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := signaling.NewServer(signaling.ServerConfig{Version: "2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tab := newTabT(t, ctx, w.b)
	ch, err := NewChromePeer(ctx, tab, w.pageURL, ChromeConfig{ID: "chrome", RemoteID: "nobody", Signaling: SignalingConfig{Kind: SignalingWS, URL: srv.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	evq := ch.Events()
	// The listing may have come before Events: look in the history too.
	seen := func(ok func(peer.Event) bool) bool {
		for _, e := range ch.EventHistory() {
			if ok(e) {
				return true
			}
		}
		return false
	}
	isMismatch := func(e peer.Event) bool {
		return e.Type == peer.EventVersionMismatch && strings.Contains(e.Detail, `"2"`) && strings.Contains(e.Detail, `"1"`)
	}
	isReload := func(e peer.Event) bool { return e.Type == peer.EventError && e.Detail == "page reloaded" }
	if !seen(isMismatch) {
		if _, err := waitEvent(ctx, evq, isMismatch); err != nil {
			t.Fatalf("no version-mismatch: %v", err)
		}
	}
	if !seen(isReload) {
		if _, err := waitEvent(ctx, evq, isReload); err != nil {
			t.Fatalf("the page did not reload: %v", err)
		}
	}
	if _, err := ch.Stats(ctx); !errors.Is(err, peer.ErrClosed) {
		t.Errorf("Stats on the reloaded page: %v, want ErrClosed (not started)", err)
	}
	checkNoPageErrors(t, ch)
}

// killNoBye: a killed Chrome peer says no bye; the Go peer notices it
// by its signaling heartbeat.
func (w *world) killNoBye(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hb := peer.HeartbeatConfig{Interval: 200 * time.Millisecond, Timeout: time.Second}
	gp, ch := w.beatingPair(t, ctx, hb)
	gq := gp.Events()
	ch.Kill()
	if _, err := waitEvent(ctx, gq, func(e peer.Event) bool { return e.Type == peer.EventHeartbeatTimeout && e.Path == "signaling" }); err != nil {
		t.Fatalf("the Go peer did not notice the killed page: %v", err)
	}
	if n := countEvents(gp.EventHistory(), peer.EventBye, ""); n != 0 {
		t.Errorf("the Go peer saw %d byes from a killed page, want none", n)
	}
	checkNoPageErrors(t, ch)
}
