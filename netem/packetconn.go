package netem

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netlab/netlab/internal/feed"
)

// PacketConn is a packet conn whose traffic crosses a Shaper. It satisfies
// net.PacketConn, net.Conn (when the wrapped conn is connected) and pion's
// transport.UDPConn, so one type serves WrapPacketConn and WrapNet.
//
//	endpoint --WriteTo--> Shape(Up) --up lane--> wrapped conn --> network
//	endpoint <--ReadFrom-- ready queue <--down lane-- Shape(Down) <--reader-- wrapped conn
//
// Writes are shaped on the caller's goroutine; a packet due at once goes
// straight out, a delayed one waits in the up lane's releaser. One reader
// goroutine per conn reads the wrapped conn, shapes each packet, and hands
// it to the down lane, whose deliver puts it in a bounded ready queue that
// ReadFrom pops. Dropped packets vanish silently, as on a network.
type PacketConn struct {
	pc    net.PacketConn                          // read-only: the wrapped conn
	wr    interface{ Write([]byte) (int, error) } // read-only: pc's Write, nil if it has none
	raddr net.Addr                                // read-only: pc's remote address, nil if unconnected
	sh    *Shaper                                 // read-only
	clock Clock                                   // read-only

	up    *lane[packet]       // writes towards the network
	down  *lane[packet]       // reads towards the endpoint
	ready *feed.Queue[packet] // bounded, towards ReadFrom
	rd    *deadline

	closed     atomic.Bool
	closing    chan struct{} // closed by Close
	readerDone chan struct{} // closed when the reader goroutine ends
	readErr    error         // why the reader ended; written before readerDone closes
	closeOnce  sync.Once
	closeErr   error // guarded by closeOnce

	readQueueDrops atomic.Uint64
	writeErrors    atomic.Uint64
	discarded      atomic.Uint64
}

// packet is one shaped datagram in a lane or the ready queue.
type packet struct {
	buf  *[]byte  // pooled copy of the payload
	addr net.Addr // destination (up) or source (down); nil: the connected peer
}

// PacketConnOption adjusts a PacketConn.
type PacketConnOption func(*connOptions) error

type connOptions struct {
	readQueue int
	precise   bool
}

// DefaultReadQueue is the default bound of a PacketConn's ready queue, in
// packets: about what a socket buffer holds. Packets that arrive when it
// is full are dropped and counted in PacketConnStats.ReadQueueDrops.
const DefaultReadQueue = 2048

// WithReadQueue bounds the ready queue to n packets (n >= 1).
func WithReadQueue(n int) PacketConnOption {
	return func(o *connOptions) error {
		if n < 1 {
			return fmt.Errorf("%w: read queue must hold at least 1 packet, got %d", ErrBadConfig, n)
		}
		o.readQueue = n
		return nil
	}
}

// WithPreciseTimers makes delays exact to tens of microseconds in real
// time: the runtime's timers alone deliver about 1 ms late on Linux. Use
// it for conns on real sockets (a TURN server's Chrome leg); never inside
// a synctest bubble, where it would wait real time on a virtual clock. It
// takes effect with SystemClock only.
func WithPreciseTimers() PacketConnOption {
	return func(o *connOptions) error {
		o.precise = true
		return nil
	}
}

// WrapPacketConn shapes pc with sh: writes go Up, reads come Down. The
// PacketConn owns pc from now on: Close closes it. Deadlines run on the
// shaper's clock.
func WrapPacketConn(pc net.PacketConn, sh *Shaper, opts ...PacketConnOption) (*PacketConn, error) {
	if pc == nil {
		return nil, fmt.Errorf("%w: WrapPacketConn needs a conn, got nil", ErrBadConfig)
	}
	if sh == nil {
		return nil, fmt.Errorf("%w: WrapPacketConn needs a shaper, got nil", ErrBadConfig)
	}
	o := connOptions{readQueue: DefaultReadQueue}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	c := &PacketConn{
		pc:         pc,
		sh:         sh,
		clock:      sh.Clock(),
		ready:      feed.NewBoundedQueue[packet](o.readQueue),
		rd:         newDeadline(),
		closing:    make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	if w, ok := pc.(interface{ Write([]byte) (int, error) }); ok {
		c.wr = w
	}
	if r, ok := pc.(interface{ RemoteAddr() net.Addr }); ok {
		if a := r.RemoteAddr(); !isNilAddr(a) {
			c.raddr = a
		}
	}
	precise := o.precise && c.clock == SystemClock
	c.up = newLane(c.clock, c.writeOut, precise)
	c.down = newLane(c.clock, c.enqueue, precise)
	go c.readLoop()
	return c, nil
}

// isNilAddr catches a typed nil (*net.UDPAddr)(nil) inside an interface.
func isNilAddr(a net.Addr) bool {
	if a == nil {
		return true
	}
	u, ok := a.(*net.UDPAddr)
	return ok && u == nil
}

// Shaper returns the shaper the conn was wrapped with.
func (c *PacketConn) Shaper() *Shaper { return c.sh }

// LocalAddr returns the wrapped conn's local address.
func (c *PacketConn) LocalAddr() net.Addr { return c.pc.LocalAddr() }

// RemoteAddr returns the wrapped conn's remote address, or nil when it is
// not connected.
func (c *PacketConn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets the read and write deadlines.
func (c *PacketConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for pending and future reads, on the
// shaper's clock. A zero t means no deadline.
func (c *PacketConn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", errConnClosed)
	}
	c.rd.set(t)
	return nil
}

// SetWriteDeadline passes t to the wrapped conn: it bounds the writes that
// reach it, inline or delayed.
func (c *PacketConn) SetWriteDeadline(t time.Time) error {
	return c.pc.SetWriteDeadline(t)
}

// SetReadBuffer sets the wrapped conn's receive buffer, if it has one.
func (c *PacketConn) SetReadBuffer(bytes int) error {
	if s, ok := c.pc.(interface{ SetReadBuffer(int) error }); ok {
		return s.SetReadBuffer(bytes)
	}
	return fmt.Errorf("%w: %T has no SetReadBuffer", ErrNotSupported, c.pc)
}

// SetWriteBuffer sets the wrapped conn's send buffer, if it has one.
func (c *PacketConn) SetWriteBuffer(bytes int) error {
	if s, ok := c.pc.(interface{ SetWriteBuffer(int) error }); ok {
		return s.SetWriteBuffer(bytes)
	}
	return fmt.Errorf("%w: %T has no SetWriteBuffer", ErrNotSupported, c.pc)
}

// PacketConnStats counts what a PacketConn lost outside the shaper's
// ledger, so that ledger + stats account for every packet.
type PacketConnStats struct {
	// ReadQueueDrops are packets the shaper delivered that found the ready
	// queue full (the reader was too slow), as a socket buffer overflows.
	ReadQueueDrops uint64
	// WriteErrors are delayed writes the wrapped conn refused.
	WriteErrors uint64
	// Discarded are packets still in flight, either way, at Close.
	Discarded uint64
}

// Stats returns the counters.
func (c *PacketConn) Stats() PacketConnStats {
	return PacketConnStats{
		ReadQueueDrops: c.readQueueDrops.Load(),
		WriteErrors:    c.writeErrors.Load(),
		Discarded:      c.discarded.Load(),
	}
}

// Close closes the wrapped conn, stops the lanes and the reader goroutine
// and waits for them. Packets in flight are discarded. It is idempotent:
// later calls return what the first returned.
func (c *PacketConn) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		close(c.closing)
		c.discard(c.up.close())
		c.closeErr = c.pc.Close()
		<-c.readerDone
		c.discard(c.down.close())
		for p, ok := c.ready.TryPop(); ok; p, ok = c.ready.TryPop() {
			c.discard([]packet{p})
		}
	})
	return c.closeErr
}

func (c *PacketConn) discard(ps []packet) {
	for _, p := range ps {
		putBuf(p.buf)
	}
	c.discarded.Add(uint64(len(ps)))
}

// errConnClosed is what I/O on a closed PacketConn returns (inside a
// *net.OpError): it matches both net.ErrClosed and ErrClosed.
var errConnClosed = fmt.Errorf("%w: %w", ErrClosed, net.ErrClosed)

func (c *PacketConn) opError(op string, err error) error {
	la := c.pc.LocalAddr()
	e := &net.OpError{Op: op, Addr: la, Err: err}
	if la != nil {
		e.Net = la.Network()
	}
	return e
}
