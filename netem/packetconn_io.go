package netem

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// WriteTo shapes p in direction Up and sends it to addr. A dropped packet
// reports success, as a network would; a delayed one is copied (callers
// reuse p) and sent from the up lane at its due time.
func (c *PacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if isNilAddr(addr) {
		// Let the wrapped conn say what is wrong, now rather than later.
		return c.pc.WriteTo(p, nil)
	}
	return c.write(p, addr)
}

// Write sends p to the connected peer, shaped like WriteTo.
func (c *PacketConn) Write(p []byte) (int, error) {
	if c.raddr == nil || c.wr == nil {
		if c.wr != nil {
			return c.wr.Write(p) // the wrapped conn's own "not connected" error
		}
		return 0, c.opError("write", fmt.Errorf("%w: Write needs a connected conn, %T is not", ErrNotSupported, c.pc))
	}
	return c.write(p, nil)
}

// WriteToUDP is WriteTo for a *net.UDPAddr.
func (c *PacketConn) WriteToUDP(p []byte, addr *net.UDPAddr) (int, error) {
	if addr == nil {
		return c.WriteTo(p, nil)
	}
	return c.WriteTo(p, addr)
}

// WriteMsgUDP writes p like WriteToUDP (or Write when addr is nil). Control
// messages cannot cross netem: a non-empty oob returns ErrNotSupported.
func (c *PacketConn) WriteMsgUDP(p, oob []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	if len(oob) > 0 {
		return 0, 0, c.opError("write", fmt.Errorf("%w: control messages (%d bytes of oob) through a shaped conn", ErrNotSupported, len(oob)))
	}
	if addr == nil {
		n, err = c.Write(p)
	} else {
		n, err = c.WriteTo(p, addr)
	}
	return n, 0, err
}

func (c *PacketConn) write(p []byte, addr net.Addr) (int, error) {
	if c.closed.Load() {
		return 0, c.opError("write", errConnClosed)
	}
	now := c.clock.Now()
	f := c.sh.Shape(now, len(p), Up)
	if f.Dropped() {
		return len(p), nil
	}
	if f.Delay <= 0 && !f.Corrupt && !f.Dup && c.up.clear() {
		// The fast path: the write completes before we return, so the
		// caller's buffer needs no copy.
		return c.writeRaw(p, addr)
	}
	b := copyBuf(p)
	f.Apply(*b)
	if !c.up.send(now, f.Delay, packet{buf: b, addr: addr}) {
		putBuf(b)
		return 0, c.opError("write", errConnClosed)
	}
	if f.Dup {
		// As in tc-netem, the duplicate is cloned before corruption.
		d := copyBuf(p)
		if !c.up.send(now, f.DupDelay, packet{buf: d, addr: addr}) {
			putBuf(d)
		}
	}
	return len(p), nil
}

// writeOut is the up lane's deliver.
func (c *PacketConn) writeOut(p packet) {
	if _, err := c.writeRaw(*p.buf, p.addr); err != nil {
		c.writeErrors.Add(1)
	}
	putBuf(p.buf)
}

func (c *PacketConn) writeRaw(b []byte, addr net.Addr) (int, error) {
	if addr == nil {
		return c.wr.Write(b)
	}
	return c.pc.WriteTo(b, addr)
}

// readLoop is the reader goroutine: it reads the wrapped conn until it
// fails (Close closes it) and shapes every packet in direction Down.
func (c *PacketConn) readLoop() {
	defer close(c.readerDone)
	bp := readBufPool.Get().(*[]byte)
	defer readBufPool.Put(bp)
	buf := *bp
	for {
		n, addr, err := c.pc.ReadFrom(buf)
		if n > 0 || err == nil {
			c.arrive(buf[:n], addr)
		}
		if err != nil {
			if c.closed.Load() || !transientReadError(err) {
				c.readErr = err
				return
			}
		}
	}
}

// readBufPool holds the readers' datagram buffers: a lab opens and closes
// thousands of conns, and each reader needs 64 KB to never truncate.
var readBufPool = sync.Pool{New: func() any {
	b := make([]byte, maxDatagram)
	return &b
}}

// transientReadError: an ICMP error reported on a UDP socket; the socket
// goes on working.
func transientReadError(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

func (c *PacketConn) arrive(data []byte, addr net.Addr) {
	now := c.clock.Now()
	f := c.sh.Shape(now, len(data), Down)
	if f.Dropped() {
		return
	}
	b := copyBuf(data)
	f.Apply(*b)
	if !c.down.send(now, f.Delay, packet{buf: b, addr: addr}) {
		c.discard([]packet{{buf: b}})
		return
	}
	if f.Dup {
		d := copyBuf(data)
		if !c.down.send(now, f.DupDelay, packet{buf: d, addr: addr}) {
			c.discard([]packet{{buf: d}})
		}
	}
}

// enqueue is the down lane's deliver: into the ready queue, or dropped
// when it is full, as a socket buffer overflows.
func (c *PacketConn) enqueue(p packet) {
	if !c.ready.Push(p) {
		c.readQueueDrops.Add(1)
		putBuf(p.buf)
	}
}

// ReadFrom returns the next packet that crossed the shaper, waiting until
// one is due, the read deadline passes (an error whose Timeout() is true,
// matching os.ErrDeadlineExceeded) or the conn is closed. A packet longer
// than p is truncated, as on a UDP socket.
func (c *PacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	pkt, err := c.next()
	if err != nil {
		return 0, nil, err
	}
	n := copy(p, *pkt.buf)
	putBuf(pkt.buf)
	return n, pkt.addr, nil
}

// Read is ReadFrom without the address, for a connected conn.
func (c *PacketConn) Read(p []byte) (int, error) {
	n, _, err := c.ReadFrom(p)
	return n, err
}

// ReadFromUDP is ReadFrom returning a *net.UDPAddr.
func (c *PacketConn) ReadFromUDP(p []byte) (int, *net.UDPAddr, error) {
	n, addr, err := c.ReadFrom(p)
	if err != nil {
		return n, nil, err
	}
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return n, nil, c.opError("read", fmt.Errorf("%w: want a *net.UDPAddr source, got %T", ErrNotSupported, addr))
	}
	return n, ua, nil
}

// ReadMsgUDP is ReadFromUDP; control messages do not cross netem, so oobn
// and flags are always 0.
func (c *PacketConn) ReadMsgUDP(p, _ []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	n, addr, err = c.ReadFromUDP(p)
	return n, 0, 0, addr, err
}

// next pops the ready queue, honouring the read deadline and Close.
func (c *PacketConn) next() (packet, error) {
	var timer Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if c.closed.Load() {
			return packet{}, c.opError("read", errConnClosed)
		}
		if p, ok := c.ready.TryPop(); ok {
			return p, nil
		}
		at, changed := c.rd.get()
		var expired <-chan time.Time
		if !at.IsZero() {
			wait := at.Sub(c.clock.Now())
			if wait <= 0 {
				return packet{}, c.opError("read", os.ErrDeadlineExceeded)
			}
			if timer == nil {
				timer = c.clock.NewTimer(wait)
			} else {
				timer.Stop()
				timer.Reset(wait)
			}
			expired = timer.C()
		}
		select {
		case <-c.ready.Ready(): // look again
		case <-expired: // look at the deadline again: it may have moved
		case <-changed:
		case <-c.closing:
		case <-c.readerDone:
			if c.closed.Load() {
				continue
			}
			// The wrapped conn failed: serve what is ready, then its error.
			if p, ok := c.ready.TryPop(); ok {
				return p, nil
			}
			return packet{}, c.readErr
		}
	}
}
