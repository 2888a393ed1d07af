package lab

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/pion/stun/v3"
	"github.com/pion/transport/v3/vnet"
)

// A gateway is the lab's door to an external STUN or TURN server on
// 127.0.0.1 (a coturn, say): Go endpoints live on vnet and cannot reach
// loopback, so the server gets a WAN address whose packets the gateway
// carries over real loopback sockets, one per vnet client, so that the
// server sees one client per vnet address (the gateway is a 1:1 NAT into
// loopback).
//
//	endpoint ─ LAN/NAT ─ WAN ─ gateway 198.51.100.4:P ═ 127.0.0.1:x ─ server 127.0.0.1:P
//
// An external TURN server relays on loopback, so its relay-to-relay
// traffic stays there, and Go endpoints use relay candidates only (the
// lab sets peer.Config.RelayOnly): a host or server-reflexive pair would
// have the server send to a vnet address over the real network. The
// gateway enforces it: an Allocate answer that relays anywhere but
// loopback, and a permission, channel or send towards anything but
// loopback, go no further; the client gets a 403 saying why and the
// timeline a "refused" entry.
//
// Real sockets make a topology with an external server real-time only
// (Topology.RealTimeOnly).

// The gateways' WAN addresses: one per server kind.
const (
	gatewayTURNIP = "198.51.100.4"
	gatewaySTUNIP = "198.51.100.5"
)

// gatewayBuf is the largest datagram carried (a UDP payload's maximum).
const gatewayBuf = 64 << 10

type gateway struct {
	l      *Lab
	name   string         // "stun" or "turn", for the timeline
	wan    net.PacketConn // read-only: the vnet side
	server *net.UDPAddr   // read-only: the external server

	mu     sync.Mutex
	legs   map[string]*net.UDPConn // guarded by mu: by vnet client address
	closed bool                    // guarded by mu
	wg     sync.WaitGroup
}

// startGateways opens a gateway for each distinct port of an external
// server's URLs and returns the URLs rewritten to the gateways' WAN
// addresses.
func (l *Lab) startGateways(kind string, s Server) ([]string, error) {
	ip := gatewaySTUNIP
	if kind == "turn" {
		ip = gatewayTURNIP
	}
	n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
	if err != nil {
		return nil, err
	}
	if err := l.wan.AddNet(n); err != nil {
		return nil, err
	}
	open := map[int]bool{}
	out := make([]string, 0, len(s.URLs))
	for _, raw := range s.URLs {
		port, rewritten, err := gatewayURL(raw, ip)
		if err != nil {
			return nil, err
		}
		out = append(out, rewritten)
		if open[port] {
			continue
		}
		open[port] = true
		pc, err := n.ListenPacket("udp4", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			return nil, fmt.Errorf("lab: %s gateway on %s:%d: %w", kind, ip, port, err)
		}
		g := &gateway{l: l, name: kind, wan: pc, server: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port},
			legs: map[string]*net.UDPConn{}}
		g.wg.Go(g.run)
		l.onClose(g.close)
	}
	return out, nil
}

// gatewayURL checks an external server's URL (validated as loopback by
// the topology) and rewrites its host to the gateway's WAN address.
func gatewayURL(raw, ip string) (port int, rewritten string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %q: %v", ErrBadTopology, raw, err)
	}
	if u.Scheme == "stuns" || u.Scheme == "turns" {
		return 0, "", fmt.Errorf("%w: %q: the gateway carries UDP only (stun:, turn:)", ErrUnsupported, raw)
	}
	hostport, query, _ := strings.Cut(u.Opaque, "?")
	if query == "" {
		query = u.RawQuery
	}
	if q, _ := url.ParseQuery(query); q.Get("transport") != "" && q.Get("transport") != "udp" {
		return 0, "", fmt.Errorf("%w: %q: the gateway carries UDP only (transport=udp)", ErrUnsupported, raw)
	}
	port = iceServerPort
	if _, p, ok := strings.Cut(hostport, ":"); ok {
		if port, err = strconv.Atoi(p); err != nil || port <= 0 || port > 65535 {
			return 0, "", fmt.Errorf("%w: %q: bad port %q", ErrBadTopology, raw, p)
		}
	}
	rewritten = fmt.Sprintf("%s:%s:%d", u.Scheme, ip, port)
	if query != "" {
		rewritten += "?" + query
	}
	return port, rewritten, nil
}

// run carries client -> server until the WAN side closes.
func (g *gateway) run() {
	buf := make([]byte, gatewayBuf)
	for {
		n, from, err := g.wan.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		if why, bad := gatewayOffLoopback(buf[:n]); bad {
			g.refuse(buf[:n], from, why)
			continue
		}
		leg, err := g.leg(from)
		if err != nil {
			if !errors.Is(err, ErrClosed) {
				g.l.note("gateway:"+g.name, "error", err.Error())
			}
			continue
		}
		_, _ = leg.WriteToUDP(buf[:n], g.server) // UDP: a failed send is a lost packet
	}
}

// leg is from's loopback socket, opened on first use with a reader that
// carries the server's answers back to from.
func (g *gateway) leg(from net.Addr) (*net.UDPConn, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, ErrClosed
	}
	if c := g.legs[from.String()]; c != nil {
		return c, nil
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("lab: %s gateway: a loopback socket for %v: %w", g.name, from, err)
	}
	g.legs[from.String()] = c
	g.wg.Go(func() { g.back(c, from) })
	return c, nil
}

// back carries server -> client for one leg until it closes.
func (g *gateway) back(c *net.UDPConn, to net.Addr) {
	buf := make([]byte, gatewayBuf)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return // closed
		}
		if !from.IP.Equal(g.server.IP) || from.Port != g.server.Port {
			continue // only the server speaks on a leg
		}
		if why, bad := gatewayOffLoopback(buf[:n]); bad {
			g.refuse(buf[:n], to, why)
			continue
		}
		_, _ = g.wan.WriteTo(buf[:n], to) // UDP: a failed send is a lost packet
	}
}

// refuse drops msg, notes it on the timeline, and answers the client
// (to) with a 403 naming the reason, so that its TURN client fails at
// once and says why rather than retransmitting into silence. An
// indication gets no answer.
func (g *gateway) refuse(msg []byte, to net.Addr, why string) {
	g.l.note("gateway:"+g.name, "refused", fmt.Sprintf("%v: %s", to, why))
	m := &stun.Message{Raw: append([]byte(nil), msg...)}
	if err := m.Decode(); err != nil || m.Type.Class == stun.ClassIndication {
		return
	}
	res, err := stun.Build(stun.NewTransactionIDSetter(m.TransactionID),
		stun.NewType(m.Type.Method, stun.ClassErrorResponse),
		stun.ErrorCodeAttribute{Code: stun.CodeForbidden, Reason: []byte("netlab gateway: " + why)},
		stun.Fingerprint)
	if err != nil {
		return
	}
	_, _ = g.wan.WriteTo(res.Raw, to) // UDP: a failed send is a lost packet
}

// close ends the gateway and waits for its goroutines; idempotent.
func (g *gateway) close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	legs := g.legs
	g.legs = nil
	g.mu.Unlock()
	err := g.wan.Close()
	for _, c := range legs {
		_ = c.Close()
	}
	g.wg.Wait()
	return err
}

// gatewayOffLoopback says whether a STUN/TURN message would make the
// external server relay to, or from, an address off loopback: an
// Allocate answer with such a relayed address, or a request naming such
// a peer (CreatePermission, ChannelBind, Send). ChannelData and anything
// that is not STUN passes: channels are bound only by a checked
// ChannelBind.
func gatewayOffLoopback(b []byte) (string, bool) {
	if !stun.IsMessage(b) {
		return "", false
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := m.Decode(); err != nil {
		return "", false
	}
	check := func(t stun.AttrType, what string) (string, bool) {
		for _, a := range m.Attributes {
			if a.Type != t {
				continue
			}
			var x stun.XORMappedAddress
			if err := x.GetFromAs(m, t); err != nil {
				return fmt.Sprintf("%s: unreadable %s", m.Type, what), true
			}
			if !x.IP.IsLoopback() {
				return fmt.Sprintf("%s: %s %v is not on loopback", m.Type, what, x.IP), true
			}
		}
		return "", false
	}
	switch m.Type.Method {
	case stun.MethodAllocate:
		if m.Type.Class == stun.ClassSuccessResponse {
			return check(stun.AttrXORRelayedAddress, "relayed address")
		}
	case stun.MethodCreatePermission, stun.MethodChannelBind, stun.MethodSend:
		if m.Type.Class == stun.ClassRequest || m.Type.Class == stun.ClassIndication {
			return check(stun.AttrXORPeerAddress, "peer address")
		}
	}
	return "", false
}
