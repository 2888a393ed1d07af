package browsers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// TestChromeClient runs the page's signaling client alone (ChromeClient)
// against a Go client on each transport: the page's own WebSocket and SSE
// clients on a signaling server on 127.0.0.1, and the bridge through a Go
// client on an in-memory Loopback.
func TestChromeClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
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
	for _, kind := range []string{SignalingWS, SignalingSSE, SignalingBridge} {
		t.Run(kind, func(t *testing.T) { clientDispatch(t, ctx, b, page.URL(), kind) })
	}
	t.Run("ws-reconnect", func(t *testing.T) { clientReconnect(t, ctx, b, page.URL()) })
	t.Run("close-error-kept", func(t *testing.T) { clientCloseErrorKept(t, ctx, b, page.URL()) })
	t.Run("connected-after-listing", func(t *testing.T) { clientConnectedAfterListing(t, ctx, b, page.URL()) })
	t.Run("bad-config", func(t *testing.T) {
		_, err := NewChromeClient(ctx, nil, page.URL(), ChromeClientConfig{ID: "tab", Signaling: SignalingConfig{Kind: "pigeon"}})
		if !errors.Is(err, peer.ErrBadConfig) {
			t.Errorf("kind pigeon: err %v, want ErrBadConfig", err)
		}
		loop, err := signaling.NewLoopback()
		if err != nil {
			t.Fatal(err)
		}
		defer loop.Close()
		other := newClient(t, ctx, "other", loop)
		_, err = NewChromeClient(ctx, nil, page.URL(), ChromeClientConfig{ID: "tab", Signaling: SignalingConfig{Kind: SignalingBridge}, Bridge: other})
		if !errors.Is(err, peer.ErrBadConfig) {
			t.Errorf("bridge of another id: err %v, want ErrBadConfig", err)
		}
		if other.State() != signaling.StateClosed {
			t.Errorf("the refused Bridge client is %v, want closed (the ChromeClient owns it)", other.State())
		}
	})
}

// clientCloseErrorKept: a Close that fails says so on every call, not
// only the first. The page is navigated away under the client, so
// netlab.clientClose is not there to call.
func clientCloseErrorKept(t *testing.T, ctx context.Context, b *Browser, pageURL string) {
	m := newMedium(t, SignalingWS)
	tab := newTabT(t, ctx, b)
	c, err := NewChromeClient(ctx, tab, pageURL, ChromeClientConfig{ID: "tab", Signaling: m.sig})
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tab.Context(), chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	first := c.Close()
	if first == nil {
		t.Fatal("Close with the page gone: nil, want an error")
	}
	if again := c.Close(); again != first {
		t.Errorf("second Close: %v, want the first's %v", again, first)
	}
}

// clientConnectedAfterListing: the page's WebSocket client is connected
// once the server's listing says its id is registered, not when the
// socket opens (the server registers after the upgrade; a message sent to
// the id in between is refused as unknown-recipient). A stand-in server
// upgrades and holds the listing back.
func clientConnectedAfterListing(t *testing.T, ctx context.Context, b *Browser, pageURL string) {
	upgraded := make(chan *websocket.Conn, 4)
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := up.Upgrade(w, r, nil); err == nil {
			upgraded <- c
		}
	})}
	served := make(chan struct{})
	go func() { defer close(served); hs.Serve(ln) }()
	t.Cleanup(func() { hs.Close(); <-served })

	tab := newTabT(t, ctx, b)
	type result struct {
		c   *ChromeClient
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := NewChromeClient(ctx, tab, pageURL, ChromeClientConfig{ID: "tab", Signaling: SignalingConfig{Kind: SignalingWS, URL: "http://" + ln.Addr().String()}})
		done <- result{c, err}
	}()
	var conn *websocket.Conn
	select {
	case conn = <-upgraded:
	case <-ctx.Done():
		t.Fatal("the page never opened its WebSocket")
	}
	defer conn.Close()
	select {
	case r := <-done:
		if r.c != nil {
			r.c.Close()
		}
		t.Fatalf("NewChromeClient returned (err %v) with no listing sent: the page called itself connected when the socket opened", r.err)
	case <-time.After(300 * time.Millisecond): // a bounded look for a wrong early return, which comes within milliseconds of the open
	}
	listing := signaling.Message{From: "tab", To: "tab", Type: signaling.TypeListing, Data: json.RawMessage(`{"ip":"127.0.0.1","version":"1","peers":["tab"]}`)}
	if err := conn.WriteJSON(listing); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("NewChromeClient after the listing: %v", r.err)
		}
		if err := r.c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("NewChromeClient did not return after the listing")
	}
}

// medium is a signaling medium for a test: the Go client's transport, how
// the page reaches it, and who is registered.
type medium struct {
	tr         signaling.Transport
	sig        SignalingConfig
	registered func() []string
}

func newMedium(t *testing.T, kind string) medium {
	t.Helper()
	if kind == SignalingBridge {
		loop, err := signaling.NewLoopback()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { loop.Close() })
		return medium{tr: loop, sig: SignalingConfig{Kind: SignalingBridge}, registered: loop.Registered}
	}
	srv := startSignaling(t)
	var tr signaling.Transport
	var err error
	if kind == SignalingWS {
		tr, err = signaling.NewWSTransport(srv.URL())
	} else {
		tr, err = signaling.NewSSETransport(srv.URL())
	}
	if err != nil {
		t.Fatal(err)
	}
	return medium{tr: tr, sig: SignalingConfig{Kind: kind, URL: srv.URL()}, registered: func() []string {
		resp, err := http.Get(srv.URL() + "/listing")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var l signaling.Listing
		if json.NewDecoder(resp.Body).Decode(&l) != nil {
			return nil
		}
		return l.Peers
	}}
}

// chromeClient opens a tab and starts a ChromeClient of id on m; cleanup
// closes both, logs the page on failure and fails on an uncaught
// exception in the page.
func chromeClient(t *testing.T, ctx context.Context, b *Browser, pageURL, id string, m medium) *ChromeClient {
	t.Helper()
	tab := newTabT(t, ctx, b)
	cfg := ChromeClientConfig{ID: id, Signaling: m.sig}
	if m.sig.Kind == SignalingBridge {
		bridge, err := signaling.NewClient(signaling.ClientConfig{ID: id, Transport: m.tr})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Bridge = bridge
	}
	start := time.Now()
	c, err := NewChromeClient(ctx, tab, pageURL, cfg)
	if err != nil {
		t.Fatalf("NewChromeClient %s: %v", id, err)
	}
	t.Logf("NewChromeClient %s (%s): %v", id, c.Transport(), time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("ChromeClient %s Close: %v", id, err)
		}
		if err := c.Err(); err != nil {
			t.Errorf("%s: uncaught in the page: %v", id, err)
		}
		if t.Failed() {
			for _, l := range c.Logs() {
				t.Logf("%s page: %s", id, l)
			}
			for _, e := range c.EventHistory() {
				t.Logf("%s event: %s %s %v %v", id, e.At.Format("15:04:05.000"), e.Type, e.State, e.Err)
			}
		}
	})
	return c
}

func recvString(t *testing.T, ctx context.Context, sub *signaling.Subscription) (signaling.Message, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := sub.Recv(ctx)
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	var s string
	if err := json.Unmarshal(m.Data, &s); err != nil {
		t.Fatalf("message %+v: data: %v", m, err)
	}
	return m, s
}

// waitUntil waits for cond within d, checking every 20 ms (the server's
// registry has no event to wait on).
func waitUntil(ctx context.Context, d time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

func clientDispatch(t *testing.T, ctx context.Context, b *Browser, pageURL, kind string) {
	m := newMedium(t, kind)
	gopher := newClient(t, ctx, "gopher", m.tr)
	c := chromeClient(t, ctx, b, pageURL, "tab", m)
	if c.ID() != "tab" || c.State() != signaling.StateConnected {
		t.Fatalf("ID %q state %v, want tab connected", c.ID(), c.State())
	}
	if !slices.Contains(m.registered(), "tab") {
		t.Fatalf("registered %v: no tab", m.registered())
	}
	if kind != SignalingBridge {
		// The server's listing reaches the page's client and the Go face
		// takes it as a Go client does.
		q := c.Events()
		for c.Listing() == nil {
			e, err := q.Pop(ctx)
			if err != nil {
				t.Fatalf("waiting for the listing: %v", err)
			}
			if e.Type == signaling.EventListing {
				break
			}
		}
		if l := c.Listing(); l == nil || !slices.Contains(l.Peers, "tab") {
			t.Errorf("listing %+v: want one naming tab", l)
		}
	}

	fromGo := c.Subscribe(signaling.Filter{From: "gopher"})
	xs := c.Subscribe(signaling.Filter{From: "gopher", Types: []string{"x"}})
	self := c.Subscribe(signaling.Filter{From: "tab"})
	atGo := gopher.Subscribe(signaling.Filter{From: "tab"})

	// In order, both ways, and by type.
	const n = 50
	start := time.Now()
	for i := range n {
		typ := "seq"
		if i%5 == 0 {
			typ = "x"
		}
		if err := gopher.Send(ctx, "tab", typ, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		if err := c.Send(ctx, "gopher", typ, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		msg, s := recvString(t, ctx, fromGo)
		if s != fmt.Sprint(i) || msg.From != "gopher" || msg.To != "tab" {
			t.Fatalf("tab got %+v (%q), want %d from gopher", msg, s, i)
		}
		msg, s = recvString(t, ctx, atGo)
		if s != fmt.Sprint(i) || msg.From != "tab" || msg.To != "gopher" {
			t.Fatalf("gopher got %+v (%q), want %d from tab", msg, s, i)
		}
	}
	t.Logf("%d messages each way: %v", n, time.Since(start).Round(time.Millisecond))
	for i := 0; i < n; i += 5 {
		msg, s := recvString(t, ctx, xs)
		if msg.Type != "x" || s != fmt.Sprint(i) {
			t.Fatalf("type x: got %+v (%q), want x %d", msg, s, i)
		}
	}

	// To itself, and structured data unchanged in meaning.
	data := map[string]any{"a": []any{1.0, 2.5}, "s": "é\n\"", "n": nil}
	if err := c.Send(ctx, "tab", "note", data); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	msg, err := self.Recv(rctx)
	rcancel()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(msg.Data, &got); err != nil || msg.From != "tab" || msg.To != "tab" || msg.Type != "note" || fmt.Sprint(got) != fmt.Sprint(data) {
		t.Errorf("to itself: got %+v (%v, %v), want note tab->tab %v", msg, got, err, data)
	}
	if err := c.Send(ctx, "gopher", "bare", nil); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel = context.WithTimeout(ctx, 10*time.Second)
	msg, err = atGo.Recv(rctx)
	rcancel()
	if err != nil || msg.Type != "bare" || len(msg.Data) != 0 {
		t.Errorf("no data: got %+v, %v; want type bare without data", msg, err)
	}

	// The medium's refusals come back (ws cannot tell: the server drops
	// the socket instead, ws-reconnect).
	if kind != SignalingWS {
		if err := c.Send(ctx, "nobody", "note", "lost"); !errors.Is(err, signaling.ErrUnknownRecipient) {
			t.Errorf("to nobody: err %v, want ErrUnknownRecipient", err)
		}
	}

	// Close: idempotent, ends sends and subscriptions, and the medium
	// forgets the id.
	for range 2 {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if st := c.State(); st != signaling.StateClosed {
		t.Errorf("after Close: state %v", st)
	}
	if err := c.Send(ctx, "gopher", "note", "after close"); !errors.Is(err, signaling.ErrClosed) {
		t.Errorf("Send after Close: %v, want ErrClosed", err)
	}
	if _, err := fromGo.Recv(ctx); !errors.Is(err, signaling.ErrClosed) {
		t.Errorf("Recv after Close: %v, want ErrClosed", err)
	}
	if !waitUntil(ctx, 5*time.Second, func() bool { return !slices.Contains(m.registered(), "tab") }) {
		t.Errorf("after Close: tab still registered (%v)", m.registered())
	}
	if !slices.Contains(m.registered(), "gopher") {
		t.Errorf("after Close: gopher gone too (%v)", m.registered())
	}
}

// clientReconnect: a message to an id nobody holds makes the server close
// the page's WebSocket (PROTOCOL.md); the page redials, the Go face goes
// disconnected and connected with it, and messages flow again.
func clientReconnect(t *testing.T, ctx context.Context, b *Browser, pageURL string) {
	m := newMedium(t, SignalingWS)
	gopher := newClient(t, ctx, "gopher", m.tr)
	c := chromeClient(t, ctx, b, pageURL, "tab", m)
	q := c.Events()
	fromGo := c.Subscribe(signaling.Filter{From: "gopher"})
	atGo := gopher.Subscribe(signaling.Filter{From: "tab"})
	if err := c.Send(ctx, "nobody", "note", "lost"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var states []signaling.State
	for !slices.Contains(states, signaling.StateDisconnected) || states[len(states)-1] != signaling.StateConnected {
		e, err := q.Pop(wctx)
		if err != nil {
			t.Fatalf("states %v: waiting for disconnected, then connected: %v", states, err)
		}
		if e.Type == signaling.EventState {
			states = append(states, e.State)
		}
	}
	t.Logf("states after the drop: %v", states)
	if err := gopher.Send(ctx, "tab", "note", "again"); err != nil {
		t.Fatal(err)
	}
	if _, s := recvString(t, ctx, fromGo); s != "again" {
		t.Errorf("tab got %q, want again", s)
	}
	if err := c.Send(ctx, "gopher", "note", "me too"); err != nil {
		t.Fatal(err)
	}
	if _, s := recvString(t, ctx, atGo); s != "me too" {
		t.Errorf("gopher got %q, want me too", s)
	}
}
