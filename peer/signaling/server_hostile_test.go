package signaling

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Hostile clients send malformed JSON, 1 MiB messages, forged senders
// (plain, and hidden in a key of another case that encoding/json would
// take), recipients hidden the same way, invalid UTF-8 and unknown
// recipients, on both transports, and connect and disconnect
// 1,000 times, while a WebSocket client and an SSE client exchange 2,000
// messages each way: the good pair loses nothing and sees no error, each
// refusal is counted by reason, and nothing is left running (goleak).
func TestHostileInputLeavesGoodClientsAlone(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	goodWS := netClient(t, transportFor(t, "ws", srv.URL()), "good-ws")
	goodSSE := netClient(t, transportFor(t, "sse", srv.URL()), "good-sse")
	ctx := waitCtx(t)
	good := make(chan error, 1)
	go func() { good <- exchange(ctx, goodWS, goodSSE, "good", 2000) }()

	const n = 10 // of each kind of bad message
	huge := `{"from":"%s","to":"good-ws","type":"t","data":"` + strings.Repeat("x", 1<<20) + `"}`
	hc := httpClient(t)
	_, token, _ := rawSSE(t, srv, "hostile-sse") // the hostile POSTs' own stream

	var wg sync.WaitGroup
	var mu sync.Mutex
	var problems []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	wsBad := func(kind string, code string, closeCode int, payload func(id string) string) {
		defer wg.Done()
		for i := range n {
			id := fmt.Sprintf("hostile-%s-%d", kind, i)
			c := rawWS(t, srv, id)
			if err := c.WriteMessage(websocket.TextMessage, []byte(payload(id))); err != nil {
				fail("%s: write: %v", id, err)
				continue
			}
			got, gotClose, err := rawWSRefusal(c)
			if err != nil || got != code || gotClose != closeCode {
				fail("%s: %q close %d (%v), want %q close %d", id, got, gotClose, err, code, closeCode)
			}
			c.Close()
		}
	}
	postBad := func(kind string, status int, code string, body string, header ...string) {
		defer wg.Done()
		for range n {
			if st, got := post(t, hc, srv, body, header...); st != status || got != code {
				fail("POST %s: %d %q, want %d %q", kind, st, got, status, code)
			}
		}
	}
	wg.Add(14)
	go wsBad("malformed", CodeMalformed, websocket.CloseInvalidFramePayloadData, func(string) string { return `{"from":` })
	go wsBad("huge", CodeTooLarge, websocket.CloseMessageTooBig, func(id string) string { return fmt.Sprintf(huge, id) })
	go wsBad("forged", CodeForged, websocket.ClosePolicyViolation, func(string) string {
		return `{"from":"good-ws","to":"good-sse","type":"good","data":0}`
	})
	go wsBad("unknown", CodeUnknownRecipient, CloseUnknownRecipient, func(id string) string {
		return `{"from":"` + id + `","to":"nobody","type":"t"}`
	})
	go wsBad("case-from", CodeMalformed, websocket.CloseInvalidFramePayloadData, func(id string) string {
		return `{"from":"good-ws","From":"` + id + `","to":"good-sse","type":"good","data":0}`
	})
	go wsBad("case-to", CodeMalformed, websocket.CloseInvalidFramePayloadData, func(id string) string {
		return `{"from":"` + id + `","to":"nobody","TO":"good-sse","type":"good","data":0}`
	})
	go wsBad("utf8", CodeMalformed, websocket.CloseInvalidFramePayloadData, func(id string) string {
		return `{"from":"` + id + `","to":"good-ws","type":"good","data":"` + "\xff" + `"}`
	})
	go postBad("malformed", 400, CodeMalformed, `{"from":"hostile-sse","to":"good-ws",`)
	go postBad("huge", 413, CodeTooLarge, fmt.Sprintf(huge, "hostile-sse"))
	go postBad("forged token", 403, CodeForged, `{"from":"good-sse","to":"good-ws","type":"good","data":0}`, sessionHeader, "guess")
	go postBad("forged pong", 403, CodeForged, `{"from":"good-sse","to":"good-ws","type":"pong"}`)
	go postBad("unknown", 404, CodeUnknownRecipient, `{"from":"hostile-sse","to":"nobody","type":"t"}`, sessionHeader, token)
	go postBad("case-from", 400, CodeMalformed, `{"from":"good-sse","From":"hostile-sse","to":"good-ws","type":"good","data":0}`, sessionHeader, token)
	go postBad("utf8", 400, CodeMalformed, `{"from":"hostile-sse","to":"good-ws","type":"good","data":"`+"\xff"+`"}`, sessionHeader, token)

	// 1,000 connections that come and go: bare sockets cut at once,
	// and sessions of both transports closed properly.
	churn := func(from, to int) {
		defer wg.Done()
		wsTr := transportFor(t, "ws", srv.URL())
		sseTr := transportFor(t, "sse", srv.URL())
		d := websocket.Dialer{NetDialContext: loopbackDialer(time.Second, false).DialContext}
		for i := from; i < to; i++ {
			id := fmt.Sprintf("churn-%d", i)
			switch i % 4 {
			case 0, 1:
				c, _, err := d.Dial("ws://"+srv.Addr()+"/"+id, nil)
				if err != nil {
					fail("%s: %v", id, err)
					continue
				}
				c.Close()
			case 2:
				s, err := wsTr.Dial(ctx, id)
				if err != nil {
					fail("%s: %v", id, err)
					continue
				}
				s.Close()
			case 3:
				s, err := sseTr.Dial(ctx, id)
				if err != nil {
					fail("%s: %v", id, err)
					continue
				}
				s.Close()
			}
		}
	}
	const churners, connects = 8, 1000
	wg.Add(churners)
	for i := range churners {
		go churn(i*connects/churners, (i+1)*connects/churners)
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}

	if err := <-good; err != nil {
		t.Fatalf("good clients: %v", err)
	}
	for _, c := range []*Client{goodWS, goodSSE} {
		for _, ev := range c.EventHistory() {
			if ev.Type == EventServerError || ev.Type == EventState && ev.State != StateConnecting && ev.State != StateConnected {
				t.Errorf("%s: %+v", c.ID(), ev)
			}
		}
		if c.Unhandled() != 0 {
			t.Errorf("%s got %d messages it did not expect (a forgery went through?)", c.ID(), c.Unhandled())
		}
	}
	m := srv.Metrics()
	want := map[string]int64{
		CodeMalformed:        7 * n,
		CodeTooLarge:         2 * n,
		CodeForged:           3 * n,
		CodeUnknownRecipient: 2 * n,
	}
	for code, w := range want {
		if m.Refused[code] != w {
			t.Errorf("refused %s: %d, want %d", code, m.Refused[code], w)
		}
	}
	if m.RefusedTotal() != 14*n {
		t.Errorf("refusals %v, want only those", m.Refused)
	}
	if m.WSConnects+m.SSEConnects < connects+7*n+3 {
		t.Errorf("connects %d+%d, want at least %d", m.WSConnects, m.SSEConnects, connects+7*n+3)
	}
	if m.Relayed < 4000 {
		t.Errorf("relayed %d, want at least the good 4,000", m.Relayed)
	}
	t.Logf("metrics: %+v", m)
}

// The server stays usable: after the storm a fresh pair still talks.
func TestServerUsableAfterBadClientGone(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	c := rawWS(t, srv, "bad")
	c.WriteMessage(websocket.BinaryMessage, []byte{0xff, 0x00})
	if code, _, err := rawWSRefusal(c); err != nil || code != CodeMalformed {
		t.Fatalf("binary garbage: %q %v", code, err)
	}
	a := netClient(t, transportFor(t, "ws", srv.URL()), "a")
	b := netClient(t, transportFor(t, "sse", srv.URL()), "b")
	if err := exchange(waitCtx(t), a, b, "x", 5); err != nil {
		t.Fatal(err)
	}
}

// A message that encoding/json and a browser's JSON.parse would read
// differently, or that is not UTF-8, is refused with a reason on both
// transports and never reaches anyone: the server forwards the sender's
// bytes as they are, so what it checked must be what the recipient reads.
func TestAmbiguousMessagesNotRelayed(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	bob := rawWS(t, srv, "bob")
	carol := rawWS(t, srv, "carol")
	_, token, _ := rawSSE(t, srv, "sally")
	hc := httpClient(t)
	for _, tc := range []struct {
		name, payload, text string // text: in the TypeError, the close reason and the 400
	}{
		// Each would pass the from check as the sender, or go to carol,
		// under encoding/json; a browser would read from mallory, or to bob.
		{"case of from", `{"from":"mallory","From":"%s","to":"bob","type":"x"}`, `key "From": fields are case-sensitive, want "from"`},
		{"duplicate from", `{"from":"mallory","\u0066rom":"%s","to":"bob","type":"x"}`, `duplicate key "from"`},
		{"case of to", `{"from":"%s","to":"bob","TO":"carol","type":"x"}`, `key "TO": fields are case-sensitive, want "to"`},
		{"duplicate to", `{"from":"%s","to":"bob","type":"x","to":"carol"}`, `duplicate key "to"`},
		// A browser fails the WebSocket of a text frame that is not UTF-8.
		{"invalid UTF-8", `{"from":"%s","to":"bob","type":"x","data":"` + "\xff" + `"}`, "invalid UTF-8 at byte offset"},
		{"not an object", `null`, "not a JSON object: got null"},
	} {
		t.Run("ws "+tc.name, func(t *testing.T) {
			alice := rawWS(t, srv, "alice")
			if err := alice.WriteMessage(websocket.TextMessage, []byte(strings.ReplaceAll(tc.payload, "%s", "alice"))); err != nil {
				t.Fatal(err)
			}
			e, ce, err := rawWSRefusalDetail(alice)
			if err != nil || e.Code != CodeMalformed || ce.Code != websocket.CloseInvalidFramePayloadData {
				t.Fatalf("refusal %+v, close %v, %v; want %s, close 1007", e, ce, err, CodeMalformed)
			}
			if !strings.Contains(e.Message, tc.text) || !strings.Contains(ce.Text, tc.text) {
				t.Errorf("error %q, close reason %q; want both to say %s", e.Message, ce.Text, tc.text)
			}
		})
		t.Run("post "+tc.name, func(t *testing.T) {
			status, e := postError(t, hc, srv, strings.ReplaceAll(tc.payload, "%s", "sally"), sessionHeader, token)
			if status != 400 || e.Code != CodeMalformed || !strings.Contains(e.Message, tc.text) {
				t.Errorf("POST: %d %+v, want 400 %s saying %s", status, e, CodeMalformed, tc.text)
			}
		})
	}
	// Delivery is in order, so if any of the above had got through, bob
	// or carol would read it before this.
	alice := rawWS(t, srv, "alice")
	for _, to := range []*websocket.Conn{bob, carol} {
		want := msg("alice", "", "after", nil)
		want.To = map[*websocket.Conn]string{bob: "bob", carol: "carol"}[to]
		b, _ := want.Encode()
		if err := alice.WriteMessage(websocket.TextMessage, b); err != nil {
			t.Fatal(err)
		}
		to.SetReadDeadline(time.Now().Add(testWait))
		if _, got, err := to.ReadMessage(); err != nil || string(got) != string(b) {
			t.Errorf("%s reads %s (%v), want %s first", want.To, got, err, b)
		}
	}
	if m := srv.Metrics(); m.Refused[CodeMalformed] != 12 || m.RefusedTotal() != 12 {
		t.Errorf("refused %v, want %s 12", m.Refused, CodeMalformed)
	}
}

// A message far over the limit (past where the server stops reading it)
// is refused like one just over it: a TypeError and close 1009, both
// saying the limit, not a bare 1009 as the WebSocket library sends. Each
// goes in one frame, as a browser sends it.
func TestWSFarOverLimitSaysWhy(t *testing.T) {
	const limit = 1024
	srv := startServer(t, ServerConfig{MaxMessageBytes: limit})
	for _, size := range []int{limit + 1, 3 * limit, 64 * limit, 1 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c := rawWSWith(t, srv, "big", websocket.Dialer{WriteBufferSize: size + 16})
			// Past wsHardReadLimit the server stops reading and drops
			// the connection, so the write may end in a reset; what the
			// server sent before is still there to read.
			if err := c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat(" ", size))); err != nil && int64(size) <= wsHardReadLimit(limit) {
				t.Fatal(err)
			}
			e, ce, err := rawWSRefusalDetail(c)
			if err != nil || e.Code != CodeTooLarge || ce.Code != websocket.CloseMessageTooBig {
				t.Fatalf("refusal %+v, close %v, %v; want %s, close 1009", e, ce, err, CodeTooLarge)
			}
			want := fmt.Sprintf("message over %d bytes", limit)
			if e.Message != want || ce.Text != CodeTooLarge+": "+want {
				t.Errorf("error %q, close reason %q; want %q", e.Message, ce.Text, want)
			}
		})
	}
	if got := srv.Metrics().Refused[CodeTooLarge]; got != 4 {
		t.Errorf("refused %s: %d, want 4", CodeTooLarge, got)
	}
}
