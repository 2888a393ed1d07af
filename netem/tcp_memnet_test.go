package netem

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// tcpMemNet is an in-memory TCP-like network for tests in a synctest bubble:
// real sockets are not durably blocking, so virtual time would not advance
// while the proxy waits on them. Its conns buffer like TCP (writes do not
// wait for the reader), half-close (CloseWrite) and reset (SetLinger(0) then
// Close makes the peer's reads and writes fail with ECONNRESET); blocking
// uses sync.Cond, which synctest counts as durable.
type tcpMemNet struct {
	mu        sync.Mutex
	listeners map[string]*tcpMemListener
}

func newTCPMemNet() *tcpMemNet { return &tcpMemNet{listeners: map[string]*tcpMemListener{}} }

type tcpMemAddr string

func (a tcpMemAddr) Network() string { return "mem" }
func (a tcpMemAddr) String() string  { return string(a) }

func (n *tcpMemNet) Listen(addr string) *tcpMemListener {
	l := &tcpMemListener{addr: tcpMemAddr(addr), ch: make(chan net.Conn, 16), done: make(chan struct{})}
	n.mu.Lock()
	n.listeners[addr] = l
	n.mu.Unlock()
	return l
}

// Dial connects to a listener; it is a DialFunc.
func (n *tcpMemNet) Dial(ctx context.Context, _, addr string) (net.Conn, error) {
	n.mu.Lock()
	l := n.listeners[addr]
	n.mu.Unlock()
	refused := &net.OpError{Op: "dial", Net: "mem", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	if l == nil {
		return nil, refused
	}
	select {
	case <-l.done: // checked first: a select picks at random
		return nil, refused
	default:
	}
	a, b := tcpMemConnPair(tcpMemAddr("client:"+addr), tcpMemAddr(addr))
	select {
	case l.ch <- b:
		return a, nil
	case <-l.done:
		return nil, refused
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type tcpMemListener struct {
	addr tcpMemAddr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func (l *tcpMemListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *tcpMemListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *tcpMemListener) Addr() net.Addr { return l.addr }

// tcpMemPipe is one direction of a tcpMemConn.
type tcpMemPipe struct {
	mu     sync.Mutex
	cond   sync.Cond
	buf    []byte
	eof    bool // the writer closed for writing
	gone   bool // the reader closed: writes fail
	reset  bool // an RST: everything fails
	rdDead bool // the reader's own conn is closed
}

func newTCPMemPipe() *tcpMemPipe {
	p := &tcpMemPipe{}
	p.cond.L = &p.mu
	return p
}

type tcpMemConn struct {
	in, out       *tcpMemPipe
	local, remote tcpMemAddr
	mu            sync.Mutex
	linger0       bool // guarded by mu
	closed        bool // guarded by mu
}

func tcpMemConnPair(a, b tcpMemAddr) (*tcpMemConn, *tcpMemConn) {
	ab, ba := newTCPMemPipe(), newTCPMemPipe()
	return &tcpMemConn{in: ba, out: ab, local: a, remote: b}, &tcpMemConn{in: ab, out: ba, local: b, remote: a}
}

func tcpConnReset(op string) error {
	return &net.OpError{Op: op, Net: "mem", Err: os.NewSyscallError(op, syscall.ECONNRESET)}
}

func (c *tcpMemConn) Read(b []byte) (int, error) {
	p := c.in
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 && !p.eof && !p.reset && !p.rdDead {
		p.cond.Wait()
	}
	switch {
	case p.rdDead:
		return 0, net.ErrClosed
	case p.reset:
		return 0, tcpConnReset("read")
	case len(p.buf) > 0:
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		return n, nil
	}
	return 0, io.EOF
}

func (c *tcpMemConn) Write(b []byte) (int, error) {
	p := c.out
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.reset || p.gone:
		return 0, tcpConnReset("write")
	case p.eof:
		return 0, net.ErrClosed
	}
	p.buf = append(p.buf, b...)
	p.cond.Broadcast()
	return len(b), nil
}

func (c *tcpMemConn) CloseWrite() error {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	c.out.eof = true
	c.out.cond.Broadcast()
	return nil
}

func (c *tcpMemConn) SetLinger(sec int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.linger0 = sec == 0
	return nil
}

func (c *tcpMemConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	reset := c.linger0
	c.mu.Unlock()
	for _, p := range []*tcpMemPipe{c.in, c.out} {
		p.mu.Lock()
		if reset {
			p.reset = true
		}
		if p == c.out {
			p.eof = true
		} else {
			p.gone, p.rdDead = true, true
		}
		p.cond.Broadcast()
		p.mu.Unlock()
	}
	return nil
}

func (c *tcpMemConn) LocalAddr() net.Addr              { return c.local }
func (c *tcpMemConn) RemoteAddr() net.Addr             { return c.remote }
func (c *tcpMemConn) SetDeadline(time.Time) error      { return nil }
func (c *tcpMemConn) SetReadDeadline(time.Time) error  { return nil }
func (c *tcpMemConn) SetWriteDeadline(time.Time) error { return nil }
