package lab

import (
	"fmt"
	"net"

	"github.com/netlab/netlab/netem"
)

// Chrome cannot join vnet, so a Chrome endpoint enters the lab through the
// lab's TURN server: it gets a TURN listener of its own on 127.0.0.1,
// shaped by its profile, and its relays are allocated on the WAN like
// everyone's. Chrome runs relay-only, so every packet it sends goes to
// 127.0.0.1 (FINDINGS.md, Safety and Chrome).
//
//	Chrome tab ─ 127.0.0.1:P ═[netem, the endpoint's profile reversed]═ TURN ─ relay 198.51.100.3 ─ WAN ─ ...
//
// The listener is the far end of the endpoint's link: what the server
// reads from it is the endpoint's uplink and what it writes the
// endpoint's downlink, so its shaper runs the endpoint's profile reversed
// (netem.Profile.Reversed). A cut drops both ways at the listener.

// bridgeConn is a Chrome endpoint's TURN listener, shaped, with the cut
// switch of its endpoint.
type bridgeConn struct {
	net.PacketConn // the shaped listener
	ep             *endpoint
}

// listenBridge opens endpoint ep's TURN listener on 127.0.0.1 and shapes
// it with sh.
func listenBridge(ep *endpoint, sh *netem.Shaper) (*bridgeConn, error) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lab: TURN listener for %q: %w", ep.cfg.Name, err)
	}
	shaped, err := netem.WrapPacketConn(pc, sh, netem.WithPreciseTimers())
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	return &bridgeConn{PacketConn: shaped, ep: ep}, nil
}

// ReadFrom skips what arrives while the endpoint is cut.
func (c *bridgeConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, a, err := c.PacketConn.ReadFrom(p)
		if err != nil || !c.ep.isCut() {
			return n, a, err
		}
	}
}

// WriteTo drops what is sent while the endpoint is cut, as a network
// would: silently.
func (c *bridgeConn) WriteTo(p []byte, a net.Addr) (int, error) {
	if c.ep.isCut() {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, a)
}

// Port is the listener's port on 127.0.0.1.
func (c *bridgeConn) Port() int {
	if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
		return ua.Port
	}
	return 0
}
