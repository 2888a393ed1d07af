package lab

import (
	"fmt"
	"strings"
	"time"

	"github.com/pion/transport/v3/vnet"
)

// Behavior is one of RFC 4787's three dependencies, used for both the
// mapping (section 4.1) and the filtering (section 5) of a NAT.
type Behavior uint8

const (
	// EndpointIndependent: one mapping (or one filter) for every remote
	// (RFC 4787 EIM, EIF).
	EndpointIndependent Behavior = iota
	// AddressDependent: per remote IP address (ADM, ADF).
	AddressDependent
	// AddressAndPortDependent: per remote IP address and port (APDM, APDF).
	AddressAndPortDependent
)

// String is RFC 4787's name of the behaviour.
func (b Behavior) String() string {
	switch b {
	case EndpointIndependent:
		return "endpoint-independent"
	case AddressDependent:
		return "address-dependent"
	case AddressAndPortDependent:
		return "address-and-port-dependent"
	}
	return fmt.Sprintf("Behavior(%d)", int(b))
}

// NAT is a NAT preset: the name a topology uses and the RFC 4787
// behaviour it stands for.
type NAT string

// The presets. Their classic names map to RFC 4787 mapping x filtering as
// NAT.Mapping and NAT.Filtering say.
const (
	NATNone                      NAT = "none"                        // no NAT: the endpoint sits on the WAN
	NATOneToOne                  NAT = "1:1"                         // static one-to-one, ports preserved (EIM, EIF)
	NATFullCone                  NAT = "full-cone"                   // EIM, EIF
	NATAddressRestricted         NAT = "address-restricted"          // EIM, ADF
	NATPortRestricted            NAT = "port-restricted"             // EIM, APDF
	NATAddressDependentSymmetric NAT = "address-dependent-symmetric" // ADM, ADF
	NATSymmetric                 NAT = "symmetric"                   // APDM, APDF
)

// NATs lists the presets in order, most open first.
func NATs() []NAT {
	return []NAT{NATNone, NATOneToOne, NATFullCone, NATAddressRestricted, NATPortRestricted,
		NATAddressDependentSymmetric, NATSymmetric}
}

// Valid reports whether n is a preset.
func (n NAT) Valid() bool {
	for _, p := range NATs() {
		if p == n {
			return true
		}
	}
	return false
}

// Mapping is the preset's RFC 4787 mapping behaviour (NATNone: EIM, the
// address is the endpoint's own).
func (n NAT) Mapping() Behavior {
	switch n {
	case NATAddressDependentSymmetric:
		return AddressDependent
	case NATSymmetric:
		return AddressAndPortDependent
	}
	return EndpointIndependent
}

// Filtering is the preset's RFC 4787 filtering behaviour (NATNone: EIF,
// nothing is filtered).
func (n NAT) Filtering() Behavior {
	switch n {
	case NATAddressRestricted, NATAddressDependentSymmetric:
		return AddressDependent
	case NATPortRestricted, NATSymmetric:
		return AddressAndPortDependent
	}
	return EndpointIndependent
}

// Describe says the preset in RFC 4787 words.
func (n NAT) Describe() string {
	switch n {
	case NATNone:
		return "no NAT (public address)"
	case NATOneToOne:
		return "1:1 static NAT (ports preserved, nothing filtered)"
	}
	return fmt.Sprintf("%s mapping, %s filtering", n.Mapping(), n.Filtering())
}

// ParseNAT reads a preset name (case-insensitive; "1to1" and "one-to-one"
// are accepted for "1:1").
func ParseNAT(s string) (NAT, error) {
	v := NAT(strings.ToLower(strings.TrimSpace(s)))
	switch v {
	case "", "no":
		v = NATNone
	case "1to1", "one-to-one", "static":
		v = NATOneToOne
	}
	if !v.Valid() {
		return "", fmt.Errorf("%w: %s", ErrBadTopology, unknownNAT(s))
	}
	return v, nil
}

// unknownNAT says what is wrong with s and what is accepted.
func unknownNAT(s string) string {
	names := make([]string, 0, len(NATs()))
	for _, p := range NATs() {
		names = append(names, string(p))
	}
	return fmt.Sprintf("nat %q: want one of %s", s, strings.Join(names, ", "))
}

// vnetType is the vnet NAT of a preset; nil for NATNone.
func (n NAT) vnetType(lifetime time.Duration) *vnet.NATType {
	if n == NATNone {
		return nil
	}
	if n == NATOneToOne {
		return &vnet.NATType{Mode: vnet.NATModeNAT1To1}
	}
	conv := func(b Behavior) vnet.EndpointDependencyType {
		switch b {
		case AddressDependent:
			return vnet.EndpointAddrDependent
		case AddressAndPortDependent:
			return vnet.EndpointAddrPortDependent
		}
		return vnet.EndpointIndependent
	}
	return &vnet.NATType{
		Mode:              vnet.NATModeNormal,
		MappingBehavior:   conv(n.Mapping()),
		FilteringBehavior: conv(n.Filtering()),
		MappingLifeTime:   lifetime,
	}
}
