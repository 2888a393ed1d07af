package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/netlab/netlab/peer/signaling"
)

// lockedBuffer is a stderr the server's goroutines may write to.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lineWriter is a stdout that tells, line by line, what was written.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer // guarded by mu
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line) // a partial line waits for its end
			return len(p), nil
		}
		w.lines <- strings.TrimSuffix(line, "\n")
	}
}

// netlab serve listens on the address given, prints it, serves clients,
// refuses (with --require-session-token) an SSE POST without its
// stream's token, and on SIGTERM shuts down gracefully: a connected
// client is told to retry after --retry-after, and the command exits 0.
func TestServeRunsUntilSignal(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	stdout := &lineWriter{lines: make(chan string, 16)}
	stderr := &lockedBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"serve", "--addr", "127.0.0.1:0", "--version", "test-9", "--retry-after", "250ms", "--require-session-token", "--verbose"}, stdout, stderr)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var url string
	select {
	case line := <-stdout.lines:
		m := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+) \(version test-9\)`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("first line %q", line)
		}
		url = m[1]
	case c := <-code:
		t.Fatalf("exited %d before listening: %s", c, stderr.String())
	case <-ctx.Done():
		t.Fatal("no listening line")
	}

	tr, err := signaling.NewWSTransport(url)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tr.Dial(ctx, "probe")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := s.Recv(ctx)
	var l signaling.Listing
	if err != nil || m.Type != signaling.TypeListing || m.DecodeData(&l) != nil || l.Version != "test-9" {
		t.Fatalf("listing %+v, %v", m, err)
	}

	// An SSE stream, then a POST as its id without the stream's token.
	sctx, stopSSE := context.WithCancel(ctx)
	req, _ := http.NewRequestWithContext(sctx, http.MethodGet, url+"/messages/sse-probe", nil)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if stream.StatusCode != http.StatusOK || stream.Header.Get("X-Netlab-Session") == "" {
		t.Fatalf("GET /messages/sse-probe: %s, session %q", stream.Status, stream.Header.Get("X-Netlab-Session"))
	}
	resp, err := http.Post(url+"/message", "application/json", strings.NewReader(`{"from":"sse-probe","to":"probe","type":"t"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "X-Netlab-Session") {
		t.Errorf("a POST without the token: %s %s, want 403 naming X-Netlab-Session", resp.Status, body)
	}
	stopSSE()
	stream.Body.Close()

	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, err = s.Recv(ctx)
	var re *signaling.RetryError
	if !errors.As(err, &re) || re.After != 250*time.Millisecond {
		t.Errorf("client saw %v, want a RetryError after 250ms", err)
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d: %s", c, stderr.String())
		}
	case <-ctx.Done():
		t.Fatal("serve did not stop on SIGTERM")
	}
	var rest []string
	for len(stdout.lines) > 0 {
		rest = append(rest, <-stdout.lines)
	}
	if out := strings.Join(rest, "\n"); !strings.Contains(out, "terminated: shutting down; clients retry after 250ms") || !strings.Contains(out, "1 ws + 1 sse connects") ||
		!strings.Contains(out, "1 refused (forged 1), 0 dropped for missed pongs") {
		t.Errorf("output after the signal:\n%s", out)
	}
	if log := stderr.String(); !strings.Contains(log, "registered") || !strings.Contains(log, "id=probe") {
		t.Errorf("--verbose log lacks the connection:\n%s", log)
	}
}

// Bad flags exit 2 with a message that says what was wrong.
func TestServeBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "flag provided but not defined"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--max-message-bytes", "0"}, "--max-message-bytes must be positive"},
		{[]string{"--ping-interval", "-1s"}, "--ping-interval must be positive"},
		{[]string{"--ping-interval", "soon"}, "invalid value"},
		{[]string{"--addr", "0.0.0.0:8443"}, "not loopback"},
		{[]string{"--addr", "nonsense"}, "want host:port"},
	} {
		code, _, stderr := runCLI(append([]string{"serve"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("serve %v: exit %d, %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	if code, out, _ := runCLI("serve", "-h"); code != 0 || !strings.Contains(out, "--ping-interval") {
		t.Errorf("serve -h: exit %d\n%s", code, out)
	}
	if code, out, _ := runCLI("help"); code != 0 || !strings.Contains(out, "netlab serve") {
		t.Errorf("usage does not list serve:\n%s", out)
	}
}

func TestByReason(t *testing.T) {
	for _, c := range []struct {
		m    map[string]int64
		want string
	}{
		{nil, ""},
		{map[string]int64{"malformed": 0}, ""},
		{map[string]int64{"too-large": 1, "malformed": 2, "unknown-peer": 0}, " (malformed 2, too-large 1)"},
	} {
		if got := byReason(c.m); got != c.want {
			t.Errorf("byReason(%v) = %q, want %q", c.m, got, c.want)
		}
	}
}
