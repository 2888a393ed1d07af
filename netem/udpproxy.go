package netem

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// UDPProxy is a standalone UDP impairment proxy. Each client source
// address gets a session with its own upstream socket connected to the
// target, so replies find their way back, as through a NAT:
//
//	client --> listen socket --Shape(Up)--> session socket --> target
//	client <-- listen socket <--Shape(Down)-- session socket <-- target
//
// Sessions idle (no packet either way) for the idle timeout are closed.
//
// It shares the shaper, the lanes and the buffer pool with PacketConn but
// not PacketConn's read path, because speed comes first here: packets move
// in batches (recvmmsg/sendmmsg through golang.org/x/net), runs of
// equal-size packets leave as one UDP GSO message where Linux has it, the
// no-impairment path copies nothing, and only packets the profile delays,
// duplicates or corrupts are copied into a lane. On SystemClock the lanes
// are precise (timerfd timers), so a delay is right to about 0.1 ms.
//
// A proxy on the shaper's SystemClock works in real time only: its
// sockets are real, so it cannot run inside a synctest bubble.
type UDPProxy struct {
	sh          *Shaper       // read-only
	clock       Clock         // read-only
	base        time.Time     // read-only: origin of the sessions' activity stamps
	idle        time.Duration // read-only
	maxSessions int           // read-only
	target      *net.UDPAddr  // read-only
	ln          *net.UDPConn  // read-only: the client-facing socket
	lnb         batchConn     // read-only: batch I/O on ln
	gso         bool          // read-only: the kernel takes UDP GSO

	up, down *lane[proxyPacket] // precise on SystemClock

	mu       sync.Mutex
	sessions map[netip.AddrPort]*udpSession // guarded by mu
	closed   bool                           // guarded by mu

	wg        sync.WaitGroup // the listener, the reaper and every session reader
	quit      chan struct{}  // closed by Close
	closeOnce sync.Once
	closeErr  error // guarded by closeOnce

	opened, expired, refused, writeErrors atomic.Uint64
}

// UDPProxyConfig says where a UDPProxy listens, where it forwards, and how
// it impairs.
type UDPProxyConfig struct {
	// Listen is the client-facing address; default "127.0.0.1:0". It must
	// be loopback unless WithUDPNonLoopback is given.
	Listen string
	// Target is where every session goes, e.g. a TURN server's
	// "127.0.0.1:3478". It must be loopback unless WithUDPNonLoopback.
	Target string
	// Shaper impairs client->target as Up and target->client as Down.
	Shaper *Shaper
}

// UDPProxyOption adjusts a UDPProxy at construction.
type UDPProxyOption func(*udpProxyOptions) error

type udpProxyOptions struct {
	idle        time.Duration
	maxSessions int
	nonLoopback bool
}

// Defaults of a UDPProxy.
const (
	DefaultUDPIdleTimeout = 60 * time.Second
	DefaultUDPMaxSessions = 256
)

// WithUDPIdleTimeout closes sessions that carried no packet, either way,
// for d (d > 0; default DefaultUDPIdleTimeout), on the shaper's clock. A
// session is closed between d and 1.25 d after its last packet (d + 1 ms
// for d under 4 ms: the reaper looks at most once a millisecond).
func WithUDPIdleTimeout(d time.Duration) UDPProxyOption {
	return func(o *udpProxyOptions) error {
		if d <= 0 {
			return fmt.Errorf("%w: idle timeout must be positive, got %s", ErrBadConfig, d)
		}
		o.idle = d
		return nil
	}
}

// WithUDPMaxSessions bounds the number of sessions (n >= 1; default
// DefaultUDPMaxSessions). Packets from a new client beyond it are dropped
// and counted in UDPProxyStats.Refused. Each session costs a socket, a
// goroutine and 512 KiB of receive buffers.
func WithUDPMaxSessions(n int) UDPProxyOption {
	return func(o *udpProxyOptions) error {
		if n < 1 {
			return fmt.Errorf("%w: max sessions must be at least 1, got %d", ErrBadConfig, n)
		}
		o.maxSessions = n
		return nil
	}
}

// WithUDPNonLoopback allows Listen and Target addresses other than
// loopback. Without it NewUDPProxy refuses them with ErrNotLoopback.
func WithUDPNonLoopback() UDPProxyOption {
	return func(o *udpProxyOptions) error {
		o.nonLoopback = true
		return nil
	}
}

// NewUDPProxy listens on cfg.Listen and starts forwarding. Close it to
// stop.
func NewUDPProxy(cfg UDPProxyConfig, opts ...UDPProxyOption) (*UDPProxy, error) {
	o := udpProxyOptions{idle: DefaultUDPIdleTimeout, maxSessions: DefaultUDPMaxSessions}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if cfg.Shaper == nil {
		return nil, fmt.Errorf("%w: a UDP proxy needs a Shaper, got nil", ErrBadConfig)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	laddr, err := udpProxyAddr("listen", cfg.Listen, o.nonLoopback)
	if err != nil {
		return nil, err
	}
	target, err := udpProxyAddr("target", cfg.Target, o.nonLoopback)
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("netem: UDP proxy: %w", err)
	}
	setBuffers(ln)
	p := &UDPProxy{
		sh:          cfg.Shaper,
		clock:       cfg.Shaper.Clock(),
		idle:        o.idle,
		maxSessions: o.maxSessions,
		target:      target,
		ln:          ln,
		lnb:         newBatchConn(ln),
		gso:         gsoSupported(ln),
		sessions:    map[netip.AddrPort]*udpSession{},
		quit:        make(chan struct{}),
	}
	p.base = p.clock.Now()
	// Real sockets mean real time: correct the runtime's timers, unless a
	// test drives the proxy with a clock of its own.
	precise := p.clock == SystemClock
	p.up = newLane(p.clock, p.deliverUp, precise)
	p.down = newLane(p.clock, p.deliverDown, precise)
	p.wg.Add(2)
	go p.listen()
	go p.reap()
	return p, nil
}

// udpProxyAddr parses host:port; unless nonLoopback, the host must be a
// loopback IP or localhost (names are not resolved: that could already
// leave the machine).
func udpProxyAddr(what, hp string, nonLoopback bool) (*net.UDPAddr, error) {
	if err := checkHostPort("UDP proxy "+what, hp, nonLoopback, "WithUDPNonLoopback"); err != nil {
		return nil, err
	}
	a, err := net.ResolveUDPAddr("udp", hp)
	if err != nil {
		return nil, fmt.Errorf("%w: UDP proxy %s address %q: %w", ErrBadConfig, what, hp, err)
	}
	return a, nil
}

// socketBuffer is asked of the kernel for every socket (it caps it at
// net.core.[rw]mem_max): bursts must not overflow before the proxy reads.
const socketBuffer = 4 << 20

func setBuffers(c *net.UDPConn) {
	_ = c.SetReadBuffer(socketBuffer)
	_ = c.SetWriteBuffer(socketBuffer)
}

// batchConn is the batch I/O of an ipv4 or ipv6 PacketConn.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

func newBatchConn(c *net.UDPConn) batchConn {
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		return ipv6.NewPacketConn(c)
	}
	return ipv4.NewPacketConn(c)
}

// Addr returns the address clients send to.
func (p *UDPProxy) Addr() net.Addr { return p.ln.LocalAddr() }

// Shaper returns the proxy's shaper.
func (p *UDPProxy) Shaper() *Shaper { return p.sh }

// UDPProxyStats counts what a UDPProxy did besides what its shaper's
// ledger records.
type UDPProxyStats struct {
	Sessions    int    // open now
	Opened      uint64 // sessions opened so far
	Expired     uint64 // sessions closed for idleness
	Refused     uint64 // packets from new clients dropped at the session bound
	WriteErrors uint64 // packets a socket refused (the sender is not told)
}

// Stats returns the counters.
func (p *UDPProxy) Stats() UDPProxyStats {
	p.mu.Lock()
	n := len(p.sessions)
	p.mu.Unlock()
	return UDPProxyStats{
		Sessions:    n,
		Opened:      p.opened.Load(),
		Expired:     p.expired.Load(),
		Refused:     p.refused.Load(),
		WriteErrors: p.writeErrors.Load(),
	}
}

// Close stops forwarding, closes every socket and waits for every
// goroutine. Packets in flight are discarded. It is idempotent.
func (p *UDPProxy) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		sessions := p.sessions
		p.sessions = nil
		p.mu.Unlock()
		close(p.quit)
		p.closeErr = p.ln.Close()
		for _, pk := range p.up.close() {
			putBuf(pk.buf)
		}
		for _, pk := range p.down.close() {
			putBuf(pk.buf)
		}
		for _, s := range sessions {
			s.close()
		}
		p.wg.Wait()
	})
	return p.closeErr
}

// udpSession is one client's path to the target.
type udpSession struct {
	client     netip.AddrPort // read-only
	clientAddr *net.UDPAddr   // read-only: client, for batch writes
	conn       *net.UDPConn   // read-only: connected to the target
	cb         batchConn      // read-only: batch I/O on conn
	last       atomic.Int64   // clock offset from UDPProxy.base of the last packet
	closed     atomic.Bool
}

func (s *udpSession) close() {
	if s.closed.CompareAndSwap(false, true) {
		_ = s.conn.Close()
	}
}

func (s *udpSession) touch(p *UDPProxy, now time.Time) {
	s.last.Store(int64(now.Sub(p.base)))
}

// session returns the client's session, opening it if needed; nil when
// the proxy is closed, at its bound, or the target cannot be dialled.
func (p *UDPProxy) session(client netip.AddrPort, now time.Time) *udpSession {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if s := p.sessions[client]; s != nil {
		s.touch(p, now)
		return s
	}
	if len(p.sessions) >= p.maxSessions {
		p.refused.Add(1)
		return nil
	}
	conn, err := net.DialUDP("udp", nil, p.target)
	if err != nil {
		p.refused.Add(1)
		return nil
	}
	setBuffers(conn)
	s := &udpSession{
		client:     client,
		clientAddr: net.UDPAddrFromAddrPort(client),
		conn:       conn,
		cb:         newBatchConn(conn),
	}
	s.touch(p, now)
	p.sessions[client] = s
	p.opened.Add(1)
	p.wg.Add(1)
	go p.serveSession(s)
	return s
}

// minReapPeriod bounds how often the reaper looks: a quarter of a
// nanosecond-scale idle timeout would be 0, a reaper that never sleeps.
const minReapPeriod = time.Millisecond

// reapPeriod is how often the reaper looks: every quarter of the idle
// timeout, but not more often than every minReapPeriod.
func reapPeriod(idle time.Duration) time.Duration { return max(idle/4, minReapPeriod) }

// reap closes idle sessions, looking every reapPeriod.
func (p *UDPProxy) reap() {
	defer p.wg.Done()
	period := reapPeriod(p.idle)
	t := p.clock.NewTimer(period)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-t.C():
		}
		now := int64(p.clock.Now().Sub(p.base))
		var idle []*udpSession
		p.mu.Lock()
		for k, s := range p.sessions {
			if now-s.last.Load() >= int64(p.idle) {
				delete(p.sessions, k)
				idle = append(idle, s)
			}
		}
		p.mu.Unlock()
		for _, s := range idle {
			s.close()
			p.expired.Add(1)
		}
		t.Reset(period)
	}
}
