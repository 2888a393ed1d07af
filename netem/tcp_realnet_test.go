package netem

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Tests over real loopback sockets: what only a kernel shows (RST,
// half-close, bulk integrity). They assert no timing but lower bounds that
// physics guarantees.

// tcpStartEcho runs a TCP echo server on 127.0.0.1 that half-closes after
// echoing; stop closes it and waits for its goroutines.
func tcpStartEcho(t testing.TB) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			})
		}
	})
	return ln.Addr().String(), func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}

func newTCPRealProxy(t *testing.T, upstream, profile string) *TCPProxy {
	t.Helper()
	var p *Profile
	if profile != "" {
		p = tcpProfile(t, profile)
	}
	sh, err := New(Config{Name: "signaling", Profile: p, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	px, err := NewTCPProxy(TCPProxyConfig{Upstream: upstream, Shaper: sh})
	if err != nil {
		t.Fatal(err)
	}
	return px
}

func tcpDialProxy(t *testing.T, px *TCPProxy) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", px.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// A deadline so that a bug fails the test instead of hanging it.
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c.(*net.TCPConn)
}

func TestTCPProxyIntegrityRealTCP(t *testing.T) {
	defer goleak.VerifyNone(t)
	addr, stop := tcpStartEcho(t)
	defer stop()
	px := newTCPRealProxy(t, addr, `
delay: {time: 2ms, jitter: 1ms}
tcp: {slicer: {average_size: 1500, size_variation: 500}}
`)
	defer px.Close()
	c := tcpDialProxy(t, px)
	defer c.Close()
	const size = 1 << 20
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	got, err := tcpReadErr(c)
	if err != io.EOF || !bytes.Equal(got, data) {
		t.Errorf("echo: %d bytes then %v; want %d identical bytes then EOF", len(got), err, size)
	}
	if err := <-werr; err != nil {
		t.Errorf("write: %v", err)
	}
	lu := px.Shaper().Ledger(Up)
	if lu.Counters.Bytes != size || lu.Counters.Dropped != 0 {
		t.Errorf("up ledger %+v: want %d bytes, none dropped", lu.Counters, size)
	}
}

func TestTCPProxyResetRealTCP(t *testing.T) {
	defer goleak.VerifyNone(t)
	addr, stop := tcpStartEcho(t)
	defer stop()
	t.Run("reset_peer", func(t *testing.T) {
		px := newTCPRealProxy(t, addr, "tcp: {reset_peer: 50ms}\n")
		defer px.Close()
		start := time.Now()
		c := tcpDialProxy(t, px)
		defer c.Close()
		_, err := tcpReadErr(c)
		if !errors.Is(err, syscall.ECONNRESET) || !strings.Contains(err.Error(), "connection reset by peer") {
			t.Errorf("read: %v, want connection reset by peer", err)
		}
		// A lower bound only: the reset cannot come before it is due.
		if el := time.Since(start); el < 50*time.Millisecond {
			t.Errorf("reset after %v, before the 50ms reset_peer", el)
		}
	})
	t.Run("ResetAll", func(t *testing.T) {
		px := newTCPRealProxy(t, addr, "")
		defer px.Close()
		c := tcpDialProxy(t, px)
		defer c.Close()
		tcpWrite(t, c, []byte("hi"))
		if got, err := tcpReadN(c, 2); err != nil || string(got) != "hi" {
			t.Fatalf("echo %q, %v", got, err)
		}
		px.ResetAll()
		if _, err := tcpReadErr(c); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("read after ResetAll: %v, want ECONNRESET", err)
		}
	})
}

func TestTCPProxyCloseRealTCP(t *testing.T) {
	defer goleak.VerifyNone(t)
	addr, stop := tcpStartEcho(t)
	defer stop()
	px := newTCPRealProxy(t, addr, "delay: 1s\n")
	c1 := tcpDialProxy(t, px)
	defer c1.Close()
	c2 := tcpDialProxy(t, px)
	defer c2.Close()
	tcpWrite(t, c1, make([]byte, 100<<10)) // in flight when Close comes
	if err := px.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := px.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for i, c := range []net.Conn{c1, c2} {
		if got, err := tcpReadErr(c); len(got) != 0 || err == nil || errors.Is(err, syscall.ETIMEDOUT) {
			t.Errorf("conn %d after Close: %d bytes, %v; want closed", i, len(got), err)
		}
	}
	if _, err := net.Dial("tcp", px.Addr().String()); err == nil {
		t.Errorf("dial after Close succeeded")
	}
}

func TestTCPProxyConfig(t *testing.T) {
	defer goleak.VerifyNone(t)
	sh, err := New(Config{Name: "signaling"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  TCPProxyConfig
		opts []TCPProxyOption
		want error
	}{
		{"no shaper", TCPProxyConfig{Upstream: "127.0.0.1:1"}, nil, ErrBadConfig},
		{"no upstream", TCPProxyConfig{Shaper: sh}, nil, ErrBadConfig},
		{"upstream without port", TCPProxyConfig{Upstream: "127.0.0.1", Shaper: sh}, nil, ErrBadConfig},
		{"listen on every interface", TCPProxyConfig{Listen: "0.0.0.0:0", Upstream: "127.0.0.1:1", Shaper: sh}, nil, ErrNotLoopback},
		{"listen on a host name", TCPProxyConfig{Listen: "example.com:0", Upstream: "127.0.0.1:1", Shaper: sh}, nil, ErrNotLoopback},
		{"remote upstream", TCPProxyConfig{Upstream: "192.0.2.1:443", Shaper: sh}, nil, ErrNotLoopback},
		{"nil listener", TCPProxyConfig{Upstream: "127.0.0.1:1", Shaper: sh}, []TCPProxyOption{WithTCPListener(nil)}, ErrBadConfig},
		{"nil dialer", TCPProxyConfig{Upstream: "127.0.0.1:1", Shaper: sh}, []TCPProxyOption{WithTCPDialer(nil)}, ErrBadConfig},
	} {
		px, err := NewTCPProxy(tc.cfg, tc.opts...)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if px != nil {
			px.Close()
		}
	}
	// The option allows a remote upstream (never dialed here: no client).
	px, err := NewTCPProxy(TCPProxyConfig{Upstream: "192.0.2.1:443", Shaper: sh}, WithTCPNonLoopback())
	if err != nil {
		t.Fatalf("WithTCPNonLoopback: %v", err)
	}
	if a := px.Addr().(*net.TCPAddr); !a.IP.IsLoopback() {
		t.Errorf("default listen address %v, want loopback", a)
	}
	px.Close()
}
