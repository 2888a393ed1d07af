package signaling

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// testWait bounds every wait in these tests: they wait on events, and a
// missing event fails the test instead of hanging it.
const testWait = 10 * time.Second

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

// relayedAtLeast returns the server's metrics once Relayed reaches n, or
// as they are at testWait. A message is counted after its write returns,
// so the recipient can hold it, and the test read the metrics, a moment
// before the counter moves. Callers still check Relayed == n: waiting for
// at least n hides no excess.
func relayedAtLeast(t *testing.T, srv *Server, n int64) Metrics {
	t.Helper()
	ctx := waitCtx(t)
	for {
		m := srv.Metrics()
		if m.Relayed >= n || ctx.Err() != nil {
			return m
		}
		time.Sleep(time.Millisecond) // polling a counter: no event to wait on; bounded by ctx
	}
}

// startServer starts a server on 127.0.0.1:0 and closes it at cleanup.
func startServer(t testing.TB, cfg ServerConfig) *Server {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// transportFor returns the server's transport of kind "ws" or "sse".
func transportFor(t testing.TB, kind, url string, opts ...RemoteOption) Transport {
	t.Helper()
	var tr Transport
	var err error
	switch kind {
	case "ws":
		tr, err = NewWSTransport(url, opts...)
	case "sse":
		tr, err = NewSSETransport(url, opts...)
	default:
		t.Fatalf("no transport %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// dialSession dials id on the transport and closes the session at
// cleanup.
func dialSession(t testing.TB, tr Transport, id string) Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	s, err := tr.Dial(ctx, id)
	if err != nil {
		t.Fatalf("%s dial %q: %v", tr.Name(), id, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// netClient starts a Client on tr and waits until it is connected.
func netClient(t testing.TB, tr Transport, id string, opts ...func(*ClientConfig)) *Client {
	t.Helper()
	cfg := ClientConfig{ID: id, Transport: tr, Backoff: Backoff{Min: 10 * time.Millisecond, Max: 200 * time.Millisecond}}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// recvSkipping returns the next message that is not the server's
// listing.
func recvSkipping(ctx context.Context, s Session) (Message, error) {
	for {
		m, err := s.Recv(ctx)
		if err != nil || m.Type != TypeListing {
			return m, err
		}
	}
}

// recvEnd reads s until it ends and returns the messages and the end.
func recvEnd(t *testing.T, s Session) ([]Message, error) {
	t.Helper()
	ctx := waitCtx(t)
	var got []Message
	for {
		m, err := s.Recv(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("session did not end: %v", err)
			}
			return got, err
		}
		got = append(got, m)
	}
}

// httpClient is a loopback HTTP client whose connections are closed at
// cleanup (goleak).
func httpClient(t testing.TB) *http.Client {
	tr := &http.Transport{DialContext: loopbackDialer(time.Second, false).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: testWait}
}

// post sends body to POST /message and returns the status and the
// ErrorData code of the answer.
func post(t testing.TB, hc *http.Client, srv *Server, body string, header ...string) (int, string) {
	t.Helper()
	status, e := postError(t, hc, srv, body, header...)
	return status, e.Code
}

// postError is post with the whole error body.
func postError(t testing.TB, hc *http.Client, srv *Server, body string, header ...string) (int, ErrorData) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL()+"/message", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	e, _ := readErrorBody(resp)
	return resp.StatusCode, e
}

// rawWS dials ws://.../<id> with a bare gorilla client (no transport
// logic), and reads the listing.
func rawWS(t testing.TB, srv *Server, id string) *websocket.Conn {
	t.Helper()
	return rawWSWith(t, srv, id, websocket.Dialer{})
}

// rawWSWith is rawWS with the dialer's buffer sizes: gorilla splits a
// message into frames of WriteBufferSize, where a browser sends one.
func rawWSWith(t testing.TB, srv *Server, id string, d websocket.Dialer) *websocket.Conn {
	t.Helper()
	d.NetDialContext, d.HandshakeTimeout = loopbackDialer(time.Second, false).DialContext, testWait
	c, _, err := d.Dial("ws://"+srv.Addr()+"/"+id, nil)
	if err != nil {
		t.Fatalf("raw ws %q: %v", id, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(testWait))
	if _, b, err := c.ReadMessage(); err != nil || !strings.Contains(string(b), `"type":"listing"`) {
		t.Fatalf("raw ws %q: first message %q, %v; want the listing", id, b, err)
	}
	return c
}

// rawWSRefusal reads what the server sends after a bad message: the
// TypeError message's code and the close frame.
func rawWSRefusal(c *websocket.Conn) (code string, closeCode int, err error) {
	e, ce, err := rawWSRefusalDetail(c)
	if ce == nil {
		return e.Code, 0, err
	}
	return e.Code, ce.Code, err
}

// rawWSRefusalDetail is rawWSRefusal with the texts: the TypeError's data
// and the close frame.
func rawWSRefusalDetail(c *websocket.Conn) (ErrorData, *websocket.CloseError, error) {
	c.SetReadDeadline(time.Now().Add(testWait))
	_, b, err := c.ReadMessage()
	if err != nil {
		return ErrorData{}, nil, fmt.Errorf("want a TypeError message first: %w", err)
	}
	m, err := Decode(b, 0)
	if err != nil {
		return ErrorData{}, nil, err
	}
	var e ErrorData
	if m.Type != TypeError || m.DecodeData(&e) != nil {
		return ErrorData{}, nil, fmt.Errorf("want a TypeError message, got %s", b)
	}
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		return e, nil, fmt.Errorf("want a close frame, got %v", err)
	}
	return e, ce, nil
}

func msg(from, to, typ string, data any) Message {
	m, err := NewMessage(from, to, typ, data)
	if err != nil {
		panic(err)
	}
	return m
}
