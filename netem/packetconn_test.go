package netem

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// memConn is one end of an in-memory packet pipe: WriteTo hands a copy to
// the peer at once. Unlike a real socket it blocks durably, so it works in
// a synctest bubble.
type memConn struct {
	addr     *net.UDPAddr
	peer     *memConn
	in       chan memPacket
	done     chan struct{}
	once     sync.Once
	overflow atomic.Uint64
}

type memPacket struct {
	data []byte
	from net.Addr
}

// memPair returns two connected ends with documentation addresses (RFC
// 5737): nothing here touches a real network.
func memPair() (*memConn, *memConn) { return memPairN(1 << 16) }

// memPairN is memPair with room for n packets each way.
func memPairN(n int) (*memConn, *memConn) {
	a := &memConn{addr: &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1000}, in: make(chan memPacket, n), done: make(chan struct{})}
	b := &memConn{addr: &net.UDPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 2000}, in: make(chan memPacket, n), done: make(chan struct{})}
	a.peer, b.peer = b, a
	return a, b
}

func (c *memConn) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case m := <-c.in:
		return copy(p, m.data), m.from, nil
	case <-c.done:
		return 0, nil, net.ErrClosed
	}
}

func (c *memConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	if addr == nil {
		return 0, errors.New("memConn: missing address")
	}
	select {
	case c.peer.in <- memPacket{data: bytes.Clone(p), from: c.addr}:
	default:
		c.peer.overflow.Add(1)
	}
	return len(p), nil
}

func (c *memConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

func (c *memConn) LocalAddr() net.Addr              { return c.addr }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// pcShaper makes a shaper from a YAML profile ("" is a perfect link).
func pcShaper(t testing.TB, name, yaml string, opts ...Option) *Shaper {
	t.Helper()
	var p *Profile
	if yaml != "" {
		var err error
		if p, err = ParseProfile(name+".yaml", []byte(yaml)); err != nil {
			t.Fatalf("profile %q: %v", yaml, err)
		}
	}
	sh, err := New(Config{Name: name, Profile: p, Seed: 42}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

func pcSetProfile(t testing.TB, sh *Shaper, yaml string) {
	t.Helper()
	var p *Profile
	if yaml != "" {
		var err error
		if p, err = ParseProfile("switch.yaml", []byte(yaml)); err != nil {
			t.Fatalf("profile %q: %v", yaml, err)
		}
	}
	if err := sh.SetProfile(p); err != nil {
		t.Fatal(err)
	}
}

func pcWrap(t testing.TB, pc net.PacketConn, sh *Shaper, opts ...PacketConnOption) *PacketConn {
	t.Helper()
	c, err := WrapPacketConn(pc, sh, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPacketConnDelayIsExactInVirtualTime(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		ra, rb := memPair()
		a := pcWrap(t, ra, pcShaper(t, "a", "up: {delay: 50ms}\ndown: {delay: 30ms}"))
		defer a.Close()
		defer rb.Close()

		start := time.Now()
		if n, err := a.WriteTo([]byte("ping"), rb.addr); n != 4 || err != nil {
			t.Fatalf("WriteTo = %d, %v", n, err)
		}
		buf := make([]byte, 64)
		n, from, err := rb.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "ping" {
			t.Fatalf("peer read %q, %v", buf[:n], err)
		}
		if got := time.Since(start); got != 50*time.Millisecond {
			t.Errorf("uplink took %v, want exactly 50ms", got)
		}
		if _, err := rb.WriteTo([]byte("pong"), from); err != nil {
			t.Fatal(err)
		}
		n, from, err = a.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "pong" || from.String() != rb.addr.String() {
			t.Fatalf("ReadFrom = %q from %v, %v", buf[:n], from, err)
		}
		if got := time.Since(start); got != 80*time.Millisecond {
			t.Errorf("round trip took %v, want exactly 80ms", got)
		}
	})
}

func TestPacketConnCallerMayReuseBuffer(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		ra, rb := memPair()
		a := pcWrap(t, ra, pcShaper(t, "a", "delay: 10ms"))
		defer a.Close()
		defer rb.Close()
		buf := []byte("first")
		a.WriteTo(buf, rb.addr)
		copy(buf, "XXXXX") // reused before the delayed write goes out
		got := make([]byte, 16)
		n, _, _ := rb.ReadFrom(got)
		if string(got[:n]) != "first" {
			t.Errorf("peer got %q, want %q: the delayed write must send a copy", got[:n], "first")
		}
	})
}

func TestPacketConnLoopbackPassthrough(t *testing.T) {
	defer goleak.VerifyNone(t)
	raw, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	sh := pcShaper(t, "a", "")
	a := pcWrap(t, raw, sh)
	defer a.Close()
	if a.LocalAddr().String() != raw.LocalAddr().String() {
		t.Errorf("LocalAddr = %v, want %v", a.LocalAddr(), raw.LocalAddr())
	}
	if a.RemoteAddr() != nil {
		t.Errorf("RemoteAddr = %v, want nil for an unconnected conn", a.RemoteAddr())
	}
	// The deadlines only bound a failing test; nothing here depends on timing.
	deadline := time.Now().Add(10 * time.Second)
	peer.SetReadDeadline(deadline)
	a.SetReadDeadline(deadline)
	const count = 100
	buf := make([]byte, 1500)
	for i := range count {
		msg := []byte{byte(i), 'u', 'p'}
		if _, err := a.WriteTo(msg, peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		n, from, err := peer.ReadFrom(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) || from.String() != a.LocalAddr().String() {
			t.Fatalf("peer read %q from %v, %v", buf[:n], from, err)
		}
		if _, err := peer.WriteTo([]byte{byte(i), 'd', 'n'}, from); err != nil {
			t.Fatal(err)
		}
		n, ua, err := a.ReadFromUDP(buf)
		if err != nil || !bytes.Equal(buf[:n], []byte{byte(i), 'd', 'n'}) || ua.String() != peer.LocalAddr().String() {
			t.Fatalf("ReadFromUDP = %q from %v, %v", buf[:n], ua, err)
		}
	}
	for _, dir := range Directions {
		c := sh.Ledger(dir).Counters
		if c.Packets != count || c.Delivered != count {
			t.Errorf("%s ledger: %d packets, %d delivered, want %d and %d", dir, c.Packets, c.Delivered, count, count)
		}
	}
}

// TestPacketConnPreciseTimersNeverEarly: in real time, a precise conn
// delivers every delayed packet, in order, and never before it is due.
// (How late is a figure for BenchmarkUDPProxyDelay50ms, which shares the
// lane, not for a test.)
func TestPacketConnPreciseTimersNeverEarly(t *testing.T) {
	defer goleak.VerifyNone(t)
	raw, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	sh := pcShaper(t, "a", "delay: {time: 5ms, jitter: 1ms}", WithEvents(20))
	a := pcWrap(t, raw, sh, WithPreciseTimers())
	defer a.Close()
	peer.SetReadDeadline(time.Now().Add(10 * time.Second)) // bounds a failing test only
	buf := make([]byte, 64)
	var took []time.Duration
	for i := range 20 {
		start := time.Now()
		if _, err := a.WriteTo([]byte{byte(i)}, peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		n, _, err := peer.ReadFrom(buf)
		if err != nil || n != 1 || buf[0] != byte(i) {
			t.Fatalf("packet %d: got %v, %v", i, buf[:n], err)
		}
		took = append(took, time.Since(start))
	}
	// The shaper stamps its time after start, so each packet took at least
	// the delay the ledger gave it.
	for i, e := range sh.Ledger(Up).Events {
		if took[i] < e.Delay {
			t.Errorf("packet %d arrived after %v, before its delay %v", i, took[i], e.Delay)
		}
	}
}

func TestPacketConnConnected(t *testing.T) {
	defer goleak.VerifyNone(t)
	peer, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	raw, err := net.DialUDP("udp", nil, peer.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	a := pcWrap(t, raw, pcShaper(t, "a", "delay: 1ms"))
	defer a.Close()
	if a.RemoteAddr() == nil || a.RemoteAddr().String() != peer.LocalAddr().String() {
		t.Fatalf("RemoteAddr = %v, want %v", a.RemoteAddr(), peer.LocalAddr())
	}
	deadline := time.Now().Add(10 * time.Second)
	peer.SetReadDeadline(deadline)
	a.SetReadDeadline(deadline)
	if _, err := a.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	peer.WriteTo([]byte("world"), from)
	if n, err = a.Read(buf); err != nil || string(buf[:n]) != "world" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	if n, oobn, err := a.WriteMsgUDP([]byte("x"), []byte{1}, nil); !errors.Is(err, ErrNotSupported) || n != 0 || oobn != 0 {
		t.Errorf("WriteMsgUDP with oob = %d, %d, %v; want ErrNotSupported", n, oobn, err)
	}
	if _, _, err := a.WriteMsgUDP([]byte("msg"), nil, nil); err != nil {
		t.Fatal(err)
	}
	if n, _, err = peer.ReadFrom(buf); err != nil || string(buf[:n]) != "msg" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	peer.WriteTo([]byte("back"), from)
	n, oobn, flags, ua, err := a.ReadMsgUDP(buf, make([]byte, 64))
	if err != nil || string(buf[:n]) != "back" || oobn != 0 || flags != 0 || ua == nil {
		t.Fatalf("ReadMsgUDP = %q, %d, %d, %v, %v", buf[:n], oobn, flags, ua, err)
	}
	if err := a.SetReadBuffer(1 << 16); err != nil {
		t.Errorf("SetReadBuffer on a real socket: %v", err)
	}
	if err := a.SetWriteBuffer(1 << 16); err != nil {
		t.Errorf("SetWriteBuffer on a real socket: %v", err)
	}
}

func TestPacketConnUnconnectedWriteFails(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		ra, rb := memPair()
		defer rb.Close()
		a := pcWrap(t, ra, pcShaper(t, "a", ""))
		defer a.Close()
		if _, err := a.Write([]byte("x")); !errors.Is(err, ErrNotSupported) {
			t.Errorf("Write on an unconnected conn without Write = %v, want ErrNotSupported", err)
		}
		if _, err := a.WriteTo([]byte("x"), nil); err == nil {
			t.Error("WriteTo(nil address) succeeded")
		}
		if err := a.SetReadBuffer(1); !errors.Is(err, ErrNotSupported) {
			t.Errorf("SetReadBuffer on a conn without one = %v, want ErrNotSupported", err)
		}
	})
}

func TestPacketConnReadDeadline(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		ra, rb := memPair()
		defer rb.Close()
		a := pcWrap(t, ra, pcShaper(t, "a", ""))
		defer a.Close()
		buf := make([]byte, 16)
		isTimeout := func(err error) bool {
			var ne net.Error
			return errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
		}

		start := time.Now()
		a.SetReadDeadline(start.Add(100 * time.Millisecond))
		if _, _, err := a.ReadFrom(buf); !isTimeout(err) {
			t.Fatalf("ReadFrom = %v, want a timeout", err)
		}
		if got := time.Since(start); got != 100*time.Millisecond {
			t.Errorf("timed out after %v, want 100ms", got)
		}
		// A deadline in the past fails at once, and keeps failing.
		for range 2 {
			if _, _, err := a.ReadFrom(buf); !isTimeout(err) {
				t.Fatalf("ReadFrom past the deadline = %v, want a timeout", err)
			}
		}

		// Moving the deadline wakes a blocked reader, which re-arms.
		start = time.Now()
		a.SetReadDeadline(start.Add(time.Second))
		errc := make(chan error, 1)
		go func() {
			_, _, err := a.ReadFrom(buf)
			errc <- err
		}()
		time.Sleep(10 * time.Millisecond) // virtual time: lets the read block first
		a.SetReadDeadline(start.Add(50 * time.Millisecond))
		if err := <-errc; !isTimeout(err) {
			t.Fatalf("ReadFrom = %v, want a timeout", err)
		}
		if got := time.Since(start); got != 50*time.Millisecond {
			t.Errorf("moved deadline fired after %v, want 50ms", got)
		}

		// Clearing it lets a read wait for data.
		a.SetDeadline(time.Time{})
		go func() {
			time.Sleep(time.Hour) // virtual time: data long after the read began
			rb.WriteTo([]byte("late"), ra.addr)
		}()
		start = time.Now()
		n, _, err := a.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "late" || time.Since(start) != time.Hour {
			t.Errorf("ReadFrom = %q, %v after %v; want \"late\" after 1h", buf[:n], err, time.Since(start))
		}
	})
}

func TestPacketConnClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		ra, rb := memPair()
		defer rb.Close()
		a := pcWrap(t, ra, pcShaper(t, "a", "delay: 1s"))
		a.WriteTo([]byte("in flight"), rb.addr)
		errc := make(chan error, 1)
		go func() {
			_, _, err := a.ReadFrom(make([]byte, 16))
			errc <- err
		}()
		synctest.Wait()
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		err := <-errc
		if !errors.Is(err, net.ErrClosed) || !errors.Is(err, ErrClosed) {
			t.Errorf("blocked ReadFrom after Close = %v, want net.ErrClosed and ErrClosed", err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("second Close = %v, want nil", err)
		}
		if _, err := a.WriteTo([]byte("x"), rb.addr); !errors.Is(err, net.ErrClosed) {
			t.Errorf("WriteTo after Close = %v, want net.ErrClosed", err)
		}
		if err := a.SetReadDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
			t.Errorf("SetReadDeadline after Close = %v, want net.ErrClosed", err)
		}
		select {
		case <-ra.done:
		default:
			t.Error("Close did not close the wrapped conn")
		}
		if s := a.Stats(); s.Discarded != 1 {
			t.Errorf("Stats = %+v, want the packet in flight discarded", s)
		}
	})
}

// TestPacketConnWrappedConnFails: when the wrapped conn fails under the
// shaped one, reads report its error.
func TestPacketConnWrappedConnFails(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		ra, rb := memPair()
		defer rb.Close()
		a := pcWrap(t, ra, pcShaper(t, "a", ""))
		defer a.Close()
		rb.WriteTo([]byte("before"), ra.addr)
		synctest.Wait()
		ra.Close()
		buf := make([]byte, 16)
		if n, _, err := a.ReadFrom(buf); err != nil || string(buf[:n]) != "before" {
			t.Fatalf("ReadFrom = %q, %v; want what was ready first", buf[:n], err)
		}
		if _, _, err := a.ReadFrom(buf); !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadFrom = %v, want the wrapped conn's error", err)
		}
	})
}

func TestPacketConnCorruptAndDuplicate(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		ra, rb := memPair()
		defer rb.Close()
		sh := pcShaper(t, "a", "corrupt: 100%\nduplicate: 100%")
		a := pcWrap(t, ra, sh)
		defer a.Close()
		msg := []byte("0123456789abcdef")
		orig := bytes.Clone(msg)
		a.WriteTo(msg, rb.addr)
		if !bytes.Equal(msg, orig) {
			t.Fatal("corruption touched the caller's buffer")
		}
		synctest.Wait()
		buf := make([]byte, 64)
		var got [][]byte
		for range 2 {
			n, _, err := rb.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, bytes.Clone(buf[:n]))
		}
		if bits := diffBits(got[0], orig); bits != 1 {
			t.Errorf("first copy differs in %d bits, want 1 (corrupted)", bits)
		}
		if !bytes.Equal(got[1], orig) {
			t.Errorf("duplicate = %q, want the uncorrupted %q", got[1], orig)
		}
		if c := sh.Ledger(Up).Counters; c.Corrupted != 1 || c.Duplicated != 1 {
			t.Errorf("ledger %+v, want 1 corrupted and 1 duplicated", c)
		}
	})
}

func diffBits(a, b []byte) int {
	if len(a) != len(b) {
		return -1
	}
	n := 0
	for i := range a {
		for x := a[i] ^ b[i]; x != 0; x &= x - 1 {
			n++
		}
	}
	return n
}

func TestPacketConnReadQueueOverflow(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		ra, rb := memPair()
		defer rb.Close()
		a := pcWrap(t, ra, pcShaper(t, "a", ""), WithReadQueue(4))
		defer a.Close()
		for i := range 10 {
			rb.WriteTo([]byte{byte(i)}, ra.addr)
		}
		synctest.Wait()
		buf := make([]byte, 4)
		for i := range 4 {
			if n, _, err := a.ReadFrom(buf); err != nil || n != 1 || buf[0] != byte(i) {
				t.Fatalf("read %d = %v, %v; want packet %d", i, buf[:n], err, i)
			}
		}
		if s := a.Stats(); s.ReadQueueDrops != 6 {
			t.Errorf("ReadQueueDrops = %d, want 6", s.ReadQueueDrops)
		}
	})
}

func TestWrapPacketConnBadInput(t *testing.T) {
	defer goleak.VerifyNone(t)
	sh := pcShaper(t, "a", "")
	ra, rb := memPair()
	defer ra.Close()
	defer rb.Close()
	if _, err := WrapPacketConn(nil, sh); !errors.Is(err, ErrBadConfig) {
		t.Errorf("nil conn: %v, want ErrBadConfig", err)
	}
	if _, err := WrapPacketConn(ra, nil); !errors.Is(err, ErrBadConfig) {
		t.Errorf("nil shaper: %v, want ErrBadConfig", err)
	}
	if _, err := WrapPacketConn(ra, sh, WithReadQueue(0)); !errors.Is(err, ErrBadConfig) {
		t.Errorf("read queue 0: %v, want ErrBadConfig", err)
	}
}

// pcStream sends total numbered packets from a to b's address, one per
// millisecond, calling change(i) before packet i, then waits for
// everything in flight and returns how often each sequence number arrived.
func pcStream(t *testing.T, a, b *PacketConn, to net.Addr, total int, change func(i int)) []int {
	t.Helper()
	seen := make([]int, total)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, _, err := b.ReadFrom(buf)
			if err != nil {
				return
			}
			if n >= 8 {
				if seq := binary.BigEndian.Uint64(buf); seq < uint64(total) {
					seen[seq]++
				}
			}
		}
	}()
	msg := make([]byte, 100)
	for i := range total {
		change(i)
		binary.BigEndian.PutUint64(msg, uint64(i))
		if _, err := a.WriteTo(msg, to); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		time.Sleep(time.Millisecond) // virtual time (callers run in a synctest bubble): 1,000 packets/s
	}
	time.Sleep(10 * time.Second) // longer than any delay or queue below
	synctest.Wait()
	a.Close()
	b.Close()
	<-done
	return seen
}

// TestPacketConnLiveProfileSwitchLosesNothing switches both ends' profiles
// mid-stream between lossless profiles (delay, jitter, reorder, a rate
// limit, none): every packet must arrive exactly once.
func TestPacketConnLiveProfileSwitchLosesNothing(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		ra, rb := memPair()
		shA, shB := pcShaper(t, "a", ""), pcShaper(t, "b", "")
		a, b := pcWrap(t, ra, shA), pcWrap(t, rb, shB)
		profiles := []string{
			"delay: 80ms",
			"delay: {time: 20ms, jitter: 10ms}",
			"delay: 300ms\nreorder: 25%",
			"",
			"rate: 2Mbit\ndelay: 5ms",
			"delay: {time: 100ms, jitter: 50ms, distribution: pareto}",
			"delay: 1ms",
		}
		const total = 3500
		seen := pcStream(t, a, b, rb.addr, total, func(i int) {
			if i%500 == 250 {
				k := i / 500
				pcSetProfile(t, shA, profiles[k%len(profiles)])
				pcSetProfile(t, shB, profiles[(k+3)%len(profiles)])
			}
		})
		received := 0
		for seq, n := range seen {
			if n != 1 {
				t.Errorf("packet %d arrived %d times, want once", seq, n)
			}
			received += n
		}
		if received != total {
			t.Errorf("received %d of %d", received, total)
		}
		up, down := shA.Ledger(Up).Counters, shB.Ledger(Down).Counters
		t.Logf("up %+v; down %+v", up, down)
		if up.Packets != total || up.Dropped != 0 || down.Packets != total || down.Dropped != 0 {
			t.Errorf("ledgers: up %+v, down %+v; want %d packets and no drop each", up, down, total)
		}
		if up.Reordered == 0 && down.Reordered == 0 {
			t.Error("no packet was reordered: the reorder phase did not run")
		}
		if s := b.Stats(); s != (PacketConnStats{}) {
			t.Errorf("receiver stats %+v, want zero", s)
		}
	})
}

// TestPacketConnLiveProfileSwitchAccounts switches between lossy profiles
// mid-stream: what arrives plus what the ledgers dropped, less what they
// duplicated, is what was sent.
func TestPacketConnLiveProfileSwitchAccounts(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		ra, rb := memPair()
		shA, shB := pcShaper(t, "a", ""), pcShaper(t, "b", "")
		a, b := pcWrap(t, ra, shA), pcWrap(t, rb, shB)
		profiles := []string{
			"loss: 10%\ndelay: 40ms",
			"duplicate: 5%\ndelay: {time: 30ms, jitter: 20ms}",
			"blackhole: true",
			"rate: {bitrate: 400kbit, queue: {packets: 5}}",
			"loss: {model: gilbert-elliott, p: 5%, r: 30%}\nreorder: 10%\ndelay: 60ms",
			"",
		}
		const total = 3000
		seen := pcStream(t, a, b, rb.addr, total, func(i int) {
			if i%500 == 100 {
				k := i / 500
				pcSetProfile(t, shA, profiles[k%len(profiles)])
				pcSetProfile(t, shB, profiles[(k+2)%len(profiles)])
			}
		})
		received := 0
		for _, n := range seen {
			received += n
		}
		up, down := shA.Ledger(Up).Counters, shB.Ledger(Down).Counters
		if up.Packets != total {
			t.Fatalf("up ledger saw %d packets, want %d", up.Packets, total)
		}
		if rb.overflow.Load() != 0 {
			t.Fatalf("the pipe overflowed: %d", rb.overflow.Load())
		}
		if want := up.Delivered + up.Duplicated; down.Packets != want {
			t.Errorf("down ledger saw %d packets, want %d (up delivered %d + duplicated %d)", down.Packets, want, up.Delivered, up.Duplicated)
		}
		rs := b.Stats()
		t.Logf("sent %d, received %d; up %+v; down %+v; receiver %+v", total, received, up, down, rs)
		got := uint64(received) + up.Dropped + down.Dropped + rs.ReadQueueDrops
		want := uint64(total) + up.Duplicated + down.Duplicated
		if got != want {
			t.Errorf("received %d + dropped %d (up) + %d (down) + %d (queue) = %d, want sent %d + duplicated %d + %d = %d",
				received, up.Dropped, down.Dropped, rs.ReadQueueDrops, got, total, up.Duplicated, down.Duplicated, want)
		}
		for name, c := range map[string]Counters{"up": up, "down": down} {
			for _, reason := range []string{"loss", "blackhole", "queue"} {
				if c.DroppedBy[reason] == 0 {
					t.Errorf("%s: no %s drop; the profile switches did not take effect (%v)", name, reason, c.DroppedBy)
				}
			}
		}
		if up.Duplicated == 0 || down.Duplicated == 0 {
			t.Errorf("duplicated up %d, down %d: want some each", up.Duplicated, down.Duplicated)
		}
	})
}
