package signaling

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Hostile clients send malformed JSON, 1 MiB messages, forged senders and
// unknown recipients, on both transports, and connect and disconnect
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
	wg.Add(9)
	go wsBad("malformed", CodeMalformed, websocket.CloseInvalidFramePayloadData, func(string) string { return `{"from":` })
	go wsBad("huge", CodeTooLarge, websocket.CloseMessageTooBig, func(id string) string { return fmt.Sprintf(huge, id) })
	go wsBad("forged", CodeForged, websocket.ClosePolicyViolation, func(string) string {
		return `{"from":"good-ws","to":"good-sse","type":"good","data":0}`
	})
	go wsBad("unknown", CodeUnknownRecipient, CloseUnknownRecipient, func(id string) string {
		return `{"from":"` + id + `","to":"nobody","type":"t"}`
	})
	go postBad("malformed", 400, CodeMalformed, `{"from":"hostile-sse","to":"good-ws",`)
	go postBad("huge", 413, CodeTooLarge, fmt.Sprintf(huge, "hostile-sse"))
	go postBad("forged token", 403, CodeForged, `{"from":"good-sse","to":"good-ws","type":"good","data":0}`, sessionHeader, "guess")
	go postBad("forged pong", 403, CodeForged, `{"from":"good-sse","to":"good-ws","type":"pong"}`)
	go postBad("unknown", 404, CodeUnknownRecipient, `{"from":"hostile-sse","to":"nobody","type":"t"}`, sessionHeader, token)

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
		CodeMalformed:        2 * n,
		CodeTooLarge:         2 * n,
		CodeForged:           3 * n,
		CodeUnknownRecipient: 2 * n,
	}
	for code, w := range want {
		if m.Refused[code] != w {
			t.Errorf("refused %s: %d, want %d", code, m.Refused[code], w)
		}
	}
	if m.RefusedTotal() != 9*n {
		t.Errorf("refusals %v, want only those", m.Refused)
	}
	if m.WSConnects+m.SSEConnects < connects+4*n+3 {
		t.Errorf("connects %d+%d, want at least %d", m.WSConnects, m.SSEConnects, connects+4*n+3)
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
