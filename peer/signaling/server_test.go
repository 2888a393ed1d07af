package signaling

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestServerBindsLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":8443", "192.0.2.1:80", "example.com:80", "[::]:0"} {
		if _, err := NewServer(ServerConfig{Addr: addr}); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("NewServer(%q) = %v, want ErrNotLoopback", addr, err)
		}
	}
	if _, err := NewServer(ServerConfig{Addr: "no-port"}); err == nil || errors.Is(err, ErrNotLoopback) {
		t.Errorf("NewServer(no-port) = %v, want an address error", err)
	}
	if _, err := NewServer(ServerConfig{Addr: "0.0.0.0:0", AllowNonLoopback: true}); err != nil {
		t.Errorf("AllowNonLoopback: %v", err) // not started: nothing binds
	}
	if _, err := NewServer(ServerConfig{MaxMessageBytes: -1}); err == nil {
		t.Error("negative MaxMessageBytes accepted")
	}
	s := startServer(t, ServerConfig{})
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || strings.HasSuffix(s.URL(), ":0") {
		t.Errorf("URL %q", s.URL())
	}
	if err := s.Start(); err == nil {
		t.Error("second Start accepted")
	}
}

func TestTransportsDialLoopbackOnly(t *testing.T) {
	for _, u := range []string{"http://192.0.2.1:80", "ws://example.com", "http://[2001:db8::1]:1"} {
		if _, err := NewWSTransport(u); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("NewWSTransport(%q) = %v, want ErrNotLoopback", u, err)
		}
		if _, err := NewSSETransport(u); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("NewSSETransport(%q) = %v, want ErrNotLoopback", u, err)
		}
		if _, err := NewWSTransport(u, AllowNonLoopback()); err != nil {
			t.Errorf("NewWSTransport(%q, AllowNonLoopback) = %v", u, err)
		}
	}
	for _, u := range []string{"ftp://127.0.0.1:1", "http://127.0.0.1:1/?q=1", "127.0.0.1:80", "http://u@127.0.0.1:1"} {
		if _, err := NewSSETransport(u); err == nil {
			t.Errorf("NewSSETransport(%q) accepted", u)
		}
	}
	if _, err := NewWSTransport("http://localhost:1", WithDialTimeout(0)); err == nil {
		t.Error("zero dial timeout accepted")
	}
	// The dialer checks the address it is about to connect to (after
	// any resolution) before connect(2): nothing leaves the machine.
	if _, err := loopbackDialer(time.Second, false).Dial("tcp", "192.0.2.1:80"); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("dialing 192.0.2.1: %v, want ErrNotLoopback", err)
	}
	// "localhost" passes the URL check; the dialer checks the resolved
	// address, which is loopback.
	tr := transportFor(t, "ws", "http://localhost:1")
	if _, err := tr.Dial(waitCtx(t), "a"); !errors.Is(err, ErrNotConnected) {
		t.Errorf("dial a closed port: %v, want ErrNotConnected", err)
	}
}

// Each client gets the listing first, on either transport: its address,
// the server version, the ids registered (its own included). GET
// /listing answers the same.
func TestListingOnConnect(t *testing.T) {
	srv := startServer(t, ServerConfig{Version: "7.1"})
	a := dialSession(t, transportFor(t, "ws", srv.URL()), "alice")
	b := dialSession(t, transportFor(t, "sse", srv.URL()), "bob")
	for _, tc := range []struct {
		s     Session
		id    string
		peers []string
	}{{a, "alice", []string{"alice"}}, {b, "bob", []string{"alice", "bob"}}} {
		m, err := tc.s.Recv(waitCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		var l Listing
		if m.Type != TypeListing || m.From != tc.id || m.To != tc.id || m.DecodeData(&l) != nil {
			t.Fatalf("%s: first message %+v, want its listing", tc.id, m)
		}
		if l.Version != "7.1" || l.IP != "127.0.0.1" || !slices.Equal(l.Peers, tc.peers) {
			t.Errorf("%s: listing %+v, want version 7.1, ip 127.0.0.1, peers %v", tc.id, l, tc.peers)
		}
	}
	resp, err := httpClient(t).Get(srv.URL() + "/listing")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l Listing
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || l.Version != "7.1" || !slices.Equal(l.Peers, []string{"alice", "bob"}) {
		t.Errorf("GET /listing: %d %+v", resp.StatusCode, l)
	}
	resp, err = httpClient(t).Get(srv.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m Metrics
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m.WSClients != 1 || m.SSEClients != 1 || m.WSConnects != 1 || m.SSEConnects != 1 {
		t.Errorf("GET /metrics: %+v", m)
	}
}

// A Client built for another version hears of the mismatch as an event,
// on both transports.
func TestVersionMismatchEvent(t *testing.T) {
	srv := startServer(t, ServerConfig{Version: "2"})
	for _, kind := range []string{"ws", "sse"} {
		t.Run(kind, func(t *testing.T) {
			tr := transportFor(t, kind, srv.URL())
			c, err := NewClient(ClientConfig{ID: "old-" + kind, Transport: tr, Version: "1"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The client dials as it is made: the event may come before
			// this subscription, so the history (read after subscribing)
			// is looked at first.
			events := c.Events()
			past := c.EventHistory()
			ctx := waitCtx(t)
			for {
				var ev ClientEvent
				if len(past) > 0 {
					ev, past = past[0], past[1:]
				} else if ev, err = events.Pop(ctx); err != nil {
					t.Fatalf("no version-mismatch event: %v", err)
				}
				if ev.Type != EventVersionMismatch {
					continue
				}
				if ev.Want != "1" || ev.Listing.Version != "2" || !errors.Is(ev.Err, ErrVersionMismatch) {
					t.Errorf("event %+v", ev)
				}
				return
			}
		})
	}
}

// The server refuses bad input on a WebSocket with a TypeError message
// and a close frame; the session surfaces the message, then ends with
// ErrRejected wrapping what was wrong.
func TestWSRefusalsEndTheSession(t *testing.T) {
	srv := startServer(t, ServerConfig{MaxMessageBytes: 1000})
	big := WithMaxMessageBytes(1 << 20) // let the client send what the server refuses
	tr := transportFor(t, "ws", srv.URL(), big)
	dialSession(t, tr, "bob")
	for _, tc := range []struct {
		name string
		m    Message
		want error
		code string
	}{
		{"forged", msg("mallory", "bob", "offer", "x"), ErrForged, CodeForged},
		{"unknown", msg("alice", "nobody", "offer", "x"), ErrUnknownRecipient, CodeUnknownRecipient},
		{"too large", msg("alice", "bob", "offer", strings.Repeat("x", 2000)), ErrTooLarge, CodeTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := dialSession(t, tr, "alice")
			if err := s.Send(waitCtx(t), tc.m); err != nil {
				t.Fatal(err)
			}
			got, err := recvEnd(t, s)
			if !errors.Is(err, ErrRejected) || !errors.Is(err, tc.want) {
				t.Errorf("end %v, want ErrRejected and %v", err, tc.want)
			}
			var e ErrorData
			if len(got) != 2 || got[1].Type != TypeError || got[1].DecodeData(&e) != nil || e.Code != tc.code {
				t.Errorf("messages %+v, want the listing and a TypeError %s", got, tc.code)
			}
			if err := s.Send(waitCtx(t), msg("alice", "bob", "x", nil)); !errors.Is(err, ErrRejected) {
				t.Errorf("Send after the end: %v", err)
			}
		})
	}
	if err := dialSession(t, tr, "carol").Send(waitCtx(t), msg("carol", "bob", "x", strings.Repeat("y", 2<<20))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the client's own limit: %v, want ErrTooLarge before sending", err)
	}
	m := srv.Metrics()
	for _, code := range []string{CodeForged, CodeUnknownRecipient, CodeTooLarge} {
		if m.Refused[code] != 1 {
			t.Errorf("refused %s: %d, want 1 (%v)", code, m.Refused[code], m.Refused)
		}
	}
}

// Malformed input and oversize messages on a bare WebSocket: a TypeError
// and a close code that says which.
func TestWSRawRefusals(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	for _, tc := range []struct {
		name      string
		payload   []byte
		code      string
		closeCode int
	}{
		{"not json", []byte("{nope"), CodeMalformed, websocket.CloseInvalidFramePayloadData},
		{"unknown field", []byte(`{"from":"x","to":"x","type":"t","evil":1}`), CodeMalformed, websocket.CloseInvalidFramePayloadData},
		{"missing type", []byte(`{"from":"x","to":"x"}`), CodeMissingField, websocket.CloseInvalidFramePayloadData},
		{"1 MiB", []byte(`{"from":"x","to":"x","type":"t","data":"` + strings.Repeat("a", 1<<20) + `"}`), CodeTooLarge, websocket.CloseMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawWS(t, srv, "x")
			if err := c.WriteMessage(websocket.TextMessage, tc.payload); err != nil {
				t.Fatal(err)
			}
			code, closeCode, err := rawWSRefusal(c)
			if err != nil || code != tc.code || closeCode != tc.closeCode {
				t.Errorf("got %q, close %d, %v; want %q, close %d", code, closeCode, err, tc.code, tc.closeCode)
			}
		})
	}
}

// Bad ids and routes are refused with a status and a reason.
func TestBadRequests(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	hc := httpClient(t)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/messages/a%2Fb", 400},
		{"GET", "/messages/", 400},
		{"POST", "/messages/a", 405},
		{"GET", "/message", 405},
		{"DELETE", "/listing", 405},
		{"GET", "/nowhere/at/all", 404},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL()+tc.path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
	}
	tr := transportFor(t, "ws", srv.URL())
	if _, err := tr.Dial(waitCtx(t), "a/b"); !errors.Is(err, ErrBadID) {
		t.Errorf("dial a bad id: %v", err)
	}
	if m := srv.Metrics(); m.Refused[ReasonBadID] != 2 || m.Refused[ReasonBadRequest] != 4 {
		t.Errorf("refused %v", m.Refused)
	}
}

// A second connection for an id replaces the first, which is told so.
func TestNewConnectionReplacesOld(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	for _, kinds := range [][2]string{{"ws", "sse"}, {"sse", "ws"}} {
		t.Run(kinds[0]+" then "+kinds[1], func(t *testing.T) {
			id := "dup-" + kinds[0]
			old := dialSession(t, transportFor(t, kinds[0], srv.URL()), id)
			dialSession(t, transportFor(t, kinds[1], srv.URL()), id)
			_, err := recvEnd(t, old)
			if !errors.Is(err, ErrNotConnected) || !strings.Contains(err.Error(), CodeReplaced) {
				t.Errorf("old session ended with %v, want ErrNotConnected (replaced)", err)
			}
		})
	}
	if m := srv.Metrics(); m.Replaced != 2 {
		t.Errorf("replaced %d, want 2", m.Replaced)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	s, err := NewServer(ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // never started
	s.Close()
	if err := s.Start(); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	s = startServer(t, ServerConfig{})
	dialSession(t, transportFor(t, "ws", s.URL()), "a")
	start := time.Now()
	s.Close()
	s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v with one well-behaved client", d)
	}
}
