package signaling

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawSSE opens GET /messages/<id> with a bare HTTP client and returns a
// parser over the stream, the session token, and what closes the stream.
func rawSSE(t *testing.T, srv *Server, id string) (*sseReader, string, func()) {
	t.Helper()
	req, err := http.NewRequestWithContext(waitCtx(t), http.MethodGet, srv.URL()+"/messages/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /messages/%s: %s %q", id, resp.Status, resp.Header.Get("Content-Type"))
	}
	return newSSEReader(resp.Body, 1<<20), resp.Header.Get(sessionHeader), func() { resp.Body.Close() }
}

func nextMessage(t *testing.T, p *sseReader) (sseEvent, Message) {
	t.Helper()
	ev, err := p.next()
	if err != nil {
		t.Fatalf("event stream: %v", err)
	}
	m, err := Decode([]byte(ev.Data), 0)
	if err != nil {
		t.Fatalf("event %+v: %v", ev, err)
	}
	if ev.Type != m.Type {
		t.Errorf("event name %q, message type %q", ev.Type, m.Type)
	}
	return ev, m
}

// The server pings each SSE client; one that answers stays, one that
// does not is dropped at the next ping (with a ping-timeout error event).
func TestSSEPingPong(t *testing.T) {
	srv := startServer(t, ServerConfig{PingInterval: 100 * time.Millisecond}) // a pong has 100 ms
	hc := httpClient(t)

	good, token, closeGood := rawSSE(t, srv, "good")
	if _, m := nextMessage(t, good); m.Type != TypeListing {
		t.Fatalf("first event %+v", m)
	}
	for i := range 5 {
		ev, m := nextMessage(t, good)
		if m.Type != TypePing || m.From != "good" || m.To != "good" || ev.ID == "" {
			t.Fatalf("event %d: %+v %+v, want a ping", i, ev, m)
		}
		pong := `{"from":"good","to":"good","type":"pong","data":` + string(m.Data) + `}`
		if st, code := post(t, hc, srv, pong, sessionHeader, token); st != 200 {
			t.Fatalf("pong: %d %s", st, code)
		}
	}
	closeGood()

	lazy, _, _ := rawSSE(t, srv, "lazy")
	nextMessage(t, lazy) // listing
	if _, m := nextMessage(t, lazy); m.Type != TypePing {
		t.Fatalf("want a ping, got %+v", m)
	}
	_, m := nextMessage(t, lazy)
	var e ErrorData
	if m.Type != TypeError || m.DecodeData(&e) != nil || e.Code != CodePingTimeout {
		t.Fatalf("want a ping-timeout error, got %+v", m)
	}
	if _, err := lazy.next(); err != io.EOF {
		t.Fatalf("stream after the drop: %v, want its end", err)
	}
	if srv.lookup("lazy") != nil {
		t.Error("lazy is still registered after the drop")
	}
	if m := srv.Metrics(); m.PingsDropped != 1 || m.PingsSent < 6 {
		t.Errorf("metrics %+v", m)
	}
}

// The SSE session answers pings itself: a client that keeps talking over
// several ping intervals is never dropped, and never sees a ping. (The
// interval leaves each pong 100 ms, ample on loopback under -race.)
func TestSSESessionAnswersPings(t *testing.T) {
	srv := startServer(t, ServerConfig{PingInterval: 100 * time.Millisecond})
	a := netClient(t, transportFor(t, "sse", srv.URL()), "a")
	b := netClient(t, transportFor(t, "ws", srv.URL()), "b")
	ctx := waitCtx(t)
	for srv.Metrics().PingsSent < 5 {
		if err := exchange(ctx, a, b, "tick", 10); err != nil {
			t.Logf("metrics %+v", srv.Metrics())
			for _, ev := range a.EventHistory() {
				t.Logf("a: %+v", ev)
			}
			for _, ev := range b.EventHistory() {
				t.Logf("b: %+v", ev)
			}
			t.Fatal(err)
		}
	}
	if m := srv.Metrics(); m.PingsDropped != 0 || m.SSEConnects != 1 {
		t.Errorf("metrics %+v: the session was dropped", m)
	}
	if a.Unhandled() != 0 {
		t.Errorf("%d pings reached the client", a.Unhandled())
	}
}

// POST /message: every refusal has its status, and the SSE session maps
// them to errors.
func TestPostStatuses(t *testing.T) {
	srv := startServer(t, ServerConfig{MaxMessageBytes: 4096})
	hc := httpClient(t)
	_, token, _ := rawSSE(t, srv, "s")
	rawWS(t, srv, "w")
	for _, tc := range []struct {
		name, body string
		header     []string
		status     int
		code       string
	}{
		{"ok, to ws", `{"from":"s","to":"w","type":"t"}`, []string{sessionHeader, token}, 200, ""},
		{"ok, reference client without token", `{"from":"s","to":"w","type":"t"}`, nil, 200, ""},
		{"indented json", "{\n  \"from\": \"s\",\n  \"to\": \"s\",\n  \"type\": \"t\"\n}", nil, 200, ""},
		{"malformed", `{"from":`, nil, 400, CodeMalformed},
		{"missing field", `{"from":"s","type":"t"}`, nil, 400, CodeMissingField},
		{"too large", `{"from":"s","to":"w","type":"t","data":"` + strings.Repeat("x", 5000) + `"}`, nil, 413, CodeTooLarge},
		{"pong from != to", `{"from":"s","to":"w","type":"pong"}`, nil, 403, CodeForged},
		{"from not registered", `{"from":"ghost","to":"w","type":"t"}`, nil, 403, CodeForged},
		{"from is a ws client", `{"from":"w","to":"s","type":"t"}`, nil, 403, CodeForged},
		{"wrong token", `{"from":"s","to":"w","type":"t"}`, []string{sessionHeader, "forged"}, 403, CodeForged},
		{"unknown recipient", `{"from":"s","to":"nobody","type":"t"}`, nil, 404, CodeUnknownRecipient},
	} {
		st, code := post(t, hc, srv, tc.body, tc.header...)
		if st != tc.status || code != tc.code {
			t.Errorf("%s: %d %q, want %d %q", tc.name, st, code, tc.status, tc.code)
		}
	}

	sess := dialSession(t, transportFor(t, "sse", srv.URL(), WithMaxMessageBytes(1<<20)), "client")
	ctx := waitCtx(t)
	for _, tc := range []struct {
		m    Message
		want error
	}{
		{msg("client", "nobody", "t", nil), ErrUnknownRecipient},
		{msg("client", "w", "t", strings.Repeat("x", 5000)), ErrTooLarge},
		{msg("client", "w", "pong", nil), ErrForged},
	} {
		if err := sess.Send(ctx, tc.m); !errors.Is(err, tc.want) {
			t.Errorf("Send %s to %s: %v, want %v", tc.m.Type, tc.m.To, err, tc.want)
		}
	}
	// The 403 ended the session: the server has no stream for it.
	if _, err := recvEnd(t, sess); !errors.Is(err, ErrNotConnected) {
		t.Errorf("after a 403: %v", err)
	}
}

// RequireSessionToken: a POST without the token is refused as forged,
// naming the header; with the stream's token it goes through, and the Go
// SSE transport, which always sends it, works against such a server.
func TestPostRequiresSessionToken(t *testing.T) {
	srv := startServer(t, ServerConfig{RequireSessionToken: true})
	hc := httpClient(t)
	_, token, _ := rawSSE(t, srv, "s")
	ws := rawWS(t, srv, "w")
	body := `{"from":"s","to":"w","type":"t"}`
	if st, code := post(t, hc, srv, body); st != 403 || code != CodeForged {
		t.Errorf("without a token: %d %q, want 403 %q", st, code, CodeForged)
	}
	if st, e := postError(t, hc, srv, body); st != 403 || !strings.Contains(e.Message, sessionHeader) {
		t.Errorf("without a token: %d %q, want 403 naming %s", st, e.Message, sessionHeader)
	}
	if st, code := post(t, hc, srv, body, sessionHeader, "forged"); st != 403 || code != CodeForged {
		t.Errorf("wrong token: %d %q, want 403 %q", st, code, CodeForged)
	}
	if st, code := post(t, hc, srv, body, sessionHeader, token); st != 200 {
		t.Errorf("with the stream's token: %d %q, want 200", st, code)
	}
	ws.SetReadDeadline(time.Now().Add(testWait))
	if _, b, err := ws.ReadMessage(); err != nil || string(b) != body {
		t.Errorf("ws got %q, %v; want %s, the one POST with the token", b, err, body)
	}
	if got := srv.Metrics().Refused[CodeForged]; got != 3 {
		t.Errorf("refused as forged: %d, want 3", got)
	}

	sess := dialSession(t, transportFor(t, "sse", srv.URL()), "client")
	if err := sess.Send(waitCtx(t), msg("client", "w", "t", nil)); err != nil {
		t.Errorf("the Go SSE transport against a server that requires the token: %v", err)
	}
}

// The SSE reader follows the event-stream format: line ends, comments,
// multi-line data, id and retry fields, undispatched empty events.
func TestSSEReaderFormat(t *testing.T) {
	in := "\xEF\xBB\xBF: a comment\r\n" +
		"id: 1\nevent: offer\ndata: {\"a\":\ndata:1}\n\n" + // multi-line data, no space after "data:"
		"data: two\r\n\r\n" + // CRLF; no event name: "message"
		"event: x\rdata: three\r\r" + // CR line ends
		"retry: 1500\n\n" + // retry alone dispatches nothing
		"retry: soon\n" + // not digits: ignored
		"id\nunknown: field\ndata\n\n" + // id with no value resets it; empty data line
		"id: a\x00b\ndata: four\n\n" + // an id holding NUL is ignored
		"data: cut"
	p := newSSEReader(strings.NewReader(in), 100)
	want := []sseEvent{
		{ID: "1", Type: "offer", Data: "{\"a\":\n1}"},
		{ID: "1", Type: "message", Data: "two"},
		{ID: "1", Type: "x", Data: "three"},
		{ID: "", Type: "message", Data: ""},
		{ID: "", Type: "message", Data: "four"},
	}
	for i, w := range want {
		ev, err := p.next()
		if err != nil || ev != w {
			t.Fatalf("event %d: %+v, %v; want %+v", i, ev, err, w)
		}
	}
	if _, err := p.next(); err != io.ErrUnexpectedEOF {
		t.Errorf("a cut last line: %v, want an unexpected EOF", err)
	}
	if !p.retrySet || p.retry != 1500*time.Millisecond {
		t.Errorf("retry %v (set %v), want 1.5s", p.retry, p.retrySet)
	}
	long := newSSEReader(strings.NewReader("data: "+strings.Repeat("x", 200)+"\n\n"), 100)
	if _, err := long.next(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a 200-byte line with limit 100: %v", err)
	}
}
