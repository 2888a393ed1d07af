package netem

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// TCPProxy impairs a TCP byte stream, such as the lab's signaling path,
// with the profile of a Shaper: toxiproxy's toxics expressed in netem's one
// profile, steered live with SetProfile and the profile's schedule.
//
//	client ──Up──▶ ┌──────────── TCPProxy ─────────────┐ ──Up──▶ upstream
//	       ◀─Down─ │ per direction: reader ─▶ releaser │ ◀─Down─
//	               │ per connection: controller        │
//	               └───────────────────────────────────┘
//
// Bytes from the client to the upstream travel Up, the answers Down. Per
// direction, from the link in force when a chunk is read:
//
//   - delay (+ jitter): each chunk read is delayed by one draw; bytes stay
//     in order, a chunk is never released before the previous one;
//   - rate.bitrate: serialisation as at a bottleneck, len*8/bitrate per
//     chunk behind the previous one (overhead and queue limits are packet
//     notions and do not apply: TCP holds, it does not drop);
//   - tcp.slicer: chunks are cut into pieces of average_size ±
//     size_variation bytes (seeded), delay apart;
//   - tcp.slow_close: the close (FIN) of a direction is delayed so long;
//   - tcp.timeout: data is held while it is in force, and the connection
//     is closed once it has been in force so long (0: never closed);
//     toxiproxy drops the data instead, which corrupts the stream if the
//     timeout is lifted before it fires;
//   - tcp.reset_peer: the connection is reset (RST on both sides) once it
//     has been in force so long, even when no data flows (toxiproxy's
//     timer starts at the first data; netem's at the setting, so that a
//     scheduled "signaling drop" happens whatever the traffic);
//   - tcp.limit_data: the connection is closed once so many bytes went
//     through the direction (counted from when the limit came into force);
//   - blackhole and flap: data is held, not dropped, and released in order
//     once the link is up again: a real outage delays a TCP stream, it does
//     not corrupt it.
//
// Loss, duplicate, corrupt, reorder and mtu do not apply to a byte stream:
// TCP retransmits, reassembles and checksums below the socket, so what an
// application sees of them is delay and stalls; model those with delay,
// flap and blackhole. See the comment on tcpPlan for the order in which
// the impairments compose.
//
// A setting "comes into force" when a connection opens, when a schedule
// phase starts, or when SetProfile changes it; timeout and reset_peer count
// from then, so a phase with `tcp: {reset_peer: 0}` resets every
// connection at its start and every connection opened during it. Decisions
// are taken when a chunk is read: bytes already in flight keep their
// schedule across a phase boundary or a SetProfile, as packets already
// shaped keep their fate.
//
// Each chunk's decision (size, phase, delay until its last byte leaves) is
// recorded in the Shaper's ledger. Delay jitter and slicer sizes draw from
// random streams per connection and direction (purposes "tcp-delay:N" and
// "tcp-slicer:N", N counting connections from 1). The proxy runs on the
// Shaper's clock, so it works in a testing/synctest bubble given in-memory
// connections (WithTCPListener, WithTCPDialer).
type TCPProxy struct {
	shaper   *Shaper      // read-only
	upstream string       // read-only
	ln       net.Listener // read-only
	dial     DialFunc     // read-only

	ctx    context.Context    // cancelled by Close: ends dials in progress
	cancel context.CancelFunc // read-only
	wg     sync.WaitGroup     // the accept loop and every connection

	mu     sync.Mutex
	conns  map[*tcpConn]struct{} // guarded by mu
	nextID uint64                // guarded by mu
	closed bool                  // guarded by mu
}

// TCPProxyConfig says where a TCPProxy listens, where it connects and how
// it impairs.
type TCPProxyConfig struct {
	// Listen is the address to listen on; the default is "127.0.0.1:0".
	// It must be a loopback address unless WithTCPNonLoopback is given.
	Listen string
	// Upstream is the host:port every connection is forwarded to; a
	// loopback address unless WithTCPNonLoopback is given.
	Upstream string
	// Shaper is the impairment point (e.g. Name "signaling"): its profile,
	// seed, clock and ledger. Required.
	Shaper *Shaper
}

// DialFunc opens a connection, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// TCPProxyOption adjusts a TCPProxy at construction.
type TCPProxyOption func(*tcpProxyOptions) error

type tcpProxyOptions struct {
	nonLoopback bool
	ln          net.Listener
	dial        DialFunc
}

// WithTCPNonLoopback allows Listen and Upstream addresses other than
// loopback. Without it NewTCPProxy refuses them with ErrNotLoopback, so
// that a lab never exposes or reaches beyond the machine by mistake.
func WithTCPNonLoopback() TCPProxyOption {
	return func(o *tcpProxyOptions) error {
		o.nonLoopback = true
		return nil
	}
}

// WithTCPListener makes the proxy accept on ln instead of listening on
// Config.Listen (which is then ignored). The proxy owns ln and closes it on
// Close. Tests pass in-memory listeners to run in virtual time.
func WithTCPListener(ln net.Listener) TCPProxyOption {
	return func(o *tcpProxyOptions) error {
		if ln == nil {
			return fmt.Errorf("%w: nil listener", ErrBadConfig)
		}
		o.ln = ln
		return nil
	}
}

// WithTCPDialer makes the proxy open upstream connections with dial
// instead of a net.Dialer.
func WithTCPDialer(dial DialFunc) TCPProxyOption {
	return func(o *tcpProxyOptions) error {
		if dial == nil {
			return fmt.Errorf("%w: nil dialer", ErrBadConfig)
		}
		o.dial = dial
		return nil
	}
}

// NewTCPProxy listens and starts forwarding connections to cfg.Upstream
// through cfg.Shaper's profile. Close it to stop.
func NewTCPProxy(cfg TCPProxyConfig, opts ...TCPProxyOption) (*TCPProxy, error) {
	var o tcpProxyOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if cfg.Shaper == nil {
		return nil, fmt.Errorf("%w: a TCP proxy needs a Shaper, got nil", ErrBadConfig)
	}
	if err := checkHostPort("TCP proxy upstream", cfg.Upstream, o.nonLoopback, "WithTCPNonLoopback"); err != nil {
		return nil, err
	}
	if o.dial == nil {
		o.dial = (&net.Dialer{}).DialContext
	}
	if o.ln == nil {
		if cfg.Listen == "" {
			cfg.Listen = "127.0.0.1:0"
		}
		if err := checkHostPort("TCP proxy listen", cfg.Listen, o.nonLoopback, "WithTCPNonLoopback"); err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("netem: TCP proxy: %w", err)
		}
		o.ln = ln
	}
	p := &TCPProxy{
		shaper:   cfg.Shaper,
		upstream: cfg.Upstream,
		ln:       o.ln,
		dial:     o.dial,
		conns:    map[*tcpConn]struct{}{},
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the address clients connect to.
func (p *TCPProxy) Addr() net.Addr { return p.ln.Addr() }

// Shaper returns the impairment point the proxy applies.
func (p *TCPProxy) Shaper() *Shaper { return p.shaper }

// Conns returns the number of connections open through the proxy.
func (p *TCPProxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// ResetAll resets every open connection now: both the client and the
// upstream see a TCP RST ("connection reset by peer"), data in flight is
// discarded. New connections are accepted as before.
func (p *TCPProxy) ResetAll() {
	for _, c := range p.snapshot() {
		c.abort(true)
	}
}

// Close stops accepting, closes every connection and waits for every
// goroutine the proxy started. It is idempotent.
func (p *TCPProxy) Close() error {
	p.mu.Lock()
	first := !p.closed
	p.closed = true
	p.mu.Unlock()
	var err error
	if first {
		p.cancel()
		if cerr := p.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("netem: TCP proxy: closing the listener: %w", cerr)
		}
		for _, c := range p.snapshot() {
			c.abort(false)
		}
	}
	p.wg.Wait()
	return err
}

func (p *TCPProxy) snapshot() []*tcpConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*tcpConn, 0, len(p.conns))
	for c := range p.conns {
		out = append(out, c)
	}
	return out
}

func (p *TCPProxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// accept runs until the listener is closed. Other accept errors (out of
// file descriptors) are retried after a growing pause, as net/http does.
func (p *TCPProxy) accept() {
	defer p.wg.Done()
	const minPause, maxPause = 5 * time.Millisecond, time.Second
	pause := minPause
	for {
		cl, err := p.ln.Accept()
		if err != nil {
			if p.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			if !p.pause(pause) {
				return
			}
			pause = min(2*pause, maxPause)
			continue
		}
		pause = minPause
		p.start(cl)
	}
}

// pause waits d on the shaper's clock; false when the proxy closed.
func (p *TCPProxy) pause(d time.Duration) bool {
	t := p.shaper.Clock().NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-p.ctx.Done():
		return false
	}
}

func (p *TCPProxy) start(cl net.Conn) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		cl.Close()
		return
	}
	p.nextID++
	c := newTCPConn(p, p.nextID, cl)
	p.conns[c] = struct{}{}
	p.wg.Add(1) // under mu, so never after Close's Wait began
	p.mu.Unlock()
	go c.run()
}

func (p *TCPProxy) remove(c *tcpConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}
