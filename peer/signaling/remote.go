package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// RemoteOption configures the transports that reach a server over the
// network (NewWSTransport, NewSSETransport).
type RemoteOption func(*remoteConfig) error

type remoteConfig struct {
	allowNonLoopback bool
	dialTimeout      time.Duration
	sendTimeout      time.Duration
	maxMessageBytes  int
}

// AllowNonLoopback lets a transport reach a server that is not on
// loopback; without it both the URL and every dialed address must be.
func AllowNonLoopback() RemoteOption {
	return func(c *remoteConfig) error {
		c.allowNonLoopback = true
		return nil
	}
}

// WithDialTimeout bounds a Dial: connecting, the handshake and the
// server's first message (default 5 s).
func WithDialTimeout(d time.Duration) RemoteOption {
	return func(c *remoteConfig) error {
		if d <= 0 {
			return fmt.Errorf("signaling: dial timeout must be positive, got %v", d)
		}
		c.dialTimeout = d
		return nil
	}
}

// WithSendTimeout bounds a Send whose context has no earlier deadline
// (default 10 s).
func WithSendTimeout(d time.Duration) RemoteOption {
	return func(c *remoteConfig) error {
		if d <= 0 {
			return fmt.Errorf("signaling: send timeout must be positive, got %v", d)
		}
		c.sendTimeout = d
		return nil
	}
}

// WithMaxMessageBytes is the server's message limit as the client
// assumes it (default DefaultMaxMessageBytes): Send refuses a larger
// message with ErrTooLarge before it goes out. Incoming messages may be
// up to 4 times that, or 1 MiB.
func WithMaxMessageBytes(n int) RemoteOption {
	return func(c *remoteConfig) error {
		if n <= 0 {
			return fmt.Errorf("signaling: max message bytes must be positive, got %d", n)
		}
		c.maxMessageBytes = n
		return nil
	}
}

func newRemoteConfig(opts []RemoteOption) (remoteConfig, error) {
	c := remoteConfig{dialTimeout: 5 * time.Second, sendTimeout: 10 * time.Second, maxMessageBytes: DefaultMaxMessageBytes}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (c remoteConfig) recvLimit() int { return max(4*c.maxMessageBytes, 1<<20) }

// sendDeadline is when a send started now must be done.
func (c remoteConfig) sendDeadline(d time.Time, ok bool) time.Time {
	t := time.Now().Add(c.sendTimeout)
	if ok && d.Before(t) {
		return d
	}
	return t
}

// parseBaseURL checks a server base URL (http, https, ws or wss; no
// query or fragment) and, unless allow, that its host is loopback.
func parseBaseURL(raw string, allow bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("signaling: server URL %q: %v", raw, err)
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return nil, fmt.Errorf("signaling: server URL %q: want scheme http, https, ws or wss, got %q", raw, u.Scheme)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("signaling: server URL %q: want scheme://host:port[/path], no user, query or fragment", raw)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "ws": "80", "https": "443", "wss": "443"}[u.Scheme]
	}
	if err := checkLoopbackHostPort("server URL", net.JoinHostPort(u.Hostname(), port), allow); err != nil {
		return nil, err
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// withScheme returns u under the web (http) or WebSocket (ws) scheme
// family, keeping TLS or not, with path appended.
func withScheme(u *url.URL, ws bool, path string) string {
	v := *u
	tls := u.Scheme == "https" || u.Scheme == "wss"
	switch {
	case ws && tls:
		v.Scheme = "wss"
	case ws:
		v.Scheme = "ws"
	case tls:
		v.Scheme = "https"
	default:
		v.Scheme = "http"
	}
	return v.String() + path
}

// dialError is how a refused or failed dial is reported: a *RetryError
// for a 503, ErrRejected for a 4xx (the server will not take this id as
// is), ErrNotConnected otherwise (the Client retries with backoff).
func dialError(transport, target string, resp *http.Response, err error) error {
	if resp != nil {
		status, text := readErrorBody(resp)
		switch {
		case resp.StatusCode == http.StatusServiceUnavailable:
			return &RetryError{After: retryAfterHeader(resp.Header), Reason: fmt.Sprintf("%s %s: %s", transport, target, text)}
		case status.Code == ReasonBadID:
			return fmt.Errorf("%w: %w: %s %s: %s", ErrRejected, ErrBadID, transport, target, text)
		case resp.StatusCode >= 400 && resp.StatusCode < 500:
			return fmt.Errorf("%w: %s %s: %s: %s", ErrRejected, transport, target, resp.Status, text)
		}
		return fmt.Errorf("%w: %s %s: %s: %s", ErrNotConnected, transport, target, resp.Status, text)
	}
	if errors.Is(err, ErrNotLoopback) {
		return fmt.Errorf("signaling: %s %s: %w", transport, target, err)
	}
	return fmt.Errorf("%w: %s %s: %v", ErrNotConnected, transport, target, err)
}

// readErrorBody reads the server's ErrorData (or whatever text came).
func readErrorBody(resp *http.Response) (ErrorData, string) {
	if resp.Body == nil {
		return ErrorData{}, resp.Status
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var e ErrorData
	if json.Unmarshal(b, &e) == nil && e.Code != "" {
		return e, e.Code + ": " + e.Message
	}
	return ErrorData{}, strings.TrimSpace(string(b))
}

// retryAfterHeader reads Retry-After in seconds (an HTTP date is not
// worth a lab's while: 0, and the Client uses its backoff).
func retryAfterHeader(h http.Header) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After")))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// encodeForSend is the common first half of a session's Send: the context
// and the session still live, the message encoded and within the limit.
func encodeForSend(ctx context.Context, ended <-chan struct{}, endErr func() error, m Message, maxBytes int) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-ended:
		return nil, endErr()
	default:
	}
	b, err := m.Encode()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(b) > maxBytes {
		return nil, fmt.Errorf("%w: %s to %q: %d bytes, limit %d", ErrTooLarge, m.Type, m.To, len(b), maxBytes)
	}
	return b, nil
}
