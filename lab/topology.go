package lab

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// Topology states what a lab is: its endpoints (each behind a NAT, with
// its link), its STUN and TURN servers, its signaling, and the seed of
// every random decision. New validates it and builds it; the running Lab
// keeps the Topology apart from its runtime state.
type Topology struct {
	// Name labels the lab in timelines and errors (default "lab").
	Name string
	// Seed drives every impairment decision, the delayed signaling and
	// the peers' own randomness (0 is a seed like any other).
	Seed uint64
	// Endpoints, at least one. Names are unique.
	Endpoints []EndpointConfig
	// STUN and TURN servers (default: the lab's own, on the WAN).
	STUN, TURN Server
	// Signaling is the signaling medium (default loopback).
	Signaling SignalingConfig
	// Peer is the template of every Go peer: the lab fills in ID,
	// RemoteID, Signaling, Net, ICEServers and Seed; the rest (glare
	// strategy, heartbeat, reconnect, ICE timeouts, ...) is used as given.
	Peer peer.Config
	// NATMappingLifetime is how long an idle NAT mapping lives (default
	// 30 s, vnet's own).
	NATMappingLifetime time.Duration
	// LedgerEvents keeps each impairment point's first n decisions per
	// direction in full in its ledger (Lab.Ledgers), for a scenario that
	// checks a flow packet by packet against what its endpoint saw. 0,
	// the default, keeps the counters and the hash only.
	LedgerEvents int
}

// EndpointConfig is one endpoint of a topology.
type EndpointConfig struct {
	// Name is the endpoint's name and its signaling id (ValidateID rules).
	Name string
	// Kind is the implementation (default peer.KindGo). A Chrome endpoint
	// (peer.KindChrome) is a tab of the lab's browser (WithBrowser) that
	// enters through the lab's TURN server on 127.0.0.1 (bridge.go): its
	// NAT is none, and its profile shapes its TURN listener.
	Kind peer.Kind
	// NAT is the preset the endpoint sits behind (default NATNone).
	NAT NAT
	// Profile is the endpoint's link, both directions (per direction with
	// its up and down sections). Nil: a perfect link, still through netem
	// so that it has a ledger and can be changed live.
	Profile *netem.Profile
	// Uplink and Downlink, when set, take one direction each from a
	// profile of their own (the direction's effective link) and override
	// Profile. Neither may have a schedule: phases belong in Profile.
	Uplink, Downlink *netem.Profile
}

// ServerMode says whether a lab runs a STUN or TURN server.
type ServerMode string

const (
	ServerOn       ServerMode = "on"       // the lab's own, on the WAN (default)
	ServerOff      ServerMode = "off"      // none
	ServerExternal ServerMode = "external" // the URLs given (e.g. a coturn on loopback)
)

// Server configures the STUN or the TURN server.
//
// An external server must listen (and, for TURN, relay) on 127.0.0.1. Go
// endpoints reach it through a gateway on the WAN (gateway.go), over UDP
// only; with an external TURN server they use relay candidates only. An
// external STUN server sees the gateway, not the endpoint's NAT, so its
// server-reflexive candidates are of no use for NAT traversal: it is
// there to check the server. Either makes the topology real-time only.
type Server struct {
	Mode ServerMode
	// URLs of an external server (Mode external), such as
	// "turn:127.0.0.1:3478?transport=udp".
	URLs []string
	// Username and Credential for an external TURN server.
	Username, Credential string
}

// Transport is the signaling transport.
type Transport string

const (
	TransportLoopback Transport = "loopback" // in memory, immediate: virtual time
	TransportDelayed  Transport = "delayed"  // in memory, seeded 0..MaxDelay per message, in order: virtual time
	TransportWS       Transport = "ws"       // the signaling server over WebSocket on 127.0.0.1: real time
	TransportSSE      Transport = "sse"      // the signaling server over SSE + POST on 127.0.0.1: real time
)

// Virtual reports whether the transport can run in a synctest bubble
// (in-memory transports can; sockets cannot).
func (t Transport) Virtual() bool { return t == TransportLoopback || t == TransportDelayed }

// RealTimeOnly says whether the topology uses real sockets or processes,
// which a synctest bubble cannot wait on: signaling over ws or sse, an
// external STUN or TURN server (reached through a gateway, gateway.go),
// or a Chrome endpoint.
func (t Topology) RealTimeOnly() bool {
	tr := t.Signaling.Transport
	if (tr != "" && !tr.Virtual()) || t.STUN.Mode == ServerExternal || t.TURN.Mode == ServerExternal {
		return true
	}
	for _, e := range t.Endpoints {
		if e.Kind == peer.KindChrome {
			return true
		}
	}
	return false
}

// SignalingConfig configures the signaling medium.
type SignalingConfig struct {
	// Transport (default loopback).
	Transport Transport
	// MaxDelay bounds the delayed transport's per-message delay (default
	// signaling.DefaultLoopbackDelay).
	MaxDelay time.Duration
	// Profile impairs the TCP path between the clients and the server
	// (ws and sse only; toxics in its tcp section). Nil: a perfect path,
	// still through a netem.TCPProxy so that it can be dropped live.
	Profile *netem.Profile
	// Server tunes the signaling server (ws and sse). Addr is ignored,
	// and RequireSessionToken is always on: every client is the lab's.
	Server signaling.ServerConfig
}

const defaultName = "lab"

// withDefaults returns a copy with every default written out.
func (t Topology) withDefaults() Topology {
	if t.Name == "" {
		t.Name = defaultName
	}
	eps := make([]EndpointConfig, len(t.Endpoints))
	copy(eps, t.Endpoints)
	for i := range eps {
		if eps[i].Kind == "" {
			eps[i].Kind = peer.KindGo
		}
		if eps[i].NAT == "" {
			eps[i].NAT = NATNone
		}
	}
	t.Endpoints = eps
	if t.STUN.Mode == "" {
		t.STUN.Mode = ServerOn
	}
	if t.TURN.Mode == "" {
		t.TURN.Mode = ServerOn
	}
	if t.Signaling.Transport == "" {
		t.Signaling.Transport = TransportLoopback
	}
	if t.Signaling.Transport == TransportDelayed && t.Signaling.MaxDelay == 0 {
		t.Signaling.MaxDelay = signaling.DefaultLoopbackDelay
	}
	return t
}

// maxEndpoints bounds a topology: one /24 LAN each, addresses on one /24
// WAN.
const maxEndpoints = 200

// maxLedgerEvents bounds LedgerEvents: an event is about 80 bytes, so a
// million per direction is some 160 MB an impairment point.
const maxLedgerEvents = 1 << 20

// validate checks a topology with its defaults written out. Each error
// names the field and what was expected.
func (t Topology) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadTopology, field, fmt.Sprintf(format, args...))
	}
	if len(t.Endpoints) == 0 {
		return bad("endpoints", "a topology needs at least one endpoint")
	}
	if len(t.Endpoints) > maxEndpoints {
		return bad("endpoints", "at most %d endpoints, got %d", maxEndpoints, len(t.Endpoints))
	}
	seen := map[string]bool{}
	for i, e := range t.Endpoints {
		field := fmt.Sprintf("endpoints[%d]", i)
		if err := signaling.ValidateID(e.Name); err != nil {
			return bad(field+".name", "%v", err)
		}
		if seen[e.Name] {
			return bad(field+".name", "%q is used twice", e.Name)
		}
		seen[e.Name] = true
		switch e.Kind {
		case peer.KindGo:
		case peer.KindChrome:
			// Chrome enters through TURN (bridge.go): no NAT of its own,
			// and a TURN server it can reach on 127.0.0.1.
			if e.NAT != NATNone {
				return bad(field+".nat", "a Chrome endpoint has no NAT of its own (it enters through TURN), got %q", e.NAT)
			}
			switch t.TURN.Mode {
			case ServerOn:
			case ServerExternal:
				if e.Profile != nil || e.Uplink != nil || e.Downlink != nil {
					return bad(field+".profile", "a Chrome endpoint is shaped at its listener on the lab's TURN server; with an external one it has none")
				}
			default:
				return bad(field+".kind", "a Chrome endpoint needs a TURN server (turn.mode on or external), turn.mode is %q", t.TURN.Mode)
			}
		default:
			return bad(field+".kind", "want %q or %q, got %q", peer.KindGo, peer.KindChrome, e.Kind)
		}
		if !e.NAT.Valid() {
			return bad(field+".nat", "%s", unknownNAT(string(e.NAT)))
		}
		for _, p := range []struct {
			name string
			p    *netem.Profile
		}{{"profile", e.Profile}, {"uplink", e.Uplink}, {"downlink", e.Downlink}} {
			if p.p == nil {
				continue
			}
			if err := p.p.Validate(); err != nil {
				return bad(field+"."+p.name, "%v", err)
			}
			if p.name != "profile" && len(p.p.Schedule) > 0 {
				return bad(field+"."+p.name, "a schedule belongs in profile, not in %s", p.name)
			}
		}
	}
	for _, s := range []struct {
		name string
		s    Server
	}{{"stun", t.STUN}, {"turn", t.TURN}} {
		switch s.s.Mode {
		case ServerOn, ServerOff:
			if len(s.s.URLs) > 0 {
				return bad(s.name+".urls", "only with mode %q (mode is %q)", ServerExternal, s.s.Mode)
			}
		case ServerExternal:
			if len(s.s.URLs) == 0 {
				return bad(s.name+".urls", "mode external needs at least one URL")
			}
			for j, u := range s.s.URLs {
				if err := checkICEURL(u, s.name); err != nil {
					return bad(fmt.Sprintf("%s.urls[%d]", s.name, j), "%v", err)
				}
			}
		default:
			return bad(s.name+".mode", "want on, off or external, got %q", s.s.Mode)
		}
	}
	sig := t.Signaling
	switch sig.Transport {
	case TransportLoopback, TransportDelayed:
		if sig.Profile != nil {
			return bad("signaling.profile", "only ws and sse have a TCP path to impair (transport is %q)", sig.Transport)
		}
	case TransportWS, TransportSSE:
		if sig.Profile != nil {
			if err := sig.Profile.Validate(); err != nil {
				return bad("signaling.profile", "%v", err)
			}
		}
	default:
		return bad("signaling.transport", "want loopback, delayed, ws or sse, got %q", sig.Transport)
	}
	if sig.MaxDelay < 0 {
		return bad("signaling.max_delay", "must not be negative, got %v", sig.MaxDelay)
	}
	if sig.MaxDelay > 0 && sig.Transport != TransportDelayed {
		return bad("signaling.max_delay", "only the delayed transport has one (transport is %q)", sig.Transport)
	}
	if t.NATMappingLifetime < 0 {
		return bad("nat_mapping_lifetime", "must not be negative, got %v", t.NATMappingLifetime)
	}
	if t.LedgerEvents < 0 || t.LedgerEvents > maxLedgerEvents {
		return bad("ledger_events", "want 0 to %d decisions per direction, got %d", maxLedgerEvents, t.LedgerEvents)
	}
	if t.Peer.ID != "" || t.Peer.RemoteID != "" || t.Peer.Signaling != nil || t.Peer.Net != nil {
		return bad("peer", "ID, RemoteID, Signaling and Net are the lab's to set")
	}
	return nil
}

// checkICEURL accepts stun:/turn: URLs on a loopback host only: nothing a
// lab does may leave the machine (FINDINGS.md, Safety).
func checkICEURL(raw, kind string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	want := []string{"stun", "stuns"}
	if kind == "turn" {
		want = []string{"turn", "turns"}
	}
	if u.Scheme != want[0] && u.Scheme != want[1] {
		return fmt.Errorf("want a %s: URL, got %q", want[0], raw)
	}
	host := u.Opaque
	if i := strings.IndexByte(host, '?'); i >= 0 {
		host = host[:i]
	}
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	if host != "127.0.0.1" && host != "localhost" {
		return fmt.Errorf("external servers must be on 127.0.0.1, got %q", raw)
	}
	return nil
}
