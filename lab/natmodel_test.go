package lab

import (
	"fmt"
	"strings"
	"testing"
)

// TestModelMapping: a new mapping per socket (EIM), per remote IP (ADM) or
// per remote IP:port (APDM), RFC 4787 section 4.1.
func TestModelMapping(t *testing.T) {
	x1, x2, y1 := modelAddr{"192.0.2.1", 1}, modelAddr{"192.0.2.1", 2}, modelAddr{"192.0.2.2", 1}
	for _, tc := range []struct {
		nat              NAT
		samePort, sameIP bool // x2 reuses x1's mapping; y1 reuses x1's mapping
	}{
		{NATFullCone, true, true},
		{NATAddressRestricted, true, true},
		{NATPortRestricted, true, true},
		{NATAddressDependentSymmetric, true, false},
		{NATSymmetric, false, false},
	} {
		s := newModelSide("A", tc.nat, "10.0.1.2", "198.51.100.10")
		e1, e2, e3 := s.out(x1), s.out(x2), s.out(y1)
		if (e1 == e2) != tc.samePort || (e1 == e3) != tc.sameIP {
			t.Errorf("%s: x1->%v x2->%v y1->%v; want same for another port %v, for another IP %v",
				tc.nat, e1, e2, e3, tc.samePort, tc.sameIP)
		}
	}
	// 1:1 (and no NAT) keep the host's port.
	for _, n := range []NAT{NATNone, NATOneToOne} {
		s := newModelSide("A", n, "10.0.1.2", "198.51.100.10")
		if e := s.out(x1); e != (modelAddr{"198.51.100.10", modelHostPort}) {
			t.Errorf("%s: external %v, want 198.51.100.10:%d", n, e, modelHostPort)
		}
	}
}

// TestModelFiltering: once a mapping has sent to x1, EIF admits anyone, ADF
// only x1's IP, APDF only x1 itself (RFC 4787 section 5); nothing reaches an
// address without a mapping.
func TestModelFiltering(t *testing.T) {
	x1, x2, y1 := modelAddr{"192.0.2.1", 1}, modelAddr{"192.0.2.1", 2}, modelAddr{"192.0.2.2", 1}
	for _, tc := range []struct {
		nat                NAT
		fromX1, fromX2, y1 bool
	}{
		{NATFullCone, true, true, true},
		{NATAddressRestricted, true, true, false},
		{NATPortRestricted, true, false, false},
		{NATSymmetric, true, false, false},
	} {
		s := newModelSide("A", tc.nat, "10.0.1.2", "198.51.100.10")
		ext := s.out(x1)
		got := []bool{}
		for _, src := range []modelAddr{x1, x2, y1} {
			ok, why := s.in(src, ext)
			if why == "" {
				t.Errorf("%s: no reason for %v", tc.nat, src)
			}
			got = append(got, ok)
		}
		if want := []bool{tc.fromX1, tc.fromX2, tc.y1}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: admits x1,x2,y1 = %v, want %v", tc.nat, got, want)
		}
		if ok, _ := s.in(x1, modelAddr{"198.51.100.10", 1}); ok {
			t.Errorf("%s: admitted a packet to an address with no mapping", tc.nat)
		}
	}
}

// TestModelSettles: every pair reaches a fixed point well inside the bound,
// and no response ever leaves from another address than the one its check
// reached (so RFC 8445's non-symmetric case never decides a result).
func TestModelSettles(t *testing.T) {
	for _, a := range NATs() {
		for _, b := range NATs() {
			r := runModel(a, b)
			if !r.settled || r.rounds > 4 || r.asym != 0 {
				t.Errorf("%s x %s: settled %v after %d rounds, %d non-symmetric responses",
					a, b, r.settled, r.rounds, r.asym)
			}
		}
	}
}

// TestModelPeerReflexive: in every pair that connects, both agents end with
// a valid pair, so either one can be the controlling agent and nominate
// (RFC 8445 section 8.1.1). Behind the open side that takes the
// peer-reflexive candidate learned from the other's checks (section
// 7.3.1.3): address-restricted x symmetric only works through it.
func TestModelPeerReflexive(t *testing.T) {
	for _, a := range NATs() {
		for _, b := range NATs() {
			r := runModel(a, b)
			for _, s := range r.sides {
				if r.ok && len(s.valid) == 0 {
					t.Errorf("%s x %s: %s has no valid pair", a, b, s.name)
				}
			}
		}
	}
	r := runModel(NATAddressRestricted, NATSymmetric)
	A := r.sides[0]
	for c := range A.valid {
		if A.remote[c] != "peer-reflexive" {
			t.Errorf("address-restricted x symmetric: A's valid pair to %v is %s, want peer-reflexive", c, A.remote[c])
		}
	}
}

// TestDirectTextbook: the classic results, each with its reason.
func TestDirectTextbook(t *testing.T) {
	type want struct {
		a, b   NAT
		direct bool
		reason string
	}
	var cases []want
	for _, open := range []NAT{NATNone, NATOneToOne, NATFullCone} {
		for _, n := range NATs() {
			cases = append(cases, want{open, n, true,
				"an open side (public, 1:1 or full cone) admits the other's checks from any mapping; it learns their source as peer-reflexive and its response passes the other's filter, which has just sent to it"})
		}
	}
	for _, n := range []NAT{NATFullCone, NATAddressRestricted, NATPortRestricted} {
		cases = append(cases, want{NATAddressRestricted, n, true,
			"EIM: the other side's checks come from the srflx address the restricted side is sending to, so ADF admits them"})
	}
	cases = append(cases,
		want{NATPortRestricted, NATPortRestricted, true,
			"both EIM: each sends to the other's srflx from its own srflx, which opens both APDF filters (hole punching)"},
		want{NATPortRestricted, NATSymmetric, false,
			"the symmetric side's checks come from fresh ports the port-restricted side never sent to (APDF), and its srflx mapping only sent to STUN"},
		want{NATSymmetric, NATSymmetric, false,
			"each side's checks come from a fresh port toward the other's srflx mapping, which only sent to STUN (APDF)"},
		want{NATAddressDependentSymmetric, NATAddressDependentSymmetric, false,
			"each side's checks come from a fresh mapping toward the other's srflx mapping, which only sent to the STUN server's IP (ADF)"},
		want{NATPortRestricted, NATAddressDependentSymmetric, false,
			"the ADM side's checks come from a fresh port the port-restricted side never sent to (APDF); its own srflx only sent to STUN's IP (ADF)"},
		want{NATAddressRestricted, NATSymmetric, true,
			"ADF admits the symmetric side's checks from a fresh port, since the restricted side has sent to that IP; the response goes back to that very port"},
		want{NATAddressRestricted, NATAddressDependentSymmetric, true,
			"as with symmetric: ADF admits the fresh mapping's checks because the restricted side has sent to that IP"},
		want{NATSymmetric, NATAddressDependentSymmetric, false,
			"both sides' checks come from fresh mappings; the other's srflx mapping only sent to STUN (APDF on one side, ADF toward another IP on the other)"},
	)
	for _, c := range cases {
		for _, p := range [][2]NAT{{c.a, c.b}, {c.b, c.a}} {
			ok, why := Direct(p[0], p[1])
			if ok != c.direct || why == "" {
				t.Errorf("Direct(%s, %s) = %v (%s); want %v: %s", p[0], p[1], ok, why, c.direct, c.reason)
			}
		}
	}
}

// TestDirectSymmetric: the verdict does not depend on argument order, over
// all 49 ordered pairs, and NeedsTURN is its negation.
func TestDirectSymmetric(t *testing.T) {
	for _, a := range NATs() {
		for _, b := range NATs() {
			ab, why := Direct(a, b)
			ba, _ := Direct(b, a)
			if ab != ba {
				t.Errorf("Direct(%s, %s) = %v but Direct(%s, %s) = %v (%s)", a, b, ab, b, a, ba, why)
			}
		}
	}
}

func TestNeedsTURN(t *testing.T) {
	for _, a := range NATs() {
		for _, b := range NATs() {
			if ok, _ := Direct(a, b); NeedsTURN(a, b) == ok {
				t.Errorf("NeedsTURN(%s, %s) = %v, Direct = %v", a, b, NeedsTURN(a, b), ok)
			}
		}
	}
	if ok, why := Direct("carrier-grade", NATNone); ok || !strings.Contains(why, "unknown") {
		t.Errorf("Direct of an unknown preset = %v (%s), want false, unknown", ok, why)
	}
}

// TestDirectTable logs the 28 unordered pairs and checks the count against
// the vnet measurement in FINDINGS.md: of the 21 pairs without NATNone, 16
// connect and 5 fail; the 7 with NATNone all connect.
func TestDirectTable(t *testing.T) {
	var b strings.Builder
	fail := 0
	for i, x := range NATs() {
		for _, y := range NATs()[i:] {
			ok, why := Direct(x, y)
			verdict := "direct"
			if !ok {
				verdict = "TURN"
				fail++
			}
			fmt.Fprintf(&b, "\n%-27s x %-27s %-6s %s", x, y, verdict, why)
		}
	}
	t.Log(b.String())
	if fail != 5 {
		t.Errorf("%d of 28 pairs need TURN, want 5", fail)
	}
}

// TestDirectToRelay: a relay is an EIM/ADF NAT (RFC 8656 permissions are
// by IP), so every preset reaches it with its own candidates, as it
// reaches an address-restricted NAT; the reason names the relay's
// permission. With permissions by IP:port instead (not what RFC 8656 or
// pion/turn do), the relay is a port-restricted NAT and the NATs whose
// checks come from fresh ports (address-dependent and symmetric mapping)
// would need a relay of their own: the IP-only permission is what lets
// them through (FINDINGS.md, Chrome).
func TestDirectToRelay(t *testing.T) {
	for _, n := range NATs() {
		ok, why := DirectToRelay(n)
		if !ok || !strings.Contains(why, "relay") || !strings.Contains(why, "permission for that IP") {
			t.Errorf("DirectToRelay(%s) = %v (%s); want true, through the relay's permission for that IP", n, ok, why)
		}
		if ar, _ := Direct(n, NATAddressRestricted); ar != ok {
			t.Errorf("DirectToRelay(%s) = %v, Direct(%s, address-restricted) = %v: the relay is EIM/ADF", n, ok, n, ar)
		}
	}
	for _, n := range NATs() {
		relay := newModelRelay("B")
		relay.filter = AddressAndPortDependent
		r := runSides(newModelSide("A", n, "10.0.1.2", "198.51.100.10"), relay)
		want := n.Mapping() == EndpointIndependent
		if pr, _ := Direct(n, NATPortRestricted); pr != want {
			t.Fatalf("Direct(%s, port-restricted) = %v, want %v", n, pr, want)
		}
		if r.ok != want || r.why == "" {
			t.Errorf("%s to a relay filtering by IP:port: %v (%s), want %v", n, r.ok, r.why, want)
		}
	}
	if ok, why := DirectToRelay("carrier-grade"); ok || !strings.Contains(why, "unknown") {
		t.Errorf("DirectToRelay of an unknown preset = %v (%s), want false, unknown", ok, why)
	}
}

// TestRelayOnlyCandidate: the relay-only side's one candidate is its
// allocation, and the valid pair on the other side is to it; the relay
// never learns a private host address as a candidate.
func TestRelayOnlyCandidate(t *testing.T) {
	for _, n := range NATs() {
		relay := newModelRelay("B")
		r := runSides(newModelSide("A", n, "10.0.1.2", "198.51.100.10"), relay)
		A := r.sides[0]
		for c := range A.valid {
			if c != relay.srflx {
				t.Errorf("%s: A has a valid pair to %v, want only the relay %v", n, c, relay.srflx)
			}
		}
		for c := range relay.remote {
			if strings.HasPrefix(c.ip, "10.") {
				t.Errorf("%s: the relay learned the private %v", n, c)
			}
		}
		if !r.settled || r.asym != 0 {
			t.Errorf("%s: settled %v, %d non-symmetric responses", n, r.settled, r.asym)
		}
	}
}
