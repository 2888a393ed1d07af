package peer

import (
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v3"
	"github.com/pion/transport/v3/stdnet"
)

// guardNet is the Net a GoPeer hands pion. It notes when the last packet
// arrived (on any socket: STUN, DTLS, SRTP alike; pion's pair stats see
// only application packets), and it does two things to every conn it
// gives out:
//
//   - Kill: once killed, writes vanish (they report success, as on a host
//     that died mid-flight), so closing the pion peer afterwards tells the
//     remote nothing (no DTLS close_notify, no SCTP ABORT).
//   - loopbackOnly (Config.Net nil, real sockets): binds, dials and sends
//     go to loopback addresses only; an unspecified bind address becomes
//     the loopback one. That, with pion's IP and interface filters, is what
//     keeps a real-socket peer on 127.0.0.1.
type guardNet struct {
	transport.Net
	loopbackOnly bool // read-only
	dead         atomic.Bool
	lastRx       atomic.Int64 // unix nanoseconds of the last packet read, any socket
}

var _ transport.Net = (*guardNet)(nil)

// newGuardNet wraps n, or real sockets restricted to loopback when n is nil.
func newGuardNet(n transport.Net) (*guardNet, error) {
	if n != nil {
		return &guardNet{Net: n}, nil
	}
	std, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("peer: real network: %w", err)
	}
	return &guardNet{Net: std, loopbackOnly: true}, nil
}

func (g *guardNet) kill() { g.dead.Store(true) }

// received notes a packet read (n > 0, no error).
func (g *guardNet) received(n int, err error) {
	if n > 0 && err == nil {
		g.lastRx.Store(time.Now().UnixNano())
	}
}

// lastReceived is when the last packet was read, or zero.
func (g *guardNet) lastReceived() time.Time {
	ns := g.lastRx.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// errNotLoopback: a loopback-only Net was asked for another address.
func errNotLoopback(op string, addr any) error {
	return fmt.Errorf("%w: %s %v refused: this peer's Net is loopback-only (Config.Net nil)", ErrBadConfig, op, addr)
}

func isLoopbackAddr(a net.Addr) bool {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.IP.IsLoopback()
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.IPAddr:
		return a.IP.IsLoopback()
	}
	return false
}

// bindIP is the loopback IP that replaces an unspecified bind address.
func bindIP(network string, ip net.IP) (net.IP, bool) {
	if len(ip) == 0 || ip.IsUnspecified() {
		if network == "udp6" || network == "tcp6" {
			return net.IPv6loopback, true
		}
		return net.IPv4(127, 0, 0, 1), true
	}
	return ip, ip.IsLoopback()
}

func (g *guardNet) bindAddress(network, address string) (string, error) {
	if !g.loopbackOnly {
		return address, nil
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return "", fmt.Errorf("peer: bind address %q: %w", address, err)
	}
	ip, ok := bindIP(network, net.ParseIP(host))
	if !ok {
		return "", errNotLoopback("bind", address)
	}
	return net.JoinHostPort(ip.String(), port), nil
}

func (g *guardNet) ListenPacket(network, address string) (net.PacketConn, error) {
	address, err := g.bindAddress(network, address)
	if err != nil {
		return nil, err
	}
	pc, err := g.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	if uc, ok := pc.(transport.UDPConn); ok {
		return &guardUDPConn{UDPConn: uc, g: g}, nil
	}
	return &guardPacketConn{PacketConn: pc, g: g}, nil
}

func (g *guardNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	if g.loopbackOnly {
		a := net.UDPAddr{}
		if laddr != nil {
			a = *laddr
		}
		ip, ok := bindIP(network, a.IP)
		if !ok {
			return nil, errNotLoopback("bind", laddr)
		}
		a.IP = ip
		laddr = &a
	}
	uc, err := g.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return &guardUDPConn{UDPConn: uc, g: g}, nil
}

func (g *guardNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	if g.loopbackOnly && (raddr == nil || !raddr.IP.IsLoopback()) {
		return nil, errNotLoopback("dial", raddr)
	}
	uc, err := g.Net.DialUDP(network, laddr, raddr)
	if err != nil {
		return nil, err
	}
	return &guardUDPConn{UDPConn: uc, g: g}, nil
}

func (g *guardNet) Dial(network, address string) (net.Conn, error) {
	if err := g.checkDial(address); err != nil {
		return nil, err
	}
	c, err := g.Net.Dial(network, address)
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c, g: g}, nil
}

func (g *guardNet) checkDial(address string) error {
	if !g.loopbackOnly {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("peer: dial address %q: %w", address, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errNotLoopback("dial", address)
	}
	return nil
}

func (g *guardNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	if g.loopbackOnly && (raddr == nil || !raddr.IP.IsLoopback()) {
		return nil, errNotLoopback("dial", raddr)
	}
	c, err := g.Net.DialTCP(network, laddr, raddr)
	if err != nil {
		return nil, err
	}
	return &guardTCPConn{TCPConn: c, g: g}, nil
}

func (g *guardNet) ListenTCP(network string, laddr *net.TCPAddr) (transport.TCPListener, error) {
	if g.loopbackOnly {
		a := net.TCPAddr{}
		if laddr != nil {
			a = *laddr
		}
		ip, ok := bindIP(network, a.IP)
		if !ok {
			return nil, errNotLoopback("bind", laddr)
		}
		a.IP = ip
		laddr = &a
	}
	return g.Net.ListenTCP(network, laddr)
}

// Interfaces: in loopback mode only loopback interfaces, with only
// loopback addresses.
func (g *guardNet) Interfaces() ([]*transport.Interface, error) {
	ifs, err := g.Net.Interfaces()
	if err != nil || !g.loopbackOnly {
		return ifs, err
	}
	var out []*transport.Interface
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		lo := transport.NewInterface(ifc.Interface)
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.IsLoopback() {
				lo.AddAddress(a)
			}
		}
		out = append(out, lo)
	}
	return out, nil
}

func (g *guardNet) InterfaceByIndex(index int) (*transport.Interface, error) {
	if !g.loopbackOnly {
		return g.Net.InterfaceByIndex(index)
	}
	return g.pick(func(ifc *transport.Interface) bool { return ifc.Index == index }, strconv.Itoa(index))
}

func (g *guardNet) InterfaceByName(name string) (*transport.Interface, error) {
	if !g.loopbackOnly {
		return g.Net.InterfaceByName(name)
	}
	return g.pick(func(ifc *transport.Interface) bool { return ifc.Name == name }, name)
}

func (g *guardNet) pick(match func(*transport.Interface) bool, what string) (*transport.Interface, error) {
	ifs, err := g.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, ifc := range ifs {
		if match(ifc) {
			return ifc, nil
		}
	}
	return nil, fmt.Errorf("%w: interface %s (loopback-only Net)", transport.ErrInterfaceNotFound, what)
}

func (g *guardNet) CreateDialer(d *net.Dialer) transport.Dialer {
	return guardDialer{g: g, d: g.Net.CreateDialer(d)}
}

type guardDialer struct {
	g *guardNet
	d transport.Dialer
}

func (d guardDialer) Dial(network, address string) (net.Conn, error) {
	if err := d.g.checkDial(address); err != nil {
		return nil, err
	}
	c, err := d.d.Dial(network, address)
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c, g: d.g}, nil
}

// sendCheck reports whether a write to dst goes out (false: drop it
// silently, the peer is dead) or fails (loopback-only, dst elsewhere).
func (g *guardNet) sendCheck(dst net.Addr) (send bool, err error) {
	if g.dead.Load() {
		return false, nil
	}
	if g.loopbackOnly && dst != nil && !isLoopbackAddr(dst) {
		return false, errNotLoopback("send to", dst)
	}
	return true, nil
}

type guardPacketConn struct {
	net.PacketConn
	g *guardNet
}

func (c *guardPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(p)
	c.g.received(n, err)
	return n, a, err
}

func (c *guardPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ok, err := c.g.sendCheck(addr); !ok {
		return len(p), err
	}
	return c.PacketConn.WriteTo(p, addr)
}

type guardUDPConn struct {
	transport.UDPConn
	g *guardNet
}

func (c *guardUDPConn) Read(p []byte) (int, error) {
	n, err := c.UDPConn.Read(p)
	c.g.received(n, err)
	return n, err
}

func (c *guardUDPConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, a, err := c.UDPConn.ReadFrom(p)
	c.g.received(n, err)
	return n, a, err
}

func (c *guardUDPConn) ReadFromUDP(p []byte) (int, *net.UDPAddr, error) {
	n, a, err := c.UDPConn.ReadFromUDP(p)
	c.g.received(n, err)
	return n, a, err
}

func (c *guardUDPConn) ReadMsgUDP(p, oob []byte) (int, int, int, *net.UDPAddr, error) {
	n, oobn, flags, a, err := c.UDPConn.ReadMsgUDP(p, oob)
	c.g.received(n, err)
	return n, oobn, flags, a, err
}

func (c *guardUDPConn) Write(p []byte) (int, error) {
	if ok, err := c.g.sendCheck(c.RemoteAddr()); !ok {
		return len(p), err
	}
	return c.UDPConn.Write(p)
}

func (c *guardUDPConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ok, err := c.g.sendCheck(addr); !ok {
		return len(p), err
	}
	return c.UDPConn.WriteTo(p, addr)
}

func (c *guardUDPConn) WriteToUDP(p []byte, addr *net.UDPAddr) (int, error) {
	if ok, err := c.g.sendCheck(addr); !ok {
		return len(p), err
	}
	return c.UDPConn.WriteToUDP(p, addr)
}

func (c *guardUDPConn) WriteMsgUDP(p, oob []byte, addr *net.UDPAddr) (int, int, error) {
	var dst net.Addr = c.RemoteAddr()
	if addr != nil {
		dst = addr
	}
	if ok, err := c.g.sendCheck(dst); !ok {
		return len(p), len(oob), err
	}
	return c.UDPConn.WriteMsgUDP(p, oob, addr)
}

type guardConn struct {
	net.Conn
	g *guardNet
}

func (c *guardConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.g.received(n, err)
	return n, err
}

func (c *guardConn) Write(p []byte) (int, error) {
	if ok, err := c.g.sendCheck(c.RemoteAddr()); !ok {
		return len(p), err
	}
	return c.Conn.Write(p)
}

type guardTCPConn struct {
	transport.TCPConn
	g *guardNet
}

func (c *guardTCPConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	c.g.received(n, err)
	return n, err
}

func (c *guardTCPConn) Write(p []byte) (int, error) {
	if ok, err := c.g.sendCheck(c.RemoteAddr()); !ok {
		return len(p), err
	}
	return c.TCPConn.Write(p)
}
