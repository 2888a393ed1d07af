package scenarios

import (
	"context"
	"fmt"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/lab/labspec"
	"github.com/netlab/netlab/peer"
)

// The seed suite on the lab: the seed's 21 specs (PROTOCOL.md), each once
// per signaling transport, for every pair of seedPairs. In-memory transports
// (loopback, delayed) run in virtual time, ws and sse in real time on
// 127.0.0.1 (runLab picks the clock); every case is recorded with family
// "seed".

// seedPairs are the endpoint pairs the seed specs run for.
var seedPairs = []string{"go-go", "go-chrome", "chrome-chrome"}

// seedTransports are the transports the seed ran every spec on.
var seedTransports = []lab.Transport{lab.TransportLoopback, lab.TransportDelayed, lab.TransportWS, lab.TransportSSE}

// seedSpec is one of the seed's 21 specs, written against peer.Endpoint
// (and, for dispatch, lab.SignalingClient) so that Chrome pairs run it
// unchanged.
type seedSpec struct {
	n      int
	name   string
	family string      // lock, data, glare, media, dispatch
	peer   peer.Config // the topology's peer template
	body   func(ctx context.Context, l *lab.Lab)
}

var seedSpecs []seedSpec

func addSeedSpec(n int, family, name string, body func(ctx context.Context, l *lab.Lab)) bool {
	return addSeedSpecWith(n, family, name, peer.Config{}, body)
}

// addSeedSpecWith adds a spec whose peers need more than the default
// template (a lock timeout).
func addSeedSpecWith(n int, family, name string, tmpl peer.Config, body func(ctx context.Context, l *lab.Lab)) bool {
	seedSpecs = append(seedSpecs, seedSpec{n: n, family: family, name: name, peer: tmpl, body: body})
	return true
}

// directTopo is the seed's network: alice and bob on the WAN, no NAT, no
// STUN or TURN (host candidates connect: what the seed tested is
// signaling, locking, channels and media, not traversal), ideal links.
func directTopo(t lab.Transport, tmpl peer.Config) lab.Topology {
	return seedTopo(t, "go-go", tmpl)
}

// seedTopo is directTopo for a pair of kinds: in "go-chrome" bob is a
// Chrome tab, in "chrome-chrome" both are. Chrome enters through the
// lab's TURN server, so it is on when a tab is.
func seedTopo(t lab.Transport, pair string, tmpl peer.Config) lab.Topology {
	topo := lab.Topology{
		Endpoints: []lab.EndpointConfig{{Name: "alice"}, {Name: "bob"}},
		STUN:      lab.Server{Mode: lab.ServerOff},
		TURN:      lab.Server{Mode: lab.ServerOff},
		Signaling: lab.SignalingConfig{Transport: t},
		Peer:      tmpl,
	}
	switch pair {
	case "go-chrome":
		topo.Endpoints[1].Kind = peer.KindChrome
	case "chrome-chrome":
		topo.Endpoints[0].Kind, topo.Endpoints[1].Kind = peer.KindChrome, peer.KindChrome
	}
	if pair != "go-go" {
		topo.TURN.Mode = lab.ServerOn
	}
	return topo
}

// seedEndpoint is the endpoint a dispatch spec's id runs on: alice and
// bob on their own, carol (specs 5 and 6) beside alice, so of alice's
// kind: Go in go-go and go-chrome, Chrome in chrome-chrome.
func seedEndpoint(id string) string {
	if id == "carol" {
		return "alice"
	}
	return id
}

// seedClient is a registered signaling client of id, of the kind of its
// endpoint in the case's pair: the lab's Go client, or the page's own
// client in a Chrome tab.
func seedClient(ctx context.Context, l *lab.Lab, id string) lab.SignalingClient {
	GinkgoHelper()
	c, err := l.SignalingClient(ctx, seedEndpoint(id), id)
	Expect(err).NotTo(HaveOccurred())
	return c
}

// seedPair makes the pair "alice" and "bob" of the case's kinds (alice <
// bob: alice is the polite side), both ids registered first.
func seedPair(ctx context.Context, l *lab.Lab) (a, b peer.Endpoint) {
	GinkgoHelper()
	a, b, err := l.Connect(ctx, "alice", "bob")
	Expect(err).NotTo(HaveOccurred())
	return a, b
}

// seedVirtual reports whether l's case runs in virtual time (the clock
// runLab chose for its transport).
func seedVirtual(l *lab.Lab) bool {
	return clockFor(labCase{}, l.Topology()) == labspec.Virtual
}

// The seed suite: 21 specs x 4 transports x 3 pairs.
var _ = Describe("seed suite", Label("seed"), func() {
	specs := slices.Clone(seedSpecs)
	slices.SortFunc(specs, func(a, b seedSpec) int { return a.n - b.n })
	for _, pair := range seedPairs {
		for _, t := range seedTransports {
			Describe(fmt.Sprintf("%s over %s", pair, t), Label(pair, string(t)), func() {
				for _, s := range specs {
					labels := Labels{}
					if s.family == "glare" {
						labels = append(labels, "glare")
					}
					It(fmt.Sprintf("%02d %s", s.n, s.name), labels, func() {
						runLab(labCase{Family: "seed", Pair: pair, Profile: "ideal"}, seedTopo(t, pair, s.peer),
							func(ctx context.Context, l *lab.Lab, _ *caseRecord) { s.body(ctx, l) })
					})
				}
			})
		}
	}
})
