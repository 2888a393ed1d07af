package lab

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pion/transport/v3"
)

// NAT rebinding mid-call for Go endpoints on vnet.
//
// vnet's NAT has no API to flush or expire a mapping early (its mappings
// only lapse after MappingLifeTime without outbound traffic). rebindNet
// gets the same effect from inside the LAN: it sits between the endpoint's
// vnet.Net and everything above it, and Rebind swaps the socket under every
// live UDP conn for a fresh one on the same LAN IP and a new port, while
// the conn keeps reporting its old LocalAddr to pion.
//
//	pion ── netem.WrapNet ── rebindNet ── vnet.Net (LAN) ── NAT ── WAN
//	                          rebindConn
//	                            cur ──▶ 10.0.1.2:5123   (before Rebind)
//	                            cur ──▶ 10.0.1.2:5871   (after: old closed)
//
// Seen from the WAN: the next outbound packet comes from a new local port,
// so the NAT makes a new mapping with a new external port; packets sent to
// the old mapping are still translated (the old mapping lives until its
// lifetime runs out) but reach a local port nobody listens on, and are
// lost. vnet's port-translating NAT (every preset but none and 1:1) never
// preserves ports: every new mapping takes the next port of a counter
// (0xC000 up), including the one made after a mapping expired. So on vnet
// "the NAT expired the mapping" and "the NAT changed the external port"
// are one and the same event, and this is it.
//
// Without a NAT, or behind vnet's 1:1 NAT (ports preserved), the port the
// WAN sees changes with the local one: an address change of the endpoint,
// which is harmless. Unlike a real rebinding, a peer on the same LAN
// would see the change too; the lab puts each Go endpoint on a LAN of its
// own, so there is none.
//
// The fresh port must be one this endpoint never used: the NAT keeps a
// mapping per local address for its lifetime (30 s on vnet), so a socket
// landing on a port an earlier socket had would revive that old mapping
// and its external port instead of making a new one. vnet picks local
// ports at random among 1,000 (5000-5999), so without this check an
// endpoint that has had k ports would hit one with odds k in 1,000 at
// each rebind (seen in 1 run of 20 of TestRebindUnderTraffic). rebindNet remembers every port
// it has handed out; Rebind holds on to a socket with a used port while
// it asks for another, so the next pick cannot return it.

// rebindNet is a transport.Net whose UDP conns can be rebound. Everything
// that is not UDP goes to inner untouched.
type rebindNet struct {
	inner transport.Net // read-only

	// Lock order: a rebindConn's mu, then this mu; never the other way.
	mu    sync.Mutex               // guards the fields below
	conns map[*rebindConn]struct{} // the live conns: added on open, removed on Close
	seq   uint64                   // creation counter, so Rebind goes in a stable order
	used  map[int]struct{}         // every local port a socket of ours has had
}

// rebindTries bounds the sockets Rebind opens for one conn while looking
// for an unused port; with vnet's 1,000 ports it only runs out once most
// of them have been used.
const rebindTries = 64

var _ transport.Net = (*rebindNet)(nil)

// newRebindNet wraps inner (the endpoint's vnet.Net inside its LAN).
func newRebindNet(inner transport.Net) *rebindNet {
	return &rebindNet{inner: inner, conns: map[*rebindConn]struct{}{}, used: map[int]struct{}{}}
}

// Rebind swaps the socket under every live UDP conn (see the comment at
// the top of this file) and returns how many were swapped. A conn whose
// fresh socket cannot be opened keeps its old one; the error names it.
func (r *rebindNet) Rebind() (int, error) {
	r.mu.Lock()
	conns := make([]*rebindConn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	slices.SortFunc(conns, func(a, b *rebindConn) int { return cmp.Compare(a.seq, b.seq) })

	n := 0
	var errs []error
	for _, c := range conns {
		swapped, err := c.rebind()
		if err != nil {
			errs = append(errs, err)
		}
		if swapped {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// closeAll closes every live conn. The lab calls it after its peers have
// closed: pion can leave a goroutine reading a socket it no longer
// closes (a server-reflexive gathering cancelled by the agent's Close),
// which would otherwise block until the read's deadline, and in a
// synctest bubble, whose time stops when its body returns, for good.
func (r *rebindNet) closeAll() error {
	r.mu.Lock()
	conns := make([]*rebindConn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	return nil
}

// adopt wraps a fresh UDP socket in a tracked rebindConn.
func (r *rebindNet) adopt(network string, uc transport.UDPConn) *rebindConn {
	c := &rebindConn{rn: r, network: network, laddr: uc.LocalAddr(), raddr: uc.RemoteAddr(), cur: uc}
	c.remote, _ = c.raddr.(*net.UDPAddr) // nil when unconnected, typed nil included
	r.mu.Lock()
	r.seq++
	c.seq = r.seq
	r.conns[c] = struct{}{}
	r.used[portOf(uc.LocalAddr())] = struct{}{}
	r.mu.Unlock()
	return c
}

// claim marks port used and reports whether it was unused until now.
func (r *rebindNet) claim(port int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.used[port]; ok {
		return false
	}
	r.used[port] = struct{}{}
	return true
}

func portOf(a net.Addr) int {
	if ua, ok := a.(*net.UDPAddr); ok {
		return ua.Port
	}
	return 0
}

func (r *rebindNet) forget(c *rebindConn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

// adoptConn wraps the conn of a udp dial and passes anything else through.
func (r *rebindNet) adoptConn(network string, c net.Conn, err error) (net.Conn, error) {
	if err != nil || !isUDP(network) {
		return c, err
	}
	uc, ok := c.(transport.UDPConn)
	if !ok {
		_ = c.Close()
		return nil, fmt.Errorf("%w: rebind: a %s dial returned %T, which is not a transport.UDPConn", ErrUnsupported, network, c)
	}
	return r.adopt(network, uc), nil
}

func isUDP(network string) bool { return strings.HasPrefix(network, "udp") }

func (r *rebindNet) ListenPacket(network, address string) (net.PacketConn, error) {
	pc, err := r.inner.ListenPacket(network, address)
	if err != nil || !isUDP(network) {
		return pc, err
	}
	uc, ok := pc.(transport.UDPConn)
	if !ok {
		_ = pc.Close()
		return nil, fmt.Errorf("%w: rebind: ListenPacket(%s) returned %T, which is not a transport.UDPConn", ErrUnsupported, network, pc)
	}
	return r.adopt(network, uc), nil
}

func (r *rebindNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	uc, err := r.inner.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return r.adopt(network, uc), nil
}

func (r *rebindNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	uc, err := r.inner.DialUDP(network, laddr, raddr)
	if err != nil {
		return nil, err
	}
	return r.adopt(network, uc), nil
}

func (r *rebindNet) Dial(network, address string) (net.Conn, error) {
	c, err := r.inner.Dial(network, address)
	return r.adoptConn(network, c, err)
}

// CreateDialer returns inner's dialer, with udp dials rebindable.
func (r *rebindNet) CreateDialer(d *net.Dialer) transport.Dialer {
	return rebindDialer{r: r, d: r.inner.CreateDialer(d)}
}

type rebindDialer struct {
	r *rebindNet
	d transport.Dialer
}

func (d rebindDialer) Dial(network, address string) (net.Conn, error) {
	c, err := d.d.Dial(network, address)
	return d.r.adoptConn(network, c, err)
}

func (r *rebindNet) ListenTCP(network string, laddr *net.TCPAddr) (transport.TCPListener, error) {
	return r.inner.ListenTCP(network, laddr)
}

func (r *rebindNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	return r.inner.DialTCP(network, laddr, raddr)
}

func (r *rebindNet) ResolveIPAddr(network, address string) (*net.IPAddr, error) {
	return r.inner.ResolveIPAddr(network, address)
}

func (r *rebindNet) ResolveUDPAddr(network, address string) (*net.UDPAddr, error) {
	return r.inner.ResolveUDPAddr(network, address)
}

func (r *rebindNet) ResolveTCPAddr(network, address string) (*net.TCPAddr, error) {
	return r.inner.ResolveTCPAddr(network, address)
}

func (r *rebindNet) Interfaces() ([]*transport.Interface, error) { return r.inner.Interfaces() }

func (r *rebindNet) InterfaceByIndex(index int) (*transport.Interface, error) {
	return r.inner.InterfaceByIndex(index)
}

func (r *rebindNet) InterfaceByName(name string) (*transport.Interface, error) {
	return r.inner.InterfaceByName(name)
}

// rebindConn is one UDP conn of a rebindNet: net.PacketConn, net.Conn
// (when connected) and transport.UDPConn. It starts no goroutine.
//
// Reads snapshot cur and read without holding mu, so a Rebind or a Close
// never waits on a blocked read: closing the old socket unblocks the
// reader, which sees gen moved and reads again from the new one. Writes
// hold mu shared for the whole write, so once Rebind returns nothing
// leaves from the old port (vnet's WriteTo does not refuse a closed conn).
type rebindConn struct {
	rn      *rebindNet        // read-only
	seq     uint64            // read-only
	network string            // read-only: as opened ("udp", "udp4", ...)
	laddr   net.Addr          // read-only: what LocalAddr reports for ever
	raddr   net.Addr          // read-only: the first socket's RemoteAddr, as it gave it
	remote  *net.UDPAddr      // read-only: raddr for re-dialing; nil if unconnected
	mu      sync.RWMutex      // guards the fields below; writes to them take it exclusively
	cur     transport.UDPConn // guarded by mu: the socket in use
	gen     uint64            // guarded by mu: bumped by each swap
	closed  bool              // guarded by mu: Close was called
	rdl     time.Time         // guarded by mu: the user's read deadline
	wdl     time.Time         // guarded by mu: the user's write deadline
	rbuf    int               // guarded by mu: the user's read buffer size, 0 if never set
	wbuf    int               // guarded by mu: the user's write buffer size, 0 if never set
}

var (
	_ transport.UDPConn = (*rebindConn)(nil)
	_ net.PacketConn    = (*rebindConn)(nil)
	_ net.Conn          = (*rebindConn)(nil)
)

// rebind swaps cur for a fresh socket with the user's deadlines and
// buffer sizes, then closes the old one. It reports whether it swapped: a
// closed conn is left alone, and so is one whose fresh socket fails.
func (c *rebindConn) rebind() (bool, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false, nil
	}
	fresh, err := c.openLocked()
	if err != nil {
		c.mu.Unlock()
		return false, fmt.Errorf("lab: rebind %s %s: %w", c.network, c.laddr, err)
	}
	old := c.cur
	c.cur = fresh
	c.gen++
	c.mu.Unlock()
	// Outside mu: closing unblocks a reader parked on old, which then
	// needs mu to see the new socket.
	_ = old.Close()
	return true, nil
}

// openLocked opens a socket on the same IP (and remote) with a port this
// endpoint never used, and applies the user's settings to it. Caller
// holds mu.
func (c *rebindConn) openLocked() (transport.UDPConn, error) {
	var held []transport.UDPConn // sockets on used ports, kept open until we are done
	defer func() {
		for _, h := range held {
			_ = h.Close()
		}
	}()
	for range rebindTries {
		fresh, err := c.dialLocked()
		if err != nil {
			return nil, err
		}
		if !c.rn.claim(portOf(fresh.LocalAddr())) {
			held = append(held, fresh)
			continue
		}
		if err := c.applyLocked(fresh); err != nil {
			_ = fresh.Close()
			return nil, err
		}
		return fresh, nil
	}
	return nil, fmt.Errorf("%w: rebind needs a local port this endpoint never used; %d tries found none", ErrUnsupported, rebindTries)
}

// dialLocked opens a socket like the first one, on an ephemeral port.
func (c *rebindConn) dialLocked() (transport.UDPConn, error) {
	// Fresh addresses every time: vnet writes the chosen port into laddr.
	laddr := &net.UDPAddr{}
	if ua, ok := c.laddr.(*net.UDPAddr); ok {
		laddr.IP, laddr.Zone = slices.Clone(ua.IP), ua.Zone
	}
	if c.remote != nil {
		raddr := &net.UDPAddr{IP: slices.Clone(c.remote.IP), Port: c.remote.Port, Zone: c.remote.Zone}
		return c.rn.inner.DialUDP(c.network, laddr, raddr)
	}
	return c.rn.inner.ListenUDP(c.network, laddr)
}

// applyLocked gives fresh the user's deadlines and buffer sizes.
func (c *rebindConn) applyLocked(fresh transport.UDPConn) error {
	err := errors.Join(fresh.SetReadDeadline(c.rdl), fresh.SetWriteDeadline(c.wdl))
	if c.rbuf > 0 {
		err = errors.Join(err, fresh.SetReadBuffer(c.rbuf))
	}
	if c.wbuf > 0 {
		err = errors.Join(err, fresh.SetWriteBuffer(c.wbuf))
	}
	return err
}

// Close closes the current socket; it unblocks a pending read, and every
// read and write after it fails with net.ErrClosed. Calls after the
// first do nothing and return nil.
func (c *rebindConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cur := c.cur
	c.mu.Unlock()
	c.rn.forget(c)
	return cur.Close()
}

// closedErr is the error of an operation after Close: errors.Is(err,
// net.ErrClosed) holds, as for the standard library's sockets (vnet's own
// closed error does not match net.ErrClosed; pion treats a match as a
// clean shutdown rather than a read failure worth a warning).
func (c *rebindConn) closedErr(op string) error {
	return &net.OpError{Op: op, Net: c.laddr.Network(), Addr: c.laddr, Err: net.ErrClosed}
}

// LocalAddr is the first socket's address, whatever socket is in use.
func (c *rebindConn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr is the first socket's remote address (a dialed conn
// re-dials the same remote).
func (c *rebindConn) RemoteAddr() net.Addr { return c.raddr }

// read runs op on the current socket, and again on the new one when a
// Rebind swapped the socket while op was blocked: the old socket's close
// is not the caller's error. An op that got data returns it as is.
func (c *rebindConn) read(op func(transport.UDPConn) (int, error)) (int, error) {
	for {
		c.mu.RLock()
		cur, gen, closed := c.cur, c.gen, c.closed
		c.mu.RUnlock()
		if closed {
			return 0, c.closedErr("read")
		}
		n, err := op(cur)
		if err == nil || n > 0 {
			return n, err
		}
		c.mu.RLock()
		closed, swapped := c.closed, c.gen != gen
		c.mu.RUnlock()
		switch {
		case closed:
			return 0, c.closedErr("read")
		case swapped:
			continue
		}
		return n, err
	}
}

func (c *rebindConn) ReadFrom(p []byte) (int, net.Addr, error) {
	var addr net.Addr
	n, err := c.read(func(cur transport.UDPConn) (int, error) {
		var (
			n   int
			err error
		)
		n, addr, err = cur.ReadFrom(p)
		return n, err
	})
	return n, addr, err
}

// ReadFromUDP is ReadFrom with the address as a *net.UDPAddr. It goes
// through ReadFrom because vnet's own ReadFromUDP replaces a timeout or
// close error by ErrNotUDPAddress.
func (c *rebindConn) ReadFromUDP(p []byte) (int, *net.UDPAddr, error) {
	n, addr, err := c.ReadFrom(p)
	if addr == nil {
		return n, nil, err
	}
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return n, nil, errors.Join(err, fmt.Errorf("%w: %s", transport.ErrNotUDPAddress, addr))
	}
	return n, ua, err
}

func (c *rebindConn) ReadMsgUDP(p, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	n, err = c.read(func(cur transport.UDPConn) (int, error) {
		var (
			n   int
			err error
		)
		n, oobn, flags, addr, err = cur.ReadMsgUDP(p, oob)
		return n, err
	})
	return n, oobn, flags, addr, err
}

func (c *rebindConn) Read(p []byte) (int, error) {
	return c.read(func(cur transport.UDPConn) (int, error) { return cur.Read(p) })
}

// write runs op on the current socket, holding mu shared so a Rebind
// waits for it.
func (c *rebindConn) write(op func(transport.UDPConn) error) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return c.closedErr("write")
	}
	return op(c.cur)
}

func (c *rebindConn) WriteTo(p []byte, addr net.Addr) (n int, err error) {
	err = c.write(func(cur transport.UDPConn) error { n, err = cur.WriteTo(p, addr); return err })
	return n, err
}

func (c *rebindConn) WriteToUDP(p []byte, addr *net.UDPAddr) (n int, err error) {
	err = c.write(func(cur transport.UDPConn) error { n, err = cur.WriteToUDP(p, addr); return err })
	return n, err
}

func (c *rebindConn) WriteMsgUDP(p, oob []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	err = c.write(func(cur transport.UDPConn) error { n, oobn, err = cur.WriteMsgUDP(p, oob, addr); return err })
	return n, oobn, err
}

func (c *rebindConn) Write(p []byte) (n int, err error) {
	err = c.write(func(cur transport.UDPConn) error { n, err = cur.Write(p); return err })
	return n, err
}

// set applies a setting to the current socket and, when that works,
// remember records it for the next socket.
func (c *rebindConn) set(apply func(transport.UDPConn) error, remember func()) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := apply(c.cur); err != nil {
		return err
	}
	remember()
	return nil
}

func (c *rebindConn) SetDeadline(t time.Time) error {
	return c.set(func(cur transport.UDPConn) error { return cur.SetDeadline(t) }, func() { c.rdl, c.wdl = t, t })
}

func (c *rebindConn) SetReadDeadline(t time.Time) error {
	return c.set(func(cur transport.UDPConn) error { return cur.SetReadDeadline(t) }, func() { c.rdl = t })
}

func (c *rebindConn) SetWriteDeadline(t time.Time) error {
	return c.set(func(cur transport.UDPConn) error { return cur.SetWriteDeadline(t) }, func() { c.wdl = t })
}

func (c *rebindConn) SetReadBuffer(bytes int) error {
	return c.set(func(cur transport.UDPConn) error { return cur.SetReadBuffer(bytes) }, func() { c.rbuf = bytes })
}

func (c *rebindConn) SetWriteBuffer(bytes int) error {
	return c.set(func(cur transport.UDPConn) error { return cur.SetWriteBuffer(bytes) }, func() { c.wbuf = bytes })
}

// SyscallConn is the current socket's, when it has one (vnet's have not).
// It goes stale at the next Rebind.
func (c *rebindConn) SyscallConn() (syscall.RawConn, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	sc, ok := c.cur.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%w: rebind: %T has no SyscallConn", ErrUnsupported, c.cur)
	}
	return sc.SyscallConn()
}
