package scenarios

import (
	"slices"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
)

// The perf family with Chrome: alice a Go peer and bob a Chrome tab
// (over ws and sse), and two tabs (over ws: the page's own client), the
// same figures (setup, signaling and data-channel round trips, throughput,
// media rate) per profile and signaling transport, measured the same way
// (perf_test.go). Each case has a lab of its own; they run in BeforeAll:
// the ideal ones alone, one after the other (their figures are
// CPU-bound), then the delayed ones perfChromeParallel at a time. Each It
// records its case and checks its figures.
//
//	alice (Go) ─[profile]─ WAN ─ bob's relay ─ TURN ═[profile]═ 127.0.0.1 ═ bob (Chrome)
//	alice-ping (Go) ─[profile]─ TCP proxy ─ server ─ proxy ─[profile]─ bob-ping (the page's own ws or sse client)
//
// The profile is on alice's link, on bob's TURN listener (his link,
// reversed: the listener is its far end) and on the signaling path, so a
// round trip crosses four shaped links as in go-go, and the floors of
// perfAssert hold unchanged. What differs: bob's side of each echo is
// driven from Go over CDP (a page event in, an Evaluate out, on top of
// the path; both are loopback), setup includes
// opening bob's tab, and the Go peer, ICE controlling, waits pion's
// acceptance wait for Chrome's relay candidate (2 s typed relay, 1 s
// prflx) before nominating: the same default waits as the go-go rows.

const perfChromeNote = "go-chrome rows: alice is a Go peer (on the WAN, no NAT), bob a Chrome tab; chrome-chrome rows: both are tabs. " +
	"A tab is relay-only through its own TURN listener on 127.0.0.1, which carries its link; " +
	"a tab's echoes and its signaling client (the page's own) are driven over CDP; setup includes opening the tabs and, with a Go peer, pion's acceptance wait for Chrome's relay candidate (2 s, or 1 s as prflx); " +
	"the ideal cases ran alone, the delayed ones three at a time"

// perfChromePairs are the pairs with Chrome and the transports each runs
// over: two tabs over ws only (sse is the same page client on another
// transport, and the go-chrome rows have it).
var perfChromePairs = []struct {
	pair       string
	alice      peer.Kind
	transports []lab.Transport
}{
	{"go-chrome", peer.KindGo, perfTransports},
	{"chrome-chrome", peer.KindChrome, []lab.Transport{lab.TransportWS}},
}

var _ = Describe("perf with Chrome", Ordered, Label("perf"), func() {
	var runs map[string]*perfRun
	BeforeAll(func() {
		runs = runPerfChromeMatrix()
	})
	for _, pp := range perfChromePairs {
		Describe(pp.pair, Label(pp.pair), func() {
			for _, tr := range pp.transports {
				Describe("over "+string(tr), Label(string(tr)), func() {
					for i, name := range perfProfiles {
						It(name+": alice "+string(pp.alice)+", bob chrome", func() { checkPerfRun(runs[pp.pair+"/"+perfKey(name, tr)], i) })
					}
				})
			}
		})
	}
})

// perfChromeParallel bounds the delayed cases running at once. Their
// figures are set by the links (40 ms round trips and more), not by the
// CPU, and three at once (up to six tabs) keep this 2-core machine far
// from busy; one at a time, the eight go-chrome cases took 55-67 s.
const perfChromeParallel = 3

// runPerfChromeMatrix runs every case: the ideal ones first, one at a time
// and alone (their figures are CPU-bound), then the delayed ones,
// perfChromeParallel at a time, longest first.
func runPerfChromeMatrix() map[string]*perfRun {
	b, err := suiteBrowser()
	Expect(err).NotTo(HaveOccurred(), "launching the suite's Chromium")
	runs := map[string]*perfRun{}
	var ideal, delayed []*perfRun
	for _, name := range slices.Backward(perfProfiles) {
		for _, pp := range perfChromePairs {
			for _, tr := range pp.transports {
				prof, ok := netem.Preset(name)
				Expect(ok).To(BeTrue(), "preset %q", name)
				r := &perfRun{pair: pp.pair, profile: name, transport: tr, prof: prof, rec: &caseRecord{}, topo: lab.Topology{
					Name:      "perf-" + pp.pair,
					Seed:      *seed,
					Endpoints: []lab.EndpointConfig{{Name: "alice", Kind: pp.alice, Profile: prof}, {Name: "bob", Kind: peer.KindChrome, Profile: prof}},
					// Chrome enters through TURN; a Go alice, on the WAN,
					// needs no STUN.
					STUN:      lab.Server{Mode: lab.ServerOff},
					Signaling: lab.SignalingConfig{Transport: tr, Profile: prof},
				}}
				runs[pp.pair+"/"+perfKey(name, tr)] = r
				if name == "ideal" {
					ideal = append(ideal, r)
				} else {
					delayed = append(delayed, r)
				}
			}
		}
	}
	keepPionLogs(runs)
	for _, r := range ideal {
		r.run(func() {}, lab.WithBrowser(b))
	}
	slots := make(chan struct{}, perfChromeParallel)
	var wg sync.WaitGroup
	for _, r := range delayed {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			r.run(func() {}, lab.WithBrowser(b))
		})
	}
	wg.Wait()
	return runs
}
