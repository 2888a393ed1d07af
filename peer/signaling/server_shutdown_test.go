package signaling

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A graceful shutdown tells every client when to come back: the WebSocket
// and SSE sessions end with a *RetryError carrying the advertised delay,
// and while the server drains, a new dial or request gets 503 with
// Retry-After (whole seconds).
func TestGracefulShutdownGivesRetry(t *testing.T) {
	// A long CloseGrace and a client that never answers the close frame
	// keep the server draining until the test lets it go.
	srv := startServer(t, ServerConfig{CloseGrace: time.Minute})
	wsSess := dialSession(t, transportFor(t, "ws", srv.URL()), "ws-client")
	sseSess := dialSession(t, transportFor(t, "sse", srv.URL()), "sse-client")
	stubborn := rawWS(t, srv, "stubborn")
	closeFrame := make(chan *websocket.CloseError, 1)
	stubborn.SetCloseHandler(func(code int, text string) error { return nil }) // no reply
	go func() {
		for {
			if _, _, err := stubborn.ReadMessage(); err != nil {
				var ce *websocket.CloseError
				errors.As(err, &ce)
				closeFrame <- ce
				return
			}
		}
	}()

	const delay = 1500 * time.Millisecond
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(waitCtx(t), delay) }()

	for _, s := range []Session{wsSess, sseSess} {
		_, err := recvEnd(t, s)
		var re *RetryError
		if !errors.As(err, &re) || re.After != delay || !errors.Is(err, ErrNotConnected) {
			t.Errorf("session end %v, want a RetryError after %v", err, delay)
		}
	}
	select {
	case ce := <-closeFrame:
		if ce == nil || ce.Code != websocket.CloseServiceRestart || !strings.Contains(ce.Text, "retry after 1.5s") {
			t.Errorf("close frame %+v, want 1012 with the delay", ce)
		}
	case <-waitCtx(t).Done():
		t.Fatal("no close frame")
	}

	for _, kind := range []string{"ws", "sse"} {
		_, err := transportFor(t, kind, srv.URL()).Dial(waitCtx(t), "late-"+kind)
		var re *RetryError
		if !errors.As(err, &re) || re.After != 2*time.Second {
			t.Errorf("%s dial while draining: %v, want a RetryError after 2s", kind, err)
		}
	}
	resp, err := httpClient(t).Get(srv.URL() + "/listing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("GET /listing while draining: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}

	stubborn.Close()
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if m := srv.Metrics(); m.Refused[ReasonShuttingDown] != 3 || m.WSClients+m.SSEClients != 0 {
		t.Errorf("metrics %+v", m)
	}
}

// Shutdown cuts what is still connected when its context ends.
func TestShutdownCutsAtDeadline(t *testing.T) {
	srv := startServer(t, ServerConfig{CloseGrace: time.Minute})
	stubborn := rawWS(t, srv, "stubborn")
	stubborn.SetCloseHandler(func(int, string) error { return nil })
	go func() {
		for {
			if _, _, err := stubborn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx, time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want the deadline", err)
	}
}

// waitReconnected pops events until the client is connected again after
// being disconnected, and returns the disconnection.
func waitReconnected(t *testing.T, events interface {
	Pop(context.Context) (ClientEvent, error)
}) ClientEvent {
	t.Helper()
	ctx := waitCtx(t)
	var down *ClientEvent
	for {
		ev, err := events.Pop(ctx)
		if err != nil {
			t.Fatalf("no reconnection (down: %+v): %v", down, err)
		}
		if ev.Type != EventState {
			continue
		}
		if ev.State == StateDisconnected && down == nil {
			down = &ev
		}
		if ev.State == StateConnected && down != nil {
			return *down
		}
	}
}

// A server restarts at the same address: a WebSocket and an SSE client
// wait the advertised delay, re-register on the new server, and messages
// flow again.
func TestServerRestart(t *testing.T) {
	srv1 := startServer(t, ServerConfig{Version: "1"})
	addr := srv1.Addr()
	a := netClient(t, transportFor(t, "ws", srv1.URL()), "a")
	b := netClient(t, transportFor(t, "sse", srv1.URL()), "b")
	if err := exchange(waitCtx(t), a, b, "before", 10); err != nil {
		t.Fatal(err)
	}
	aEvents, bEvents := a.Events(), b.Events()

	const delay = 100 * time.Millisecond
	if err := srv1.Shutdown(waitCtx(t), delay); err != nil {
		t.Fatal(err)
	}
	srv2 := startServer(t, ServerConfig{Addr: addr, Version: "2"})
	for _, w := range []struct {
		name   string
		events interface {
			Pop(context.Context) (ClientEvent, error)
		}
	}{{"a", aEvents}, {"b", bEvents}} {
		down := waitReconnected(t, w.events)
		var re *RetryError
		if !errors.As(down.Err, &re) || re.After != delay || down.RetryIn != delay {
			t.Errorf("%s went down with %v, retry in %v; want a RetryError after %v", w.name, down.Err, down.RetryIn, delay)
		}
	}
	if err := exchange(waitCtx(t), a, b, "after", 10); err != nil {
		t.Fatal(err)
	}
	if a.Listing().Version != "2" || b.Listing().Version != "2" {
		t.Error("a client kept the old server's listing")
	}
	if m := relayedAtLeast(t, srv2, 20); m.WSConnects != 1 || m.SSEConnects != 1 || m.Relayed != 20 {
		t.Errorf("new server metrics %+v", m)
	}
}

// Close says nothing of retrying: sessions end with ErrNotConnected, not
// a RetryError, and the Client falls back on its backoff.
func TestCloseEndsSessionsWithoutRetry(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	sessions := []Session{
		dialSession(t, transportFor(t, "ws", srv.URL()), "a"),
		dialSession(t, transportFor(t, "sse", srv.URL()), "b"),
	}
	srv.Close()
	for _, s := range sessions {
		_, err := recvEnd(t, s)
		var re *RetryError
		if !errors.Is(err, ErrNotConnected) || errors.As(err, &re) || errors.Is(err, ErrRejected) {
			t.Errorf("session end %v, want ErrNotConnected alone", err)
		}
		if err := s.Send(waitCtx(t), msg("a", "b", "t", nil)); !errors.Is(err, ErrNotConnected) {
			t.Errorf("Send after the end: %v", err)
		}
	}
}
