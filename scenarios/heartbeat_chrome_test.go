package scenarios

import (
	"context"
	"time"

	"github.com/chromedp/cdproto/inspector"
	"github.com/chromedp/chromedp"
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
//
// The rule has two halves, and each timeout event carries the watcher's
// own account of both: Since, when it last heard a beat on the path, and
// Duration, the silence it then waited (peer.Event). A path times out
// Interval+Timeout after the last beat heard on it (peer.HeartbeatConfig),
// and the victim, beating every Interval, sent its last beat at most one
// Interval before the kill landed. So, per path:
//
//	timer:     Duration in [Interval+Timeout, Interval+Timeout+hbcSlop]
//	last beat: Since    in [killStart-Interval-hbcSlop, killEnd+hbcSlop]
//
// killStart is taken just before the Kill or Crash call, killEnd once the
// kill has surely landed: when Kill returns (a Go peer), or when Chrome
// reports the renderer crashed (Inspector.targetCrashed: ChromePeer.Crash
// itself returns only at its 1 s bound, as CDP Page.crash never answers).
// Where the kill lands between the two is not observable. The sum of the
// halves is the rule, with that uncertainty stated:
// detection - killStart >= Timeout-hbcSlop, and detection - killEnd <=
// Timeout+Interval+2*hbcSlop. A detector keyed to the wrong timer fails the
// timer half: Timeout alone is one Interval short of it, 2*Timeout 750 ms
// past it, both beyond hbcSlop.

// hbcBeat is fast, so that a case takes seconds of wall time.
var hbcBeat = peer.HeartbeatConfig{Interval: 250 * time.Millisecond, Timeout: time.Second}

// hbcSlop is the one allowance of this real-time family, for what no
// schedule fixes on a loaded 2-core machine: a timer that fires late (the
// victim's last beat, the watcher's deadline) and a beat already sent when
// the kill landed that arrives after it (through the CDP bridge, the
// in-memory signaling, or the loopback data channel; the profile is
// ideal). It is half an Interval: halfway between the right schedule and
// the nearest wrong one (a beat missed, a timer one Interval off), so
// every check below still tells them apart.
var hbcSlop = hbcBeat.Interval / 2

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

// hbcTimeouts lists the heartbeat timeouts of the endpoints.
func hbcTimeouts(eps ...peer.Endpoint) []peer.Event {
	var out []peer.Event
	for _, ep := range eps {
		for _, e := range ep.EventHistory() {
			if e.Type == peer.EventHeartbeatTimeout {
				out = append(out, e)
			}
		}
	}
	return out
}

// hbcWatchCrash reports when Chrome says tab's renderer crashed
// (Inspector.targetCrashed; chromedp enables the domain on every page
// target) until stop is called.
func hbcWatchCrash(tab *browsers.Tab) (crashed <-chan time.Time, stop func()) {
	GinkgoHelper()
	lctx, cancel := context.WithCancel(tab.Context())
	seen := make(chan time.Time, 1)
	// Runs on the tab's read loop: must not block.
	err := chromedp.Listen(lctx, func(ev any) {
		if _, ok := ev.(*inspector.EventTargetCrashed); ok {
			select {
			case seen <- time.Now():
			default:
			}
		}
	})
	if err != nil {
		cancel()
	}
	Expect(err).NotTo(HaveOccurred(), "listening for the renderer's crash")
	return seen, cancel
}

var _ = Describe("heartbeat with Chrome", Label("heartbeat", "loopback"), func() {
	for _, c := range hbcCases {
		It("notices "+c.victim+" killed without a bye: "+c.watching+" times out on both paths within [Timeout, Timeout+Interval]", Label(c.pair), func() {
			runLab(labCase{Family: "heartbeat", Pair: c.pair, Profile: "ideal"}, hbcTopo(c.aliceKind), func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
				a, b, _, _ := openPair(ctx, l, "app")
				// Both sides' paths run by now: the signaling path from
				// the first message heard in the negotiation, the
				// heartbeat channel from the association's start, which
				// the app channel and its echo needed.
				opened := time.Now()
				watch := a
				if !c.killChrome {
					watch = b
				}
				// No endpoint reports a beat heard (only a timeout, and a
				// recovery after one), so that beats flow is proven after
				// the kill, from the timeouts' Since: a beat heard at most
				// Interval+hbcSlop before the kill. For that to be a beat
				// and not the path's start (Since until the first beat),
				// the kill waits more than Interval+hbcSlop past opened;
				// meanwhile neither side may time out (for Consistently,
				// WithTimeout is how long it must hold).
				Consistently(ctx, func() []peer.Event { return hbcTimeouts(a, b) }).
					WithTimeout(hbcBeat.Interval+hbcSlop).WithPolling(20*time.Millisecond).
					Should(BeEmpty(), "a heartbeat timeout before the kill")
				var killStart, killEnd time.Time
				if c.killChrome {
					// The renderer crashes (CDP Page.crash): the tab dies
					// without a word, as a crashed or frozen tab does.
					// (ChromePeer.Kill would close the page's session, and
					// Chrome then closes the association on its way out.)
					victim := b.(*browsers.ChromePeer)
					crashed, unwatch := hbcWatchCrash(victim.Tab())
					defer unwatch()
					killStart = time.Now()
					victim.Crash()
					// Long there by now: Crash returned at its bound. A
					// liveness bound only.
					Eventually(ctx, crashed).WithTimeout(5*time.Second).Should(Receive(&killEnd), "Chrome never reported the renderer's crash")
				} else {
					killStart = time.Now()
					a.(interface{ Kill() }).Kill()
					killEnd = time.Now()
				}
				rec.Metric("kill_landed_within_ms", float64(killEnd.Sub(killStart))/float64(time.Millisecond))
				for _, path := range []string{"signaling", "datachannel"} {
					var ev peer.Event
					// A liveness bound only: the timing is judged from the
					// event's own stamps, whenever it reaches the test.
					Eventually(ctx, func() bool {
						for _, e := range hbcTimeouts(watch) {
							if e.Path == path {
								ev = e
								return true
							}
						}
						return false
					}).WithTimeout(hbcBeat.Timeout+hbcBeat.Interval+5*time.Second).WithPolling(20*time.Millisecond).
						Should(BeTrue(), "%s: no heartbeat timeout on the %s path", watch.ID(), path)
					detected := ev.Since.Add(ev.Duration) // on the watcher's own clock
					rec.Metric("detect_ms_"+path, float64(detected.Sub(killStart))/float64(time.Millisecond))
					rec.Metric("silence_ms_"+path, float64(ev.Duration)/float64(time.Millisecond))
					rec.Metric("last_beat_before_kill_ms_"+path, float64(killStart.Sub(ev.Since))/float64(time.Millisecond))
					Expect(ev.At).To(BeTemporally(">=", killStart), "%s path: a timeout before the kill: %+v", path, ev)
					Expect(ev.Duration).To(BeNumerically(">=", hbcBeat.Interval+hbcBeat.Timeout),
						"%s path: timed out after %v of silence, before Interval+Timeout", path, ev.Duration)
					Expect(ev.Duration).To(BeNumerically("<=", hbcBeat.Interval+hbcBeat.Timeout+hbcSlop),
						"%s path: timed out after %v of silence, want Interval+Timeout = %v (+%v)", path, ev.Duration, hbcBeat.Interval+hbcBeat.Timeout, hbcSlop)
					Expect(ev.Since).To(BeTemporally(">=", killStart.Add(-hbcBeat.Interval-hbcSlop)),
						"%s path: the last beat was heard %v before the kill: beats had stopped (or never flowed; the paths ran from %v before it)",
						path, killStart.Sub(ev.Since), killStart.Sub(opened))
					Expect(ev.Since).To(BeTemporally("<=", killEnd.Add(hbcSlop)),
						"%s path: a beat was heard %v after the kill had landed", path, ev.Since.Sub(killEnd))
				}
				_, bye := firstEvent(watch, peer.EventBye, killStart)
				Expect(bye).To(BeFalse(), "a killed peer said bye")
				_, back := firstEvent(watch, peer.EventHeartbeatRecovered, killStart)
				Expect(back).To(BeFalse(), "beats heard again from a killed peer")
			})
		})
	}
})
