package lab

import (
	"fmt"
	"net"
	"strconv"
	"sync/atomic"

	"github.com/pion/transport/v3/vnet"
	"github.com/pion/turn/v4"
	"github.com/pion/webrtc/v4"
)

// The lab TURN server's long-term credentials (RFC 8489 section 9.2).
const (
	TURNRealm    = "netlab"
	TURNUser     = "netlab"
	TURNPassword = "netlab"
)

type iceServer struct {
	urls           []string
	user, password string
}

// stats of the lab's servers, read by Stats.
type serverStats struct {
	authFailures atomic.Uint64 // TURN requests refused for their credentials
}

// buildServers starts the STUN and TURN servers the topology asks for.
// Each lives on its own WAN address, so that WAN counters tell STUN from
// TURN. Both are pion/turn servers (which answer STUN binding requests);
// the STUN one refuses every allocation.
func (l *Lab) buildServers() error {
	switch l.topo.STUN.Mode {
	case ServerOn:
		if err := l.startTURN(stunIP, false); err != nil {
			return fmt.Errorf("lab: STUN server: %w", err)
		}
		l.ice = append(l.ice, iceServer{urls: []string{fmt.Sprintf("stun:%s:%d", stunIP, iceServerPort)}})
	case ServerExternal:
		urls, err := l.startGateways("stun", l.topo.STUN)
		if err != nil {
			return fmt.Errorf("lab: external STUN server: %w", err)
		}
		l.ice = append(l.ice, iceServer{urls: urls})
	}
	switch l.topo.TURN.Mode {
	case ServerOn:
		if err := l.startTURN(turnIP, true); err != nil {
			return fmt.Errorf("lab: TURN server: %w", err)
		}
		l.ice = append(l.ice, iceServer{
			urls: []string{fmt.Sprintf("turn:%s:%d?transport=udp", turnIP, iceServerPort)},
			user: TURNUser, password: TURNPassword,
		})
	case ServerExternal:
		urls, err := l.startGateways("turn", l.topo.TURN)
		if err != nil {
			return fmt.Errorf("lab: external TURN server: %w", err)
		}
		l.ice = append(l.ice, iceServer{urls: urls, user: l.topo.TURN.Username, password: l.topo.TURN.Credential})
	}
	return nil
}

// startTURN runs a pion/turn server on ip:3478 of the WAN, relaying on the
// same address when relay is true.
func (l *Lab) startTURN(ip string, relay bool) error {
	n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
	if err != nil {
		return err
	}
	if err := l.wan.AddNet(n); err != nil {
		return err
	}
	pc, err := n.ListenPacket("udp4", fmt.Sprintf("%s:%d", ip, iceServerPort))
	if err != nil {
		return err
	}
	key := turn.GenerateAuthKey(TURNUser, TURNRealm, TURNPassword)
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:         TURNRealm,
		LoggerFactory: l.logger,
		// pion asks AuthHandler for the user's key, then checks the
		// request's MESSAGE-INTEGRITY with it: an unknown user fails
		// here, a wrong password in the check, which only OnAuth (verdict
		// false) reports. Each failed request is counted once.
		AuthHandler: func(user, realm string, src net.Addr) ([]byte, bool) {
			if !relay {
				return nil, false // a STUN server: no allocations
			}
			if user != TURNUser || realm != TURNRealm {
				l.turnAuthFailed(fmt.Sprintf("from %v: unknown user %q in realm %q", src, user, realm))
				return nil, false
			}
			return key, true
		},
		EventHandler: turn.EventHandler{
			OnAuth: func(src, _ net.Addr, _, user, realm, method string, ok bool) {
				if !ok {
					l.turnAuthFailed(fmt.Sprintf("from %v: %s by user %q in realm %q: wrong password (MESSAGE-INTEGRITY check failed)", src, method, user, realm))
				}
			},
		},
		PacketConnConfigs: l.turnListeners(pc, ip, n, relay),
	})
	if err != nil {
		_ = pc.Close()
		return err
	}
	l.onClose(srv.Close)
	return nil
}

// turnListeners are the server's listeners: its own on the WAN and, for
// the TURN server, each Chrome endpoint's on 127.0.0.1 (bridge.go). Every
// one allocates its relays on the WAN.
func (l *Lab) turnListeners(wan net.PacketConn, ip string, n *vnet.Net, relay bool) []turn.PacketConnConfig {
	gen := func() turn.RelayAddressGenerator { return &wanRelays{ip: ip, net: n} }
	out := []turn.PacketConnConfig{{PacketConn: wan, RelayAddressGenerator: gen()}}
	if !relay {
		return out
	}
	for _, name := range l.order {
		if b := l.eps[name].bridge; b != nil {
			out = append(out, turn.PacketConnConfig{PacketConn: b, RelayAddressGenerator: gen()})
		}
	}
	return out
}

// wanRelays allocates relays on the WAN. pion/turn's static generator
// writes its relay IP into the address the conn's LocalAddr returns, and
// vnet returns its own copy, which its router reads meanwhile (a data race
// under -race, seen with Chrome endpoints' listeners): this one returns a
// fresh address instead.
type wanRelays struct {
	ip  string
	net *vnet.Net
}

func (g *wanRelays) Validate() error { return nil }

func (g *wanRelays) AllocatePacketConn(network string, port int) (net.PacketConn, net.Addr, error) {
	conn, err := g.net.ListenPacket(network, net.JoinHostPort(g.ip, strconv.Itoa(port)))
	if err != nil {
		return nil, nil, err
	}
	la, ok := conn.LocalAddr().(*net.UDPAddr)
	if !ok {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("lab: relay %v is not UDP", conn.LocalAddr())
	}
	return conn, &net.UDPAddr{IP: net.ParseIP(g.ip), Port: la.Port}, nil
}

func (g *wanRelays) AllocateConn(string, int) (net.Conn, net.Addr, error) {
	return nil, nil, fmt.Errorf("%w: TCP relays", ErrUnsupported)
}

// chromeICEServers is what a Chrome endpoint is given: its own listener
// on the lab's TURN server, or the external TURN server.
func (l *Lab) chromeICEServers(ep *endpoint) []webrtc.ICEServer {
	if ep.bridge != nil {
		return []webrtc.ICEServer{{
			URLs:     []string{fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", ep.bridge.Port())},
			Username: TURNUser, Credential: TURNPassword,
		}}
	}
	return []webrtc.ICEServer{{URLs: l.topo.TURN.URLs, Username: l.topo.TURN.Username, Credential: l.topo.TURN.Credential}}
}

// iceServers is what a Go peer is given.
func (l *Lab) iceServers() []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(l.ice))
	for _, s := range l.ice {
		ws := webrtc.ICEServer{URLs: s.urls}
		if s.user != "" {
			ws.Username, ws.Credential = s.user, s.password
		}
		out = append(out, ws)
	}
	return out
}

// TURNAuthFailures counts TURN requests the lab's TURN server refused for
// their credentials: an unknown user or realm, or a known user with the
// wrong password (the request's MESSAGE-INTEGRITY does not check). A
// misconfigured endpoint never gets a relay, and pion logs nothing about
// it (FINDINGS.md), so the lab counts each and records it on the timeline
// ("turn" "auth-failed").
func (l *Lab) TURNAuthFailures() uint64 { return l.servers.authFailures.Load() }

// turnAuthFailed counts and records one refused TURN request.
func (l *Lab) turnAuthFailed(detail string) {
	l.servers.authFailures.Add(1)
	l.note("turn", "auth-failed", detail)
}
