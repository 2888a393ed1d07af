package scenarios

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/browsers"
	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/peer"
)

// Heartbeats with Chrome: between a Go peer and a Chrome tab, both ways,
// and between two tabs. The side left behind notices a remote killed
// without a bye, on both paths (signaling and the netlab-heartbeat
// channel), within [Timeout, Timeout+Interval] of the kill (the same rule
// as the go-go family; real time here).

// hbcBeat is fast, so that a case takes seconds of wall time.
var hbcBeat = peer.HeartbeatConfig{Interval: 250 * time.Millisecond, Timeout: time.Second}

const (
	// hbcEarly allows for a JS timer that fired a little late once,
	// which puts the last beat heard up to that much before Interval
	// ahead of the kill; hbcLate for event delivery and timer slop on
	// the watching side.
	hbcEarly = 25 * time.Millisecond
	hbcLate  = 150 * time.Millisecond
)

// hbcCase is who dies and who watches.
type hbcCase struct {
	pair             string    // the record's pair label
	aliceKind        peer.Kind // bob is always Chrome
	killChrome       bool      // the victim is bob (Chrome); else alice (Go)
	victim, watching string
}

var hbcCases = []hbcCase{
	{"go-chrome", peer.KindGo, true, "bob (Chrome)", "alice (Go)"},
	{"go-chrome", peer.KindGo, false, "alice (Go)", "bob (Chrome)"},
	{"chrome-chrome", peer.KindChrome, true, "bob (Chrome)", "alice (Chrome)"},
}

func hbcTopo(aliceKind peer.Kind) lab.Topology {
	return lab.Topology{
		Name:      "heartbeat-chrome",
		Endpoints: []lab.EndpointConfig{{Name: "alice", Kind: aliceKind}, {Name: "bob", Kind: peer.KindChrome}},
		STUN:      lab.Server{Mode: lab.ServerOff},
		Peer:      peer.Config{Heartbeat: hbcBeat, Reconnect: peer.ReconnectConfig{Disabled: true}},
	}
}

var _ = Describe("heartbeat with Chrome", Label("heartbeat", "loopback"), func() {
	for _, c := range hbcCases {
		It("notices "+c.victim+" killed without a bye: "+c.watching+" times out on both paths within [Timeout, Timeout+Interval]", Label(c.pair), func() {
			runLab(labCase{Family: "heartbeat", Pair: c.pair, Profile: "ideal"}, hbcTopo(c.aliceKind), func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
				a, b, _, _ := openPair(ctx, l, "app")
				// Beats flow both ways on both paths before the kill.
				time.Sleep(4 * hbcBeat.Interval) // real time: a few beats each way
				watch := a
				killAt := time.Now()
				if c.killChrome {
					// The renderer crashes (CDP Page.crash): the tab dies
					// without a word, as a crashed or frozen tab does.
					// (ChromePeer.Kill would close the page's session, and
					// Chrome then closes the association on its way out.)
					b.(*browsers.ChromePeer).Crash()
				} else {
					watch = b
					a.(interface{ Kill() }).Kill()
				}
				for _, path := range []string{"signaling", "datachannel"} {
					var ev peer.Event
					Eventually(ctx, func() bool {
						for _, e := range watch.EventHistory() {
							if e.Type == peer.EventHeartbeatTimeout && e.Path == path && e.At.After(killAt) {
								ev = e
								return true
							}
						}
						return false
					}).WithTimeout(hbcBeat.Timeout+hbcBeat.Interval+5*time.Second).WithPolling(20*time.Millisecond).
						Should(BeTrue(), "%s: no heartbeat timeout on the %s path", watch.ID(), path)
					after := ev.At.Sub(killAt)
					rec.Metric("detect_ms_"+path, float64(after.Milliseconds()))
					Expect(after).To(BeNumerically(">=", hbcBeat.Timeout-hbcEarly), "%s path: detected too early", path)
					Expect(after).To(BeNumerically("<=", hbcBeat.Timeout+hbcBeat.Interval+hbcLate), "%s path: detected too late", path)
				}
				_, bye := firstEvent(watch, peer.EventBye, killAt)
				Expect(bye).To(BeFalse(), "a killed peer said bye")
				// No timeout before the kill.
				for _, e := range watch.EventHistory() {
					Expect(e.Type == peer.EventHeartbeatTimeout && e.At.Before(killAt)).To(BeFalse(), "a timeout before the kill: %+v", e)
				}
			})
		})
	}
})
