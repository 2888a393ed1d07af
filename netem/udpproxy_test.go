package netem

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/ipv4"
)

// pxEcho is a UDP echo server on loopback that counts what it got and
// from which addresses.
type pxEcho struct {
	pc   net.PacketConn
	done chan struct{}

	mu      sync.Mutex
	got     int             // guarded by mu
	sources map[string]bool // guarded by mu
	arrived chan struct{}   // a token per packet (buffered)
}

func newPxEcho(t *testing.T) *pxEcho {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &pxEcho{pc: pc, done: make(chan struct{}), sources: map[string]bool{}, arrived: make(chan struct{}, 1<<16)}
	go func() {
		defer close(e.done)
		buf := make([]byte, maxDatagram)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			e.mu.Lock()
			e.got++
			e.sources[from.String()] = true
			e.mu.Unlock()
			e.arrived <- struct{}{}
			pc.WriteTo(buf[:n], from)
		}
	}()
	return e
}

func (e *pxEcho) close() {
	e.pc.Close()
	<-e.done
}

func (e *pxEcho) count() (int, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.got, len(e.sources)
}

// pxWait waits for n tokens on ch, failing after a generous deadline that
// only a broken proxy reaches.
func pxWait(t *testing.T, ch <-chan struct{}, n int, what string) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for i := range n {
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("%s: %d of %d after 10s", what, i, n)
		}
	}
}

func newPxProxy(t *testing.T, target net.Addr, sh *Shaper, opts ...UDPProxyOption) *UDPProxy {
	t.Helper()
	p, err := NewUDPProxy(UDPProxyConfig{Target: target.String(), Shaper: sh}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func pxClient(t *testing.T, p *UDPProxy) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, p.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) // bounds a failing test only
	return c
}

func pxRoundTrip(t *testing.T, c *net.UDPConn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != msg {
		t.Fatalf("echo of %q = %q, %v", msg, buf[:n], err)
	}
}

func TestUDPProxyPassthroughSessions(t *testing.T) {
	defer goleak.VerifyNone(t)
	echo := newPxEcho(t)
	defer echo.close()
	sh := pcShaper(t, "px", "")
	p := newPxProxy(t, echo.pc.LocalAddr(), sh)
	defer p.Close()
	if a := p.Addr().(*net.UDPAddr); !a.IP.IsLoopback() {
		t.Errorf("default listen address %v is not loopback", a)
	}
	c1, c2 := pxClient(t, p), pxClient(t, p)
	defer c1.Close()
	defer c2.Close()
	const rounds = 100
	for i := range rounds {
		pxRoundTrip(t, c1, "one")
		pxRoundTrip(t, c2, "two "+string(rune('a'+i%26)))
	}
	got, sources := echo.count()
	if got != 2*rounds || sources != 2 {
		t.Errorf("echo got %d packets from %d sources, want %d from 2 (one upstream socket per client)", got, sources, 2*rounds)
	}
	if s := p.Stats(); s.Sessions != 2 || s.Opened != 2 || s.Refused != 0 || s.WriteErrors != 0 {
		t.Errorf("stats %+v, want 2 sessions and no errors", s)
	}
	for _, dir := range Directions {
		if c := sh.Ledger(dir).Counters; c.Packets != 2*rounds || c.Delivered != 2*rounds {
			t.Errorf("%s ledger %+v, want %d delivered", dir, c, 2*rounds)
		}
	}
}

// TestUDPProxyImpairedAccounts: with loss, duplication, corruption, delay
// and reordering each way, what each end receives is what the ledgers say
// was delivered (plus duplicates).
func TestUDPProxyImpairedAccounts(t *testing.T) {
	defer goleak.VerifyNone(t)
	echo := newPxEcho(t)
	defer echo.close()
	sh := pcShaper(t, "px", "loss: 10%\nduplicate: 5%\ncorrupt: 2%\ndelay: {time: 5ms, jitter: 2ms}\nreorder: 10%")
	p := newPxProxy(t, echo.pc.LocalAddr(), sh)
	defer p.Close()
	c := pxClient(t, p)
	defer c.Close()

	// Few enough packets that socket buffers never overflow, whatever the
	// scheduling: the only losses are the shaper's.
	const total = 200
	back := make(chan struct{}, 1<<10)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		buf := make([]byte, 1500)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			back <- struct{}{}
		}
	}()
	msg := make([]byte, 64)
	for i := range total {
		binary.BigEndian.PutUint64(msg, uint64(i))
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	pxWaitLedger(t, sh, Up, total)
	up := sh.Ledger(Up).Counters
	pxWait(t, echo.arrived, int(up.Delivered+up.Duplicated), "at the target")
	echoed := int(up.Delivered + up.Duplicated)
	pxWaitLedger(t, sh, Down, echoed)
	down := sh.Ledger(Down).Counters
	pxWait(t, back, int(down.Delivered+down.Duplicated), "back at the client")
	c.Close()
	<-readerDone
	t.Logf("up %+v; down %+v; stats %+v", up, down, p.Stats())
	if up.Dropped == 0 || down.Dropped == 0 || up.Duplicated+down.Duplicated == 0 {
		t.Errorf("no loss or no duplicate: the profile did not apply")
	}
	if got, _ := echo.count(); got != echoed {
		t.Errorf("target got %d, want %d", got, echoed)
	}
	if len(back) != 0 {
		t.Errorf("client got %d more packets than the down ledger delivered", len(back))
	}
}

// pxWaitLedger waits until the shaper saw n packets in dir.
func pxWaitLedger(t *testing.T, sh *Shaper, dir Direction, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for sh.Ledger(dir).Counters.Packets < uint64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("%s ledger saw %d of %d packets after 10s", dir, sh.Ledger(dir).Counters.Packets, n)
		}
		time.Sleep(time.Millisecond) // polling the ledger, bounded by the deadline
	}
}

func TestUDPProxyRefusesNonLoopback(t *testing.T) {
	defer goleak.VerifyNone(t)
	sh := pcShaper(t, "px", "")
	for _, cfg := range []UDPProxyConfig{
		{Listen: "0.0.0.0:0", Target: "127.0.0.1:9", Shaper: sh},
		{Listen: ":0", Target: "127.0.0.1:9", Shaper: sh},
		{Listen: "192.0.2.1:0", Target: "127.0.0.1:9", Shaper: sh},
		{Listen: "example.com:0", Target: "127.0.0.1:9", Shaper: sh},
		{Target: "203.0.113.1:9", Shaper: sh},
	} {
		if p, err := NewUDPProxy(cfg); !errors.Is(err, ErrNotLoopback) {
			if p != nil {
				p.Close()
			}
			t.Errorf("%+v: %v, want ErrNotLoopback", cfg, err)
		}
	}
	// The option lets a non-loopback target through (nothing is sent: no
	// client ever writes).
	p, err := NewUDPProxy(UDPProxyConfig{Target: "203.0.113.1:9", Shaper: sh}, WithUDPNonLoopback())
	if err != nil {
		t.Fatalf("with WithUDPNonLoopback: %v", err)
	}
	p.Close()
	for name, c := range map[string]struct {
		cfg  UDPProxyConfig
		opts []UDPProxyOption
	}{
		"nil shaper":     {UDPProxyConfig{Target: "127.0.0.1:9"}, nil},
		"no target":      {UDPProxyConfig{Shaper: sh}, nil},
		"bad listen":     {UDPProxyConfig{Listen: "127.0.0.1", Target: "127.0.0.1:9", Shaper: sh}, nil},
		"bad port":       {UDPProxyConfig{Target: "127.0.0.1:http2", Shaper: sh}, nil},
		"idle 0":         {UDPProxyConfig{Target: "127.0.0.1:9", Shaper: sh}, []UDPProxyOption{WithUDPIdleTimeout(0)}},
		"max sessions 0": {UDPProxyConfig{Target: "127.0.0.1:9", Shaper: sh}, []UDPProxyOption{WithUDPMaxSessions(0)}},
	} {
		if p, err := NewUDPProxy(c.cfg, c.opts...); !errors.Is(err, ErrBadConfig) {
			if p != nil {
				p.Close()
			}
			t.Errorf("%s: %v, want ErrBadConfig", name, err)
		}
	}
}

func TestUDPProxySessionBound(t *testing.T) {
	defer goleak.VerifyNone(t)
	echo := newPxEcho(t)
	defer echo.close()
	p := newPxProxy(t, echo.pc.LocalAddr(), pcShaper(t, "px", ""), WithUDPMaxSessions(1))
	defer p.Close()
	c1, c2 := pxClient(t, p), pxClient(t, p)
	defer c1.Close()
	defer c2.Close()
	pxRoundTrip(t, c1, "first")
	c2.Write([]byte("refused"))
	pxRoundTrip(t, c1, "still first") // the listener handled c2's packet before this one
	if s := p.Stats(); s.Sessions != 1 || s.Refused != 1 {
		t.Errorf("stats %+v, want 1 session and 1 refused packet", s)
	}
}

func TestUDPProxyCloseStopsEverything(t *testing.T) {
	defer goleak.VerifyNone(t)
	echo := newPxEcho(t)
	defer echo.close()
	p := newPxProxy(t, echo.pc.LocalAddr(), pcShaper(t, "px", "delay: 1h"))
	c := pxClient(t, p)
	defer c.Close()
	c.Write([]byte("held for an hour"))
	pxWaitLedger(t, p.Shaper(), Up, 1)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if s := p.Stats(); s.Sessions != 0 {
		t.Errorf("%d sessions after Close", s.Sessions)
	}
	// The listen port is free again.
	pc, err := net.ListenPacket("udp", p.Addr().String())
	if err != nil {
		t.Fatalf("listen address still taken after Close: %v", err)
	}
	pc.Close()
	if got, _ := echo.count(); got != 0 {
		t.Errorf("the held packet reached the target (%d)", got)
	}
}

// pxClock is a manual Clock. It reports on armed every timer of duration
// watch that is created or reset, so a test knows when the proxy's reaper
// has finished a round.
type pxClock struct {
	mu     sync.Mutex
	now    time.Time     // guarded by mu
	timers []*pxTimer    // guarded by mu
	watch  time.Duration // read-only
	armed  chan struct{}
}

type pxTimer struct {
	c      *pxClock
	ch     chan time.Time
	at     time.Time // guarded by c.mu
	active bool      // guarded by c.mu
}

func newPxClock(watch time.Duration) *pxClock {
	return &pxClock{now: time.Unix(1_000_000, 0), watch: watch, armed: make(chan struct{}, 64)}
}

func (c *pxClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *pxClock) NewTimer(d time.Duration) Timer {
	t := &pxTimer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

func (c *pxClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if t.active && !t.at.After(c.now) {
			t.active = false
			select {
			case t.ch <- c.now:
			default:
			}
		}
	}
}

func (t *pxTimer) C() <-chan time.Time { return t.ch }

func (t *pxTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	was := t.active
	t.at, t.active = t.c.now.Add(d), true
	t.c.timers = append(t.c.timers, t)
	t.c.mu.Unlock()
	if d == t.c.watch {
		t.c.armed <- struct{}{}
	}
	return was
}

func (t *pxTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

// TestUDPProxyIdleSessionsExpire runs the reaper on a manual clock: a
// session lives while packets flow and closes once idle for the timeout.
func TestUDPProxyIdleSessionsExpire(t *testing.T) {
	defer goleak.VerifyNone(t)
	const idle = 8 * time.Second
	clock := newPxClock(idle / 4)
	sh := pcShaper(t, "px", "", WithClock(clock))
	echo := newPxEcho(t)
	defer echo.close()
	p := newPxProxy(t, echo.pc.LocalAddr(), sh, WithUDPIdleTimeout(idle))
	defer p.Close()
	pxWait(t, clock.armed, 1, "reaper started")
	c := pxClient(t, p)
	defer c.Close()
	pxRoundTrip(t, c, "open") // last activity at 0

	tick := func() { // one reaper round: 2s of clock
		clock.advance(idle / 4)
		pxWait(t, clock.armed, 1, "reaper round")
	}
	tick()
	tick()
	tick()                     // 6s idle: alive
	pxRoundTrip(t, c, "again") // last activity at 6s
	tick()
	tick()
	tick() // 12s: idle 6s, alive
	if s := p.Stats(); s.Sessions != 1 || s.Expired != 0 {
		t.Fatalf("at 12s, 6s after the last packet: %+v, want the session alive", s)
	}
	tick() // 14s: idle 8s, expired
	if s := p.Stats(); s.Sessions != 0 || s.Expired != 1 {
		t.Fatalf("at 14s, 8s after the last packet: %+v, want it expired", s)
	}
	pxRoundTrip(t, c, "reopen")
	if s := p.Stats(); s.Sessions != 1 || s.Opened != 2 {
		t.Errorf("after a new packet: %+v, want a second session", s)
	}
	if _, sources := echo.count(); sources != 2 {
		t.Errorf("target saw %d source addresses, want 2 (a new upstream socket)", sources)
	}
}

// TestUDPProxyTinyIdleTimeout: WithUDPIdleTimeout takes any positive
// timeout, and a quarter of a few nanoseconds is 0: a reaper that never
// sleeps. It looks once a millisecond at most.
func TestUDPProxyTinyIdleTimeout(t *testing.T) {
	defer goleak.VerifyNone(t)
	clock := newPxClock(minReapPeriod)
	sh := pcShaper(t, "px", "", WithClock(clock))
	echo := newPxEcho(t)
	defer echo.close()
	p := newPxProxy(t, echo.pc.LocalAddr(), sh, WithUDPIdleTimeout(3*time.Nanosecond))
	defer p.Close()
	pxWait(t, clock.armed, 1, "reaper armed for 1ms")
	c := pxClient(t, p)
	defer c.Close()
	pxRoundTrip(t, c, "open")
	clock.advance(minReapPeriod)
	pxWait(t, clock.armed, 1, "reaper round")
	if s := p.Stats(); s.Sessions != 0 || s.Expired != 1 {
		t.Errorf("1ms after the last packet, with a 3ns timeout: %+v, want the session expired", s)
	}
}

// pxSizes is a burst that exercises GSO runs: equal sizes, a shorter one
// ending a run, a longer one starting a new one, an empty datagram, and a
// packet larger than the pool buffers.
var pxSizes = []int{100, 100, 100, 40, 100, 100, 300, 300, 0, 5, 5, 5, 5, 3000, 1200, 1200, 1199, 1200}

func pxBurst() [][]byte {
	var ps [][]byte
	for i, n := range pxSizes {
		p := make([]byte, n)
		for j := range p {
			p[j] = byte(i*7 + j)
		}
		ps = append(ps, p)
	}
	return ps
}

// TestOutBatchGSOKeepsDatagrams sends one burst through an outBatch with
// GSO (where the kernel has it) and checks each datagram arrives whole,
// alone and in order.
func TestOutBatchGSOKeepsDatagrams(t *testing.T) {
	defer goleak.VerifyNone(t)
	rx := listenLoopUDP(t)
	defer rx.Close()
	tx := dialLoopUDP(t, rx.LocalAddr())
	defer tx.Close()
	t.Logf("GSO supported: %v", gsoSupported(tx))
	burst := pxBurst()
	out := newOutBatch(len(burst), gsoSupported(tx))
	for _, p := range burst {
		out.add(p, nil)
	}
	var errs atomic.Uint64
	out.flush(newBatchConn(tx), &errs)
	if errs.Load() != 0 {
		t.Fatalf("%d write errors", errs.Load())
	}
	rx.SetReadDeadline(time.Now().Add(10 * time.Second)) // bounds a failing test only
	buf := make([]byte, maxDatagram)
	for i, want := range burst {
		n, err := rx.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], want) {
			t.Fatalf("datagram %d: got %d bytes (%v), want %d bytes", i, n, err, len(want))
		}
	}
}

// pxRefuseGSO is a batchConn that refuses GSO messages with EIO, as a
// path without checksum offload does.
type pxRefuseGSO struct {
	batchConn
	refused int
}

func (c *pxRefuseGSO) WriteBatch(ms []ipv4.Message, flags int) (int, error) {
	for i, m := range ms {
		if m.OOB != nil {
			if i > 0 {
				return c.batchConn.WriteBatch(ms[:i], flags)
			}
			c.refused++
			return 0, syscall.EIO
		}
	}
	return c.batchConn.WriteBatch(ms, flags)
}

func TestOutBatchGSOFallsBack(t *testing.T) {
	defer goleak.VerifyNone(t)
	rx := listenLoopUDP(t)
	defer rx.Close()
	tx := dialLoopUDP(t, rx.LocalAddr())
	defer tx.Close()
	if !gsoSupported(tx) {
		t.Log("no GSO here: the fallback is the only path, checked below all the same")
	}
	bc := &pxRefuseGSO{batchConn: newBatchConn(tx)}
	burst := pxBurst()
	out := newOutBatch(len(burst), true)
	for round := range 2 { // the second round must not try GSO again
		for _, p := range burst {
			out.add(p, nil)
		}
		var errs atomic.Uint64
		out.flush(bc, &errs)
		if errs.Load() != 0 {
			t.Fatalf("round %d: %d write errors", round, errs.Load())
		}
		rx.SetReadDeadline(time.Now().Add(10 * time.Second)) // bounds a failing test only
		buf := make([]byte, maxDatagram)
		for i, want := range burst {
			n, err := rx.Read(buf)
			if err != nil || !bytes.Equal(buf[:n], want) {
				t.Fatalf("round %d, datagram %d: got %d bytes (%v), want %d bytes", round, i, n, err, len(want))
			}
		}
	}
	if bc.refused != 1 || out.gso {
		t.Errorf("GSO refused %d times, still on: %v; want refused once, then off", bc.refused, out.gso)
	}
}

// TestUDPProxyBurstKeepsOrder: a burst of mixed sizes, written as fast as
// the client can, reaches the target whole and in order, and comes back.
func TestUDPProxyBurstKeepsOrder(t *testing.T) {
	defer goleak.VerifyNone(t)
	target := listenLoopUDP(t)
	defer target.Close()
	p := newPxProxy(t, target.LocalAddr(), pcShaper(t, "px", ""))
	defer p.Close()
	c := pxClient(t, p)
	defer c.Close()
	target.SetReadDeadline(time.Now().Add(10 * time.Second)) // bounds a failing test only
	burst := pxBurst()
	for range 3 {
		for _, b := range burst {
			if _, err := c.Write(b); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]byte, maxDatagram)
		var from netip.AddrPort
		for i, want := range burst {
			n, a, err := target.ReadFromUDPAddrPort(buf)
			if err != nil || !bytes.Equal(buf[:n], want) {
				t.Fatalf("at the target, datagram %d: got %d bytes (%v), want %d", i, n, err, len(want))
			}
			from = a
		}
		// Back the other way, as a burst from the target.
		for _, b := range burst {
			target.WriteToUDPAddrPort(b, from)
		}
		for i, want := range burst {
			n, err := c.Read(buf)
			if err != nil || !bytes.Equal(buf[:n], want) {
				t.Fatalf("at the client, datagram %d: got %d bytes (%v), want %d", i, n, err, len(want))
			}
		}
	}
}

// TestUDPProxyLiveProfileSwitchLosesNothing switches the proxy's profile
// between lossless ones while a stream flows: every datagram arrives
// exactly once (the switch itself loses nothing; real time, exact counts).
func TestUDPProxyLiveProfileSwitchLosesNothing(t *testing.T) {
	defer goleak.VerifyNone(t)
	target := listenLoopUDP(t)
	defer target.Close()
	sh := pcShaper(t, "px", "delay: 5ms")
	p := newPxProxy(t, target.LocalAddr(), sh)
	defer p.Close()
	c := pxClient(t, p)
	defer c.Close()
	profiles := []string{
		"delay: {time: 20ms, jitter: 5ms}",
		"",
		"up: {delay: 30ms, reorder: 20%}",
		"rate: {bitrate: 50Mbit, queue: {packets: 10000}}\ndelay: 2ms",
		"delay: 1ms",
	}
	const total = 3000
	// The target reads while the stream flows, so its socket buffer (small
	// where net.core.rmem_max is the default) never has to hold the stream.
	seen := make([]int, total)
	readErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		target.SetReadDeadline(time.Now().Add(20 * time.Second)) // bounds a failing test only
		for got := 0; got < total; got++ {
			n, err := target.Read(buf)
			if err != nil {
				readErr <- fmt.Errorf("received %d of %d: %w", got, total, err)
				return
			}
			if n == 100 {
				seen[binary.BigEndian.Uint32(buf)]++
			}
		}
		readErr <- nil
	}()
	msg := make([]byte, 100)
	for i := range total {
		if i%500 == 250 {
			pcSetProfile(t, sh, profiles[(i/500)%len(profiles)])
		}
		binary.BigEndian.PutUint32(msg, uint32(i))
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if i%5 == 4 {
			time.Sleep(time.Millisecond) // pacing the sender (about 5,000 packets/s), not waiting for a result
		}
	}
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
	for i, n := range seen {
		if n != 1 {
			t.Errorf("datagram %d arrived %d times, want once", i, n)
		}
	}
	if l := sh.Ledger(Up).Counters; l.Packets != total || l.Dropped != 0 {
		t.Errorf("up ledger %+v: want %d packets, no drop", l, total)
	}
}

// listenLoopUDP is a UDP socket on 127.0.0.1 with large buffers, for the
// tests and benchmarks alike.
func listenLoopUDP(b testing.TB) *net.UDPConn {
	b.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	setBuffers(c)
	return c
}

func dialLoopUDP(b testing.TB, to net.Addr) *net.UDPConn {
	b.Helper()
	c, err := net.DialUDP("udp", nil, to.(*net.UDPAddr))
	if err != nil {
		b.Fatal(err)
	}
	setBuffers(c)
	return c
}
