package netem

import (
	"fmt"
	"net"
	"strings"

	"github.com/pion/transport/v3"
)

// WrapNet shapes a Go endpoint: every UDP conn that the returned Net hands
// out (ListenPacket, ListenUDP, DialUDP, and Dial or CreateDialer on a udp
// network) is a *PacketConn on sh, so the endpoint's writes go Up and its
// reads come Down. Everything else (TCP, interfaces, resolution) is n's.
//
// Pass it to pion's SettingEngine.SetNet. It works on a vnet.Net and on
// real sockets (stdnet) alike; on vnet it is the way to shape one endpoint,
// since vnet's NIC interface cannot be wrapped from outside its package and
// its router's MaxJitter stalls the whole router (FINDINGS.md).
//
// All conns share sh, so the endpoint has one ledger per direction. A nil
// n or sh gives a Net whose methods return ErrBadConfig.
func WrapNet(n transport.Net, sh *Shaper, opts ...PacketConnOption) transport.Net {
	return &shapedNet{n: n, sh: sh, opts: opts}
}

type shapedNet struct {
	n    transport.Net      // read-only
	sh   *Shaper            // read-only
	opts []PacketConnOption // read-only
}

var _ transport.Net = (*shapedNet)(nil)

func (s *shapedNet) check() error {
	if s.n == nil {
		return fmt.Errorf("%w: WrapNet needs a transport.Net, got nil", ErrBadConfig)
	}
	if s.sh == nil {
		return fmt.Errorf("%w: WrapNet needs a shaper, got nil", ErrBadConfig)
	}
	return nil
}

// wrap shapes pc, closing it if that fails.
func (s *shapedNet) wrap(pc net.PacketConn) (*PacketConn, error) {
	c, err := WrapPacketConn(pc, s.sh, s.opts...)
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	return c, nil
}

func (s *shapedNet) ListenPacket(network, address string) (net.PacketConn, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	pc, err := s.n.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	return s.wrap(pc)
}

func (s *shapedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	uc, err := s.n.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return s.wrap(uc)
}

func (s *shapedNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	uc, err := s.n.DialUDP(network, laddr, raddr)
	if err != nil {
		return nil, err
	}
	return s.wrap(uc)
}

func (s *shapedNet) Dial(network, address string) (net.Conn, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.shapeConn(network)(s.n.Dial(network, address))
}

// shapeConn returns a function that shapes the conn of a udp dial and
// passes anything else through.
func (s *shapedNet) shapeConn(network string) func(net.Conn, error) (net.Conn, error) {
	return func(c net.Conn, err error) (net.Conn, error) {
		if err != nil || !strings.HasPrefix(network, "udp") {
			return c, err
		}
		pc, ok := c.(net.PacketConn)
		if !ok {
			_ = c.Close()
			return nil, fmt.Errorf("%w: a udp dial returned %T, which is not a net.PacketConn", ErrNotSupported, c)
		}
		return s.wrap(pc)
	}
}

func (s *shapedNet) ListenTCP(network string, laddr *net.TCPAddr) (transport.TCPListener, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.n.ListenTCP(network, laddr)
}

func (s *shapedNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.n.DialTCP(network, laddr, raddr)
}

func (s *shapedNet) ResolveIPAddr(network, address string) (*net.IPAddr, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.n.ResolveIPAddr(network, address)
}

func (s *shapedNet) ResolveUDPAddr(network, address string) (*net.UDPAddr, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.n.ResolveUDPAddr(network, address)
}

func (s *shapedNet) ResolveTCPAddr(network, address string) (*net.TCPAddr, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.n.ResolveTCPAddr(network, address)
}

func (s *shapedNet) Interfaces() ([]*transport.Interface, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.n.Interfaces()
}

func (s *shapedNet) InterfaceByIndex(index int) (*transport.Interface, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.n.InterfaceByIndex(index)
}

func (s *shapedNet) InterfaceByName(name string) (*transport.Interface, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.n.InterfaceByName(name)
}

// CreateDialer returns n's dialer, with udp dials shaped.
func (s *shapedNet) CreateDialer(d *net.Dialer) transport.Dialer {
	if err := s.check(); err != nil {
		return failDialer{err}
	}
	return shapedDialer{s: s, d: s.n.CreateDialer(d)}
}

type shapedDialer struct {
	s *shapedNet
	d transport.Dialer
}

func (d shapedDialer) Dial(network, address string) (net.Conn, error) {
	return d.s.shapeConn(network)(d.d.Dial(network, address))
}

type failDialer struct{ err error }

func (d failDialer) Dial(string, string) (net.Conn, error) { return nil, d.err }
