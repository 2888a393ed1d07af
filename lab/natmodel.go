package lab

import (
	"fmt"
	"sort"
)

// The NAT model: an abstract RFC 4787 + ICE (RFC 8445) simulation that says
// which preset pairs connect with STUN only. It shares nothing with vnet, so
// the NAT matrix scenario checks vnet against the RFCs, not against itself.
//
//	A host --[A's NAT]--\                 /--[B's NAT]-- B host
//	(private LAN)        +--- WAN + STUN ---+        (private LAN)
//
// Each endpoint has one socket (its ICE host base). Host candidates are
// private and never route across LANs, except NATNone's, which is public.
// Mappings never expire and hairpinning never arises (A and B have their own
// public IPs).
//
// B can also be a relay-only endpoint (DirectToRelay): its one candidate
// is its relayed address on a TURN server, which the model treats as one
// more NAT (see newModelRelay).

// Addresses: RFC 5737 public, RFC 1918 private, as in the lab, but chosen
// here so that the model stands alone.
var modelSTUN = modelAddr{"198.51.100.2", 3478}

const (
	modelHostPort  = 5000  // the socket's port on its host
	modelFirstPort = 40000 // a NAPT's first fresh external port
	modelMaxRounds = 10    // the presets settle in 3 rounds; this only bounds the loop
)

type modelAddr struct {
	ip   string
	port int
}

func (a modelAddr) String() string { return fmt.Sprintf("%s:%d", a.ip, a.port) }

// modelMapping is one NAT binding and the destinations it has sent to,
// which is what filtering looks at (RFC 4787 section 5).
type modelMapping struct {
	ext  modelAddr
	sent map[modelAddr]bool
}

// modelSide is one endpoint: its NAT's table and its ICE agent's state.
type modelSide struct {
	name    string   // "A" or "B"
	nat     NAT      // "" for a relay-only endpoint
	relay   bool     // a relay-only endpoint: the NAT is its TURN allocation
	filter  Behavior // a relay's filtering (newModelRelay)
	host    modelAddr
	public  string
	next    int                         // next fresh external port
	table   map[modelAddr]*modelMapping // keyed as RFC 4787 section 4.1 says (see out)
	srflx   modelAddr                   // the mapping toward STUN
	remote  map[modelAddr]string        // known remote candidates and their type
	valid   map[modelAddr]bool          // remote candidates whose check got a response
	dropped string                      // why the first of the peer's checks was dropped here
	changes int                         // bumped on every state change, for the fixed point
}

func newModelSide(name string, n NAT, lan, public string) *modelSide {
	s := &modelSide{name: name, nat: n, public: public, next: modelFirstPort,
		host:  modelAddr{lan, modelHostPort},
		table: map[modelAddr]*modelMapping{}, remote: map[modelAddr]string{}, valid: map[modelAddr]bool{}}
	if n == NATNone || n == NATOneToOne {
		// No NAT: the host is public. 1:1: static and port-preserving; both
		// are EIM, so this is the only mapping they ever make.
		s.next = modelHostPort
	}
	if n == NATNone {
		s.host.ip = public
	}
	return s
}

// modelRelayIP is the TURN server's, and every relay's, address: another
// public IP than STUN's and the endpoints', as in the lab.
const modelRelayIP = "198.51.100.3"

// newModelRelay is a relay-only endpoint (a browser on iceTransportPolicy
// "relay"), seen as a NAT, RFC 8656 in RFC 4787 words:
//   - mapping: endpoint-independent. Whatever it sends, to any peer, leaves
//     the server from its one relayed transport address (section 2), the
//     allocation, made before any check and having sent to nobody (the
//     Allocate request goes to the server, not out of the relay). It is
//     its only candidate, in place of a srflx, and there is no host
//     candidate that routes.
//   - filtering: address-dependent. The server relays inward only from
//     peers the client holds a permission for, which the client installs
//     for each peer address it sends to, and a permission is for "the IP
//     address portion" only, ports ignored (section 9); pion/turn checks
//     the IP only. filter is that, the one knob a test may turn.
func newModelRelay(name string) *modelSide {
	alloc := modelAddr{modelRelayIP, modelFirstPort}
	return &modelSide{name: name, relay: true, filter: AddressDependent, public: modelRelayIP,
		host: alloc, srflx: alloc, next: modelFirstPort + 1,
		table:  map[modelAddr]*modelMapping{{}: {ext: alloc, sent: map[modelAddr]bool{}}},
		remote: map[modelAddr]string{}, valid: map[modelAddr]bool{}}
}

// mapping and filtering are the side's RFC 4787 behaviours.
func (s *modelSide) mapping() Behavior {
	if s.relay {
		return EndpointIndependent
	}
	return s.nat.Mapping()
}

func (s *modelSide) filtering() Behavior {
	if s.relay {
		return s.filter
	}
	return s.nat.Filtering()
}

// out sends from the socket to dst and returns the packet's external source.
// The mapping is per socket (EIM), per remote IP (ADM) or per remote IP:port
// (APDM), RFC 4787 section 4.1; a new one gets a fresh port.
func (s *modelSide) out(dst modelAddr) modelAddr {
	var key modelAddr // EIM: one mapping for every destination
	switch s.mapping() {
	case AddressDependent:
		key = modelAddr{ip: dst.ip}
	case AddressAndPortDependent:
		key = dst
	}
	m := s.table[key]
	if m == nil {
		m = &modelMapping{ext: modelAddr{s.public, s.next}, sent: map[modelAddr]bool{}}
		s.next++
		s.table[key] = m
		s.changes++
	}
	if !m.sent[dst] {
		m.sent[dst] = true
		s.changes++
	}
	return m.ext
}

// in filters a packet from src arriving at the external address dst
// (RFC 4787 section 5): EIF admits anyone, ADF only IPs the mapping has sent
// to, APDF only IP:ports it has sent to.
func (s *modelSide) in(src, dst modelAddr) (ok bool, why string) {
	var m *modelMapping
	for _, c := range s.table {
		if c.ext == dst {
			m = c
		}
	}
	if m == nil {
		return false, fmt.Sprintf("%s's NAT has no mapping at %v", s.name, dst)
	}
	f := s.filtering()
	switch f {
	case EndpointIndependent:
		if s.nat == NATNone {
			return true, fmt.Sprintf("%s has no NAT", s.name)
		}
		return true, fmt.Sprintf("%s's %s NAT filters nothing", s.name, s.nat)
	case AddressDependent:
		for d := range m.sent {
			if d.ip == src.ip {
				ok = true
			}
		}
	case AddressAndPortDependent:
		ok = m.sent[src]
	}
	unit := map[Behavior]string{AddressDependent: "IP", AddressAndPortDependent: "IP:port"}[f]
	if s.relay {
		verdict := "drops them: it holds no permission for that %s, never having sent to it"
		if ok {
			verdict = "admits them: it holds a permission for that %s, having sent to it"
		}
		return ok, fmt.Sprintf("%s's relay (%s filtering, RFC 8656 permissions) "+verdict, s.name, f, unit)
	}
	if ok {
		return true, fmt.Sprintf("%s's %s filtering admits them, as the mapping at %s had sent to that %s",
			s.name, f, s.describe(dst), unit)
	}
	return false, fmt.Sprintf("%s's %s filtering drops them, as the mapping at %s never sent to that %s",
		s.name, f, s.describe(dst), unit)
}

// describe names one of s's external addresses.
func (s *modelSide) describe(a modelAddr) string {
	switch {
	case s.relay:
		return s.name + "'s relayed address"
	case s.nat == NATNone:
		return s.name + "'s public host address"
	case a == s.srflx:
		return s.name + "'s srflx"
	}
	return fmt.Sprintf("a fresh %s mapping (%s mapping)", s.name, s.nat.Mapping())
}

// learn adds a remote candidate unless it is known already.
func (s *modelSide) learn(a modelAddr, typ string) {
	if _, ok := s.remote[a]; !ok {
		s.remote[a] = typ
		s.changes++
	}
}

// modelCheck is one connectivity check in flight.
type modelCheck struct {
	from, to *modelSide
	src, dst modelAddr
}

// modelResult is one run of the model.
type modelResult struct {
	ok      bool
	why     string
	rounds  int
	settled bool
	asym    int // responses leaving from another address than the check reached
	sides   [2]*modelSide
}

// runModel gathers candidates through STUN, then runs ICE checks in rounds
// (a round stands for a check's retransmissions, RFC 8489 section 6.2.1)
// until nothing changes.
func runModel(a, b NAT) modelResult {
	return runSides(newModelSide("A", a, "10.0.1.2", "198.51.100.10"), newModelSide("B", b, "10.0.2.2", "198.51.100.11"))
}

// runSides runs the model on two sides made by newModelSide or
// newModelRelay.
func runSides(A, B *modelSide) modelResult {
	res := modelResult{sides: [2]*modelSide{A, B}}
	sides := res.sides[:]
	peerOf := map[*modelSide]*modelSide{A: B, B: A}
	for _, s := range sides {
		if s.relay {
			continue // its candidate is the allocation (newModelRelay)
		}
		// The STUN response comes back through the mapping that sent the
		// request, which has sent to the server: every filter admits it.
		s.srflx = s.out(modelSTUN)
	}
	for _, s := range sides {
		p := peerOf[s]
		typ := "server-reflexive"
		if p.relay {
			typ = "relayed"
		}
		s.learn(p.srflx, typ)
		if p.nat == NATNone {
			s.remote[p.host] = "host" // the same address as its srflx
		}
	}
	for res.rounds < modelMaxRounds && !res.settled {
		res.rounds++
		before := A.changes + B.changes
		// Each side checks every remote candidate it knows from its one
		// socket (RFC 8445 section 7.2.5); a known prflx is included, as
		// the triggered check of section 7.3.1.4 would be.
		var checks []modelCheck
		for _, s := range sides {
			for _, dst := range sortedAddrs(s.remote) {
				checks = append(checks, modelCheck{s, peerOf[s], s.out(dst), dst})
			}
		}
		// A check that passes the receiver's filter is answered from the
		// socket it reached, to its source address (section 7.3.1), which
		// becomes a peer-reflexive candidate if new (section 7.3.1.3).
		var responses []modelCheck
		for _, c := range checks {
			pass, why := c.to.in(c.src, c.dst)
			if !pass {
				if c.to.dropped == "" {
					c.to.dropped = fmt.Sprintf("%s's checks from %s to %s: %s",
						c.from.name, c.from.describe(c.src), c.to.describe(c.dst), why)
				}
				continue
			}
			c.to.learn(c.src, "peer-reflexive")
			if c.to.out(c.src) != c.dst {
				// Cannot happen with the presets (each filters at least as
				// narrowly as it maps), but the response would then fail
				// as non-symmetric (section 7.2.5.2.1).
				res.asym++
				continue
			}
			responses = append(responses, c)
		}
		// The response goes back through the checker's filter; if it passes,
		// the pair is valid (section 7.2.5.3). A valid pair has carried a
		// packet each way on one 5-tuple: the two endpoints connect.
		for _, c := range responses {
			pass, why := c.from.in(c.dst, c.src)
			if !pass {
				if c.from.dropped == "" {
					c.from.dropped = fmt.Sprintf("%s's responses from %s: %s",
						c.to.name, c.to.describe(c.dst), why)
				}
				continue
			}
			if !c.from.valid[c.dst] {
				c.from.valid[c.dst] = true
				c.from.changes++
			}
			if !res.ok {
				_, twhy := c.to.in(c.src, c.dst)
				res.ok = true
				res.why = fmt.Sprintf("%s's checks from %s to %s: %s; the responses get back",
					c.from.name, c.from.describe(c.src), c.to.describe(c.dst), twhy)
			}
		}
		res.settled = A.changes+B.changes == before
	}
	switch {
	case !res.settled:
		res.ok, res.why = false, fmt.Sprintf("model did not settle in %d rounds", res.rounds)
	case !res.ok:
		res.why = "no check gets a response"
		for _, d := range []string{B.dropped, A.dropped} {
			if d != "" {
				res.why += ". " + d
			}
		}
	}
	return res
}

func sortedAddrs(m map[modelAddr]string) []modelAddr {
	out := make([]modelAddr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ip != out[j].ip {
			return out[i].ip < out[j].ip
		}
		return out[i].port < out[j].port
	})
	return out
}

// Direct reports whether a and b connect with STUN only (no TURN), by the
// RFC 4787 + ICE model, and why. Unknown presets never connect.
func Direct(a, b NAT) (ok bool, why string) {
	for _, n := range []NAT{a, b} {
		if !n.Valid() {
			return false, fmt.Sprintf("unknown NAT preset %q", n)
		}
	}
	r := runModel(a, b)
	return r.ok, r.why
}

// DirectToRelay reports whether an endpoint behind n reaches a relay-only
// endpoint's TURN relay with its own candidates (host and srflx: no relay
// of its own), by the same model with the relay as an RFC 4787 NAT
// (newModelRelay: endpoint-independent mapping, address-dependent
// filtering), and why. It agrees with Direct(n, NATAddressRestricted):
// the relay differs from that NAT only in having no STUN mapping and an
// address of its own.
func DirectToRelay(n NAT) (ok bool, why string) {
	if !n.Valid() {
		return false, fmt.Sprintf("unknown NAT preset %q", n)
	}
	r := runSides(newModelSide("A", n, "10.0.1.2", "198.51.100.10"), newModelRelay("B"))
	return r.ok, r.why
}

// NeedsTURN is !Direct: the pair connects only through a relay.
func NeedsTURN(a, b NAT) bool {
	ok, _ := Direct(a, b)
	return !ok
}
