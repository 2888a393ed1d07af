package lab

import (
	"fmt"
	"net"
	"sync"

	"github.com/pion/transport/v3"
	"github.com/pion/transport/v3/vnet"
	"github.com/pion/webrtc/v4"

	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
)

// Addresses. The WAN and every public address come from RFC 5737's
// TEST-NET-2 and LANs from RFC 1918, so that nothing could be routed off
// the machine even by a peer that escaped vnet (FINDINGS.md, Safety).
const (
	WANCIDR       = "198.51.100.0/24"
	stunIP        = "198.51.100.2"
	turnIP        = TURNIP
	iceServerPort = 3478
	firstPublic   = 10 // endpoint i's public address is 198.51.100.(10+i)
)

// TURNIP is the WAN address of the lab's TURN server and of every relay
// it allocates: a selected pair with it on either side is relayed,
// whatever the candidate's type says.
const TURNIP = "198.51.100.3"

// publicIP is endpoint i's address on the WAN: its own (NAT none) or its
// NAT's.
func publicIP(i int) string { return fmt.Sprintf("198.51.100.%d", firstPublic+i) }

// lanCIDR and lanIP: endpoint i's LAN is 10.0.(i+1).0/24 and its host
// 10.0.(i+1).2. Distinct LANs, so that no host candidate of one endpoint
// names a host of another.
func lanCIDR(i int) string { return fmt.Sprintf("10.0.%d.0/24", i+1) }
func lanIP(i int) string   { return fmt.Sprintf("10.0.%d.2", i+1) }

// endpoint is one endpoint's network: its host, its NAT router (if any),
// its impairment point and the rebinding layer under it.
//
//	pion ── netem.WrapNet(shaper) ── rebindNet ── host vnet.Net ── LAN router + NAT ── WAN
type endpoint struct {
	cfg      EndpointConfig // read-only
	index    int            // read-only
	publicIP string         // read-only: on the WAN
	hostIP   string         // read-only: the host's own address
	shaper   *netem.Shaper  // read-only
	rebind   *rebindNet     // read-only
	net      transport.Net  // read-only: what pion is given; nil for Chrome
	lan      *vnet.Router   // read-only; nil without NAT
	bridge   *bridgeConn    // read-only: a Chrome endpoint's TURN listener; nil for Go

	mu   sync.Mutex
	cut  bool                // guarded by mu
	cert *webrtc.Certificate // guarded by mu: its Go peers' DTLS certificate (certificate)
}

// buildWAN makes the WAN router and its filter (cuts).
func (l *Lab) buildWAN() error {
	wan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: WANCIDR, LoggerFactory: l.logger})
	if err != nil {
		return fmt.Errorf("lab: WAN: %w", err)
	}
	l.wan = wan
	wan.AddChunkFilter(l.filter)
	return nil
}

// buildEndpoint makes endpoint i: its host, behind a NAT router when it
// has one, and its shaper.
func (l *Lab) buildEndpoint(i int, ec EndpointConfig) (*endpoint, error) {
	ep := &endpoint{cfg: ec, index: i, publicIP: publicIP(i)}
	if ec.Kind == peer.KindChrome {
		return ep, l.buildChromeEndpoint(ep)
	}
	var host *vnet.Net
	var err error
	if ec.NAT == NATNone {
		ep.hostIP = ep.publicIP
		if host, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ep.hostIP}}); err != nil {
			return nil, err
		}
		if err := l.wan.AddNet(host); err != nil {
			return nil, err
		}
	} else {
		ep.hostIP = lanIP(i)
		static := ep.publicIP
		if ec.NAT == NATOneToOne {
			static = ep.publicIP + "/" + ep.hostIP // vnet's "public/private" pairing
		}
		lan, err := vnet.NewRouter(&vnet.RouterConfig{
			Name:          "lan-" + ec.Name,
			CIDR:          lanCIDR(i),
			StaticIPs:     []string{static},
			NATType:       ec.NAT.vnetType(l.topo.NATMappingLifetime),
			LoggerFactory: l.logger,
		})
		if err != nil {
			return nil, err
		}
		if host, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ep.hostIP}}); err != nil {
			return nil, err
		}
		if err := lan.AddNet(host); err != nil {
			return nil, err
		}
		if err := l.wan.AddRouter(lan); err != nil {
			return nil, err
		}
		ep.lan = lan
	}
	prof, err := endpointProfile(ec)
	if err != nil {
		return nil, err
	}
	sh, err := netem.New(netem.Config{Name: ec.Name, Profile: prof, Seed: l.topo.Seed}, l.shaperOptions()...)
	if err != nil {
		return nil, err
	}
	ep.shaper = sh
	ep.rebind = newRebindNet(host)
	ep.net = netem.WrapNet(ep.rebind, sh)
	return ep, nil
}

// buildChromeEndpoint gives a Chrome endpoint its shaped TURN listener
// (bridge.go); with an external TURN server it has none.
func (l *Lab) buildChromeEndpoint(ep *endpoint) error {
	prof, err := endpointProfile(ep.cfg)
	if err != nil {
		return err
	}
	sh, err := netem.New(netem.Config{Name: ep.cfg.Name + "@turn", Profile: prof.Reversed(), Seed: l.topo.Seed}, l.shaperOptions()...)
	if err != nil {
		return err
	}
	ep.shaper = sh
	if l.topo.TURN.Mode != ServerOn {
		return nil
	}
	if ep.bridge, err = listenBridge(ep, sh); err != nil {
		return err
	}
	l.onClose(ep.bridge.Close)
	return nil
}

// endpointProfile is the profile of an endpoint's shaper: Profile, with
// Uplink's up and Downlink's down links in place of its own when given.
func endpointProfile(ec EndpointConfig) (*netem.Profile, error) {
	if ec.Uplink == nil && ec.Downlink == nil {
		if ec.Profile == nil {
			return &netem.Profile{Name: "ideal"}, nil
		}
		return ec.Profile.Clone(), nil
	}
	p := &netem.Profile{}
	if ec.Profile != nil {
		p = ec.Profile.Clone()
	}
	if ec.Uplink != nil {
		up := ec.Uplink.Effective(netem.Up, -1)
		p.Up = &up
	}
	if ec.Downlink != nil {
		down := ec.Downlink.Effective(netem.Down, -1)
		p.Down = &down
	}
	p.Name = fmt.Sprintf("%s/%s", profileName(ec.Uplink, p), profileName(ec.Downlink, p))
	return p, p.Validate()
}

func profileName(p, fallback *netem.Profile) string {
	if p != nil && p.Name != "" {
		return p.Name
	}
	if fallback != nil && fallback.Name != "" {
		return fallback.Name
	}
	return "custom"
}

// filter runs on the WAN router's goroutine under its lock: it drops what
// a cut endpoint sends or is sent. Quick, never blocks for long.
func (l *Lab) filter(c vnet.Chunk) bool {
	for _, a := range []net.Addr{c.SourceAddr(), c.DestinationAddr()} {
		ua, ok := a.(*net.UDPAddr)
		if !ok {
			continue
		}
		if ep := l.byPublicIP(ua.IP.String()); ep != nil && ep.isCut() {
			return false
		}
	}
	return true
}

// byPublicIP finds the endpoint owning a WAN address (nil for servers).
// byIP is written before the WAN starts and read-only after, so no lock
// is needed.
func (l *Lab) byPublicIP(ip string) *endpoint { return l.byIP[ip] }

func (ep *endpoint) isCut() bool {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.cut
}

func (ep *endpoint) setCut(cut bool) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.cut = cut
}

// shaperOptions are the options of every impairment point the lab makes:
// the lab's start is time zero of every schedule and ledger.
func (l *Lab) shaperOptions() []netem.Option {
	return []netem.Option{netem.WithEpoch(l.start), netem.WithEvents(l.topo.LedgerEvents)}
}
