package netem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// Timing tests run in a synctest bubble over tcpMemNet, where time is virtual
// and exact: a 50 ms delay arrives after exactly 50 ms. Tests over real
// loopback sockets check what only a kernel shows (RST, half-close, bulk
// integrity) and assert no timing but lower bounds physics guarantees.

func tcpProfile(t testing.TB, src string) *Profile {
	t.Helper()
	p, err := ParseProfile("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const tcpMemProxyAddr, tcpMemUpstreamAddr = "127.0.0.1:7001", "127.0.0.1:7000"

// tcpMemLab is a proxy between tcpMemNet clients and a tcpMemNet upstream listener
// whose connections the test handles itself.
type tcpMemLab struct {
	t   *testing.T
	n   *tcpMemNet
	upL *tcpMemListener
	sh  *Shaper
	px  *TCPProxy
}

func newTCPMemLab(t *testing.T, profile string, opts ...Option) *tcpMemLab {
	t.Helper()
	n := newTCPMemNet()
	l := &tcpMemLab{t: t, n: n, upL: n.Listen(tcpMemUpstreamAddr)}
	var p *Profile
	if profile != "" {
		p = tcpProfile(t, profile)
	}
	sh, err := New(Config{Name: "signaling", Profile: p, Seed: 1}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	px, err := NewTCPProxy(TCPProxyConfig{Upstream: tcpMemUpstreamAddr, Shaper: sh},
		WithTCPListener(n.Listen(tcpMemProxyAddr)), WithTCPDialer(n.Dial))
	if err != nil {
		t.Fatal(err)
	}
	l.sh, l.px = sh, px
	return l
}

func (l *tcpMemLab) close() {
	l.t.Helper()
	if err := l.px.Close(); err != nil {
		l.t.Errorf("Close: %v", err)
	}
	l.upL.Close()
}

// connect opens a connection through the proxy: the client's end and the
// upstream's end.
func (l *tcpMemLab) connect() (cl, up *tcpMemConn) {
	l.t.Helper()
	c, err := l.n.Dial(context.Background(), "tcp", tcpMemProxyAddr)
	if err != nil {
		l.t.Fatal(err)
	}
	u, err := l.upL.Accept()
	if err != nil {
		l.t.Fatal(err)
	}
	return c.(*tcpMemConn), u.(*tcpMemConn)
}

func tcpWrite(t testing.TB, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// tcpReadN reads exactly n bytes.
func tcpReadN(c net.Conn, n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := io.ReadFull(c, b)
	return b, err
}

// tcpReadErr reads until an error and returns it with the bytes seen.
func tcpReadErr(c net.Conn) ([]byte, error) {
	var got []byte
	b := make([]byte, 64<<10)
	for {
		n, err := c.Read(b)
		got = append(got, b[:n]...)
		if err != nil {
			return got, err
		}
	}
}

func tcpWantAt(t *testing.T, what string, t0 time.Time, want time.Duration) {
	t.Helper()
	if got := time.Since(t0); got != want {
		t.Errorf("%s at +%v, want exactly +%v", what, got, want)
	}
}

func TestTCPProxyLatency(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		l := newTCPMemLab(t, "up: {delay: 50ms}\ndown: {delay: 30ms}\n", WithEvents(8))
		defer l.close()
		cl, up := l.connect()
		t0 := time.Now()
		tcpWrite(t, cl, []byte("ping"))
		if got, err := tcpReadN(up, 4); err != nil || string(got) != "ping" {
			t.Fatalf("upstream read %q, %v", got, err)
		}
		tcpWantAt(t, "ping (up, 50ms)", t0, 50*time.Millisecond)
		t1 := time.Now()
		tcpWrite(t, up, []byte("pong!"))
		if got, err := tcpReadN(cl, 5); err != nil || string(got) != "pong!" {
			t.Fatalf("client read %q, %v", got, err)
		}
		tcpWantAt(t, "pong (down, 30ms)", t1, 30*time.Millisecond)

		// The ledger has the signaling path's history.
		lu, ld := l.sh.Ledger(Up), l.sh.Ledger(Down)
		if lu.Counters.Packets != 1 || lu.Counters.Bytes != 4 || ld.Counters.Bytes != 5 {
			t.Errorf("ledger counters up %+v down %+v, want one chunk of 4 and 5 bytes", lu.Counters, ld.Counters)
		}
		if len(lu.Events) != 1 || lu.Events[0].Delay != 50*time.Millisecond || lu.Events[0].Phase != -1 {
			t.Errorf("up events %+v, want one with delay 50ms in the base phase", lu.Events)
		}
		cl.Close()
		up.Close()
	})
}

func TestTCPProxyBandwidth(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		// 80 kbit/s is 10,000 bytes/s: 1,000 bytes take 100 ms.
		l := newTCPMemLab(t, "rate: 80kbit\n")
		defer l.close()
		cl, up := l.connect()
		defer cl.Close()
		defer up.Close()
		t0 := time.Now()
		tcpWrite(t, cl, make([]byte, 5000))
		if _, err := tcpReadN(up, 5000); err != nil {
			t.Fatal(err)
		}
		tcpWantAt(t, "5000 bytes", t0, 500*time.Millisecond)

		// A chunk that arrives while the link is busy waits behind the
		// previous one.
		t1 := time.Now()
		tcpWrite(t, cl, make([]byte, 1000))
		time.Sleep(10 * time.Millisecond) // virtual
		tcpWrite(t, cl, make([]byte, 1000))
		if _, err := tcpReadN(up, 1000); err != nil {
			t.Fatal(err)
		}
		tcpWantAt(t, "first 1000 bytes", t1, 100*time.Millisecond)
		if _, err := tcpReadN(up, 1000); err != nil {
			t.Fatal(err)
		}
		tcpWantAt(t, "second 1000 bytes, serialised behind the first", t1, 200*time.Millisecond)
	})
}

// TestTCPProxyBacklogBounded: the bandwidth backlog is bounded in time, so
// bytes past it wait in the sender and a rate change reaches them.
func TestTCPProxyBacklogBounded(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		l := newTCPMemLab(t, "rate: 80kbit\n") // 10,000 bytes/s
		defer l.close()
		cl, up := l.connect()
		defer cl.Close()
		defer up.Close()
		t0 := time.Now()
		// Two reads' worth: the first 32 KiB take 3.2768 s at 80 kbit/s;
		// the rest is read only when the backlog is under a second.
		tcpWrite(t, cl, make([]byte, 2*tcpChunk))
		time.Sleep(time.Second) // virtual
		if err := l.sh.SetProfile(nil); err != nil {
			t.Fatal(err)
		}
		if _, err := tcpReadN(up, 2*tcpChunk); err != nil {
			t.Fatal(err)
		}
		// Without the bound the second half would follow at the old rate,
		// 6.5536 s in.
		tcpWantAt(t, "all 64 KiB, the second half at the new rate", t0, 3276800*time.Microsecond)
	})
}

type tcpSeenPiece struct {
	at   time.Duration
	size int
}

// tcpSlicedPieces sends n bytes through a slicer and returns the pieces the
// upstream saw.
func tcpSlicedPieces(t *testing.T, seed uint64, n int) []tcpSeenPiece {
	var out []tcpSeenPiece
	synctest.Test(t, func(t *testing.T) {
		l := newTCPMemLab(t, "tcp: {slicer: {average_size: 100, size_variation: 20, delay: 5ms}}\n")
		l.sh.seed = seed
		defer l.close()
		cl, up := l.connect()
		t0 := time.Now()
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i)
		}
		tcpWrite(t, cl, data)
		cl.Close()
		var got []byte
		b := make([]byte, 64<<10)
		for {
			k, err := up.Read(b)
			if k > 0 {
				out = append(out, tcpSeenPiece{time.Since(t0), k})
				got = append(got, b[:k]...)
			}
			if err != nil {
				break
			}
		}
		if !bytes.Equal(got, data) {
			t.Errorf("slicer changed the bytes")
		}
		up.Close()
	})
	return out
}

func TestTCPProxySlicer(t *testing.T) {
	defer goleak.VerifyNone(t)
	pieces := tcpSlicedPieces(t, 1, 1000)
	if len(pieces) < 1000/120 {
		t.Fatalf("%d pieces, want at least %d", len(pieces), 1000/120)
	}
	for i, p := range pieces {
		if want := time.Duration(i) * 5 * time.Millisecond; p.at != want {
			t.Errorf("piece %d at +%v, want +%v (5 ms apart)", i, p.at, want)
		}
		if p.size > 120 || (p.size < 80 && i < len(pieces)-1) {
			t.Errorf("piece %d has %d bytes, want 100 +/- 20 (only the last may be shorter)", i, p.size)
		}
	}
	again := tcpSlicedPieces(t, 1, 1000)
	if fmt.Sprint(again) != fmt.Sprint(pieces) {
		t.Errorf("same seed, different pieces:\n%v\n%v", pieces, again)
	}
	other := tcpSlicedPieces(t, 2, 1000)
	if fmt.Sprint(other) == fmt.Sprint(pieces) {
		t.Errorf("seeds 1 and 2 cut the same pieces: the slicer ignores the seed")
	}
}

func TestTCPProxySlowClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		l := newTCPMemLab(t, "tcp: {slow_close: 2s}\n")
		defer l.close()
		cl, up := l.connect()
		t0 := time.Now()
		tcpWrite(t, cl, []byte("bye"))
		cl.Close()
		if got, err := tcpReadN(up, 3); err != nil || string(got) != "bye" {
			t.Fatalf("upstream read %q, %v", got, err)
		}
		tcpWantAt(t, "data", t0, 0)
		if _, err := up.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("upstream read after the client closed: %v, want EOF", err)
		}
		tcpWantAt(t, "the close", t0, 2*time.Second)
		up.Close() // its close travels down, slowly too
		synctest.Wait()
		if n := l.px.Conns(); n != 1 {
			t.Errorf("Conns() = %d while the downstream close waits, want 1", n)
		}
		time.Sleep(2 * time.Second) // virtual
		synctest.Wait()
		if n := l.px.Conns(); n != 0 {
			t.Errorf("Conns() = %d after both closes went through, want 0", n)
		}
	})
}

func TestTCPProxyTimeout(t *testing.T) {
	defer goleak.VerifyNone(t)
	t.Run("closes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newTCPMemLab(t, "tcp: {timeout: 1s}\n")
			defer l.close()
			cl, up := l.connect()
			t0 := time.Now()
			tcpWrite(t, cl, []byte("lost"))
			got, err := tcpReadErr(up)
			if len(got) != 0 || err != io.EOF {
				t.Errorf("upstream got %q, %v; want nothing, then EOF", got, err)
			}
			tcpWantAt(t, "upstream close", t0, time.Second)
			if got, err := tcpReadErr(cl); len(got) != 0 || err != io.EOF {
				t.Errorf("client got %q, %v; want EOF", got, err)
			}
			tcpWantAt(t, "client close", t0, time.Second)
		})
	})
	t.Run("zero holds without closing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newTCPMemLab(t, "schedule:\n  - {start: 1s, duration: 1s, tcp: {timeout: 0}}\n")
			defer l.close()
			cl, up := l.connect()
			defer cl.Close()
			defer up.Close()
			t0 := time.Now()
			time.Sleep(1500 * time.Millisecond) // virtual: into the phase
			tcpWrite(t, cl, []byte("held"))
			if got, err := tcpReadN(up, 4); err != nil || string(got) != "held" {
				t.Fatalf("upstream read %q, %v", got, err)
			}
			tcpWantAt(t, "data held by timeout 0", t0, 2*time.Second)
			tcpWrite(t, cl, []byte("free"))
			if got, err := tcpReadN(up, 4); err != nil || string(got) != "free" {
				t.Fatalf("upstream read %q, %v", got, err)
			}
			tcpWantAt(t, "data after the phase", t0, 2*time.Second)
		})
	})
}

func TestTCPProxyResetPeer(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		l := newTCPMemLab(t, "tcp: {reset_peer: 500ms}\n")
		defer l.close()
		cl, up := l.connect()
		t0 := time.Now()
		// No data flows: the reset comes anyway.
		if _, err := tcpReadErr(cl); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("client read: %v, want ECONNRESET", err)
		}
		tcpWantAt(t, "client reset", t0, 500*time.Millisecond)
		if _, err := tcpReadErr(up); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("upstream read: %v, want ECONNRESET", err)
		}
		tcpWantAt(t, "upstream reset", t0, 500*time.Millisecond)
		synctest.Wait()
		if n := l.px.Conns(); n != 0 {
			t.Errorf("Conns() = %d after the reset, want 0", n)
		}
	})
}

func TestTCPProxyLimitData(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		l := newTCPMemLab(t, "up: {tcp: {limit_data: 1000}}\n")
		defer l.close()
		cl, up := l.connect()
		data := make([]byte, 1200)
		for i := range data {
			data[i] = byte(i * 7)
		}
		tcpWrite(t, cl, data[:600])
		time.Sleep(time.Millisecond) // virtual: a second chunk
		tcpWrite(t, cl, data[600:])
		got, err := tcpReadErr(up)
		if err != io.EOF || !bytes.Equal(got, data[:1000]) {
			t.Errorf("upstream got %d bytes then %v, want exactly the first 1000 then EOF", len(got), err)
		}
		if _, err := tcpReadErr(cl); err != io.EOF {
			t.Errorf("client read: %v, want EOF (the connection closed)", err)
		}
	})
}

func TestTCPProxyBlackholeHolds(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		l := newTCPMemLab(t, `
delay: 10ms
schedule:
  - {name: outage, start: 1s, duration: 2s, blackhole: true}
`)
		defer l.close()
		cl, up := l.connect()
		defer cl.Close()
		defer up.Close()
		t0 := time.Now()
		time.Sleep(500 * time.Millisecond) // virtual
		tcpWrite(t, cl, []byte("a"))
		if _, err := tcpReadN(up, 1); err != nil {
			t.Fatal(err)
		}
		tcpWantAt(t, "a (before the outage)", t0, 510*time.Millisecond)
		time.Sleep(990 * time.Millisecond) // virtual
		tcpWrite(t, cl, []byte("b"))
		time.Sleep(500 * time.Millisecond) // virtual
		tcpWrite(t, cl, []byte("c"))
		if got, err := tcpReadN(up, 2); err != nil || string(got) != "bc" {
			t.Fatalf("upstream read %q, %v; want bc", got, err)
		}
		tcpWantAt(t, "b and c (held by the outage, released in order)", t0, 3010*time.Millisecond)

		lu := l.sh.Ledger(Up)
		if lu.Counters.Dropped != 0 || lu.Counters.DeliveredBytes != 3 {
			t.Errorf("ledger %+v: want 3 bytes delivered, none dropped", lu.Counters)
		}
	})
}

func TestTCPProxyFlapHolds(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		l := newTCPMemLab(t, "flap: {period: 1s, duty: 50%}\n")
		defer l.close()
		cl, up := l.connect()
		defer cl.Close()
		defer up.Close()
		t0 := time.Now()
		time.Sleep(700 * time.Millisecond) // virtual: link down until 1s
		tcpWrite(t, cl, []byte("x"))
		if _, err := tcpReadN(up, 1); err != nil {
			t.Fatal(err)
		}
		tcpWantAt(t, "x (held in the flap's down half)", t0, time.Second)
		time.Sleep(200 * time.Millisecond) // up half
		tcpWrite(t, cl, []byte("y"))
		if _, err := tcpReadN(up, 1); err != nil {
			t.Fatal(err)
		}
		tcpWantAt(t, "y (link up)", t0, 1200*time.Millisecond)
	})
}

func TestTCPProxyPhaseResets(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		l := newTCPMemLab(t, `
schedule:
  - {name: signaling-drop, start: 2s, duration: 1s, tcp: {reset_peer: 0}}
`)
		defer l.close()
		t0 := time.Now()
		a, ua := l.connect()
		if _, err := tcpReadErr(a); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("idle connection: %v, want ECONNRESET at the phase start", err)
		}
		tcpWantAt(t, "reset of the idle connection", t0, 2*time.Second)
		ua.Close()

		time.Sleep(500 * time.Millisecond) // virtual: inside the phase
		b, ub := l.connect()
		if _, err := tcpReadErr(b); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("connection opened in the phase: %v, want ECONNRESET", err)
		}
		tcpWantAt(t, "reset of the connection opened in the phase", t0, 2500*time.Millisecond)
		ub.Close()

		time.Sleep(time.Second) // after the phase
		c, uc := l.connect()
		defer c.Close()
		defer uc.Close()
		tcpWrite(t, c, []byte("ok"))
		if got, err := tcpReadN(uc, 2); err != nil || string(got) != "ok" {
			t.Errorf("after the phase: %q, %v", got, err)
		}
		synctest.Wait()
		if n := l.px.Conns(); n != 1 {
			t.Errorf("Conns() = %d, want 1", n)
		}
	})
}

func TestTCPProxySetProfileMidStream(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		l := newTCPMemLab(t, "delay: 100ms\n")
		defer l.close()
		cl, up := l.connect()
		defer up.Close()
		t0 := time.Now()
		const chunks, size, every = 200, 100, 10 * time.Millisecond
		var want []byte
		var wg sync.WaitGroup
		wg.Go(func() {
			defer cl.Close()
			for k := range chunks {
				b := bytes.Repeat([]byte{byte(k)}, size)
				if _, err := cl.Write(b); err != nil {
					t.Errorf("write %d: %v", k, err)
					return
				}
				time.Sleep(every) // virtual time: paces the writer
			}
		})
		for k := range chunks {
			want = append(want, bytes.Repeat([]byte{byte(k)}, size)...)
		}
		// Switches between writes (which happen on multiples of 10 ms).
		switches := []struct {
			at  time.Duration
			src string
		}{{505 * time.Millisecond, "delay: 10ms\n"}, {1005 * time.Millisecond, "blackhole: true\n"}, {1505 * time.Millisecond, ""}}
		wg.Go(func() {
			for _, sw := range switches {
				time.Sleep(sw.at - time.Since(t0)) // virtual time: to the next switch
				var p *Profile
				if sw.src != "" {
					p = tcpProfile(t, sw.src)
				}
				if err := l.sh.SetProfile(p); err != nil {
					t.Error(err)
				}
			}
		})
		// Read, noting when each byte arrived.
		var got []byte
		var arrived []time.Duration
		b := make([]byte, 64<<10)
		for {
			n, err := up.Read(b)
			for range n {
				arrived = append(arrived, time.Since(t0))
			}
			got = append(got, b[:n]...)
			if err != nil {
				break
			}
		}
		wg.Wait()
		if !bytes.Equal(got, want) {
			t.Fatalf("got %d bytes, want %d byte-identical", len(got), len(want))
		}
		// Each chunk leaves when the profile in force when it was read says,
		// and never before the chunk before it.
		var last time.Duration
		for k := range chunks {
			w := time.Duration(k) * every
			var at time.Duration
			switch {
			case w < switches[0].at:
				at = w + 100*time.Millisecond
			case w < switches[1].at:
				at = w + 10*time.Millisecond
			case w < switches[2].at:
				at = switches[2].at
			default:
				at = w
			}
			last = max(last, at)
			if arrived[k*size] != last {
				t.Errorf("chunk %d (written at +%v) arrived at +%v, want +%v", k, w, arrived[k*size], last)
			}
		}
	})
}

func TestTCPProxyResetAll(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		l := newTCPMemLab(t, "delay: 10ms\n")
		defer l.close()
		a, ua := l.connect()
		b, ub := l.connect()
		synctest.Wait()
		if n := l.px.Conns(); n != 2 {
			t.Errorf("Conns() = %d, want 2", n)
		}
		l.px.ResetAll()
		for i, c := range []net.Conn{a, ua, b, ub} {
			if _, err := tcpReadErr(c); !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("end %d: %v, want ECONNRESET", i, err)
			}
		}
		synctest.Wait()
		if n := l.px.Conns(); n != 0 {
			t.Errorf("Conns() = %d after ResetAll, want 0", n)
		}
		// The proxy still accepts.
		c, uc := l.connect()
		defer c.Close()
		defer uc.Close()
		tcpWrite(t, c, []byte("again"))
		if got, err := tcpReadN(uc, 5); err != nil || string(got) != "again" {
			t.Errorf("after ResetAll: %q, %v", got, err)
		}
	})
}

func TestTCPProxyCloseWithOpenConns(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		l := newTCPMemLab(t, "blackhole: true\n")
		a, ua := l.connect()
		b, ub := l.connect()
		tcpWrite(t, a, []byte("held for ever"))
		synctest.Wait()
		l.close() // returns only once every goroutine has ended
		l.close() // idempotent
		for i, c := range []net.Conn{a, ua, b, ub} {
			if got, err := tcpReadErr(c); len(got) != 0 || err != io.EOF {
				t.Errorf("end %d: %q, %v; want EOF", i, got, err)
			}
		}
		if n := l.px.Conns(); n != 0 {
			t.Errorf("Conns() = %d after Close, want 0", n)
		}
		if _, err := l.n.Dial(context.Background(), "tcp", tcpMemProxyAddr); err == nil {
			t.Errorf("dial after Close succeeded")
		}
	})
}

func TestTCPProxyUpstreamGone(t *testing.T) {
	defer goleak.VerifyNone(t)
	t.Run("refused", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newTCPMemLab(t, "")
			defer l.close()
			l.upL.Close()
			c, err := l.n.Dial(context.Background(), "tcp", tcpMemProxyAddr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tcpReadErr(c); err != io.EOF {
				t.Errorf("client read: %v, want EOF when the upstream refuses", err)
			}
			synctest.Wait()
			if n := l.px.Conns(); n != 0 {
				t.Errorf("Conns() = %d, want 0", n)
			}
		})
	})
	t.Run("reset is passed on", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newTCPMemLab(t, "")
			defer l.close()
			c, u := l.connect()
			u.SetLinger(0)
			u.Close()
			if _, err := tcpReadErr(c); !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("client read: %v, want ECONNRESET", err)
			}
		})
	})
}

// TestTCPProxyIntegrityVirtual pushes 1 MiB each way through every
// impairment that reschedules bytes at once, including a flap and a live
// profile change, in virtual time.
func TestTCPProxyIntegrityVirtual(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		l := newTCPMemLab(t, `
delay: {time: 20ms, jitter: 15ms, distribution: pareto}
rate: 50Mbit
flap: {period: 300ms, duty: 70%}
tcp: {slicer: {average_size: 1400, size_variation: 600, delay: 100us}}
schedule:
  - {start: 1s, duration: 500ms, blackhole: true}
`)
		defer l.close()
		cl, up := l.connect()
		echoDone := make(chan error, 1)
		go func() { // the upstream echoes
			_, err := io.Copy(up, up)
			up.CloseWrite()
			echoDone <- err
		}()
		const size = 1 << 20
		data := make([]byte, size)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		go func() {
			for off := 0; off < size; off += 3000 {
				cl.Write(data[off:min(off+3000, size)])
				time.Sleep(100 * time.Microsecond) // virtual time: paces the writer
			}
			cl.CloseWrite()
		}()
		got, err := tcpReadErr(cl)
		if err != io.EOF || !bytes.Equal(got, data) {
			t.Errorf("echo: %d bytes then %v; want %d identical bytes then EOF", len(got), err, size)
		}
		if err := <-echoDone; err != nil {
			t.Errorf("upstream: %v", err)
		}
		cl.Close()
		up.Close()
	})
}

// ExampleNewTCPProxy puts 20 ms of delay each way in front of an echo
// server, and shows what the ledger recorded.
func ExampleNewTCPProxy() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()

	prof, _ := ParseProfile("signaling.yaml", []byte("delay: 20ms\n"))
	sh, _ := New(Config{Name: "signaling", Profile: prof, Seed: 1})
	px, err := NewTCPProxy(TCPProxyConfig{Upstream: ln.Addr().String(), Shaper: sh})
	if err != nil {
		panic(err)
	}
	defer px.Close()

	c, err := net.Dial("tcp", px.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	start := time.Now()
	c.Write([]byte("offer"))
	buf := make([]byte, 5)
	io.ReadFull(c, buf)
	fmt.Println(string(buf), time.Since(start) >= 40*time.Millisecond)
	up := sh.Ledger(Up)
	fmt.Println(up.Direction, up.Counters.Packets, up.Counters.Bytes)
	// Output:
	// offer true
	// up 1 5
}
