package scenarios

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
)

// Impairment seen from inside Chrome: alice is a Go peer on the WAN, bob
// a Chrome tab whose leg to the lab's TURN server carries the profile.
// What Chrome's own getStats and its data channel report must be what the
// profile says (the check that the bridge shapes Chrome's traffic,
// not only the Go side's).
//
//	alice (Go) ─ WAN ─ relay ─ TURN ═[bob's profile, both ways]═ 127.0.0.1 ─ bob (Chrome)

const (
	chromeRTTTolerance = 5 * time.Millisecond
	chromeRTTSnapshots = 20
	chromeLossMessages = 1000
	chromeLossPace     = 5 * time.Millisecond // 200 messages/s each way
	// chromeLossEndWait bounds the wait for the first end marker
	// (chromeLossRun) after the last numbered message. The count never
	// depends on it: the marker's arrival ends the count. It only turns
	// a stalled path into a failure: one marker goes out per pace, each
	// lost with p = 0.1, so ten in a row are lost with p = 1e-10, and
	// 5 s is about a thousand markers.
	chromeLossEndWait = 5 * time.Second
)

func chromeImpairTopo(prof *netem.Profile) lab.Topology {
	return lab.Topology{
		Name:      "chrome-impair",
		Endpoints: []lab.EndpointConfig{{Name: "alice"}, {Name: "bob", Kind: peer.KindChrome, Profile: prof}},
		STUN:      lab.Server{Mode: lab.ServerOff},
		// Heartbeats would share the association with what is counted.
		Peer: peer.Config{Heartbeat: peer.HeartbeatConfig{Disabled: true}},
	}
}

func chromeProfile(name, src string) *netem.Profile {
	GinkgoHelper()
	p, err := netem.ParseProfile(name+".yaml", []byte("name: "+name+"\n"+src))
	Expect(err).NotTo(HaveOccurred())
	return p
}

var _ = Describe("impairment seen from Chrome", Label("chrome", "go-chrome", "loopback"), func() {
	It("50 ms each way on the tab's leg gives a selected-pair currentRoundTripTime of 0.100 +/- 0.005 s", func() {
		topo := chromeImpairTopo(chromeProfile("delay50", "delay: 50ms\n"))
		runLab(labCase{Family: "chrome", Pair: "go-chrome", Profile: "delay50"}, topo, func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
			_, b, _, _ := openPair(ctx, l, "rtt")
			// Chrome measures the pair's RTT with its consent checks (one
			// every few seconds) and reports the latest, in whole
			// milliseconds, so equal figures in a row are normal. The
			// median of 20 snapshots half a second apart spans several
			// checks: one check that met a busy moment of this 2-core
			// machine does not decide the case.
			var rtts []time.Duration
			tick := time.NewTicker(500 * time.Millisecond)
			defer tick.Stop()
			for len(rtts) < chromeRTTSnapshots {
				select {
				case <-ctx.Done():
					Fail(fmt.Sprintf("Chrome reported %d currentRoundTripTime figures before the deadline, want %d", len(rtts), chromeRTTSnapshots))
				case <-tick.C:
				}
				st, err := b.Stats(ctx)
				Expect(err).NotTo(HaveOccurred())
				if st.RTT > 0 {
					rtts = append(rtts, st.RTT)
				}
			}
			slices.Sort(rtts)
			rtt := rtts[len(rtts)/2]
			rec.Metric("chrome_rtt_ms", float64(rtt)/float64(time.Millisecond))
			rec.Metric("chrome_rtt_min_ms", float64(rtts[0])/float64(time.Millisecond))
			rec.Metric("chrome_rtt_max_ms", float64(rtts[len(rtts)-1])/float64(time.Millisecond))
			Expect(rtt).To(BeNumerically("~", 100*time.Millisecond, chromeRTTTolerance),
				"Chrome's currentRoundTripTime through a 50 ms each-way leg")
		})
	})

	It("10% loss each way on the tab's leg delivers 0.9 of unreliable messages in each direction, within 3 sigma", func() {
		prof := chromeProfile("loss10", "loss: {model: bernoulli, rate: 10%}\n")
		Expect(chromeKeepsOrder(prof)).To(Succeed(), "chromeLossRun's end marker needs a path that keeps packet order")
		topo := chromeImpairTopo(prof)
		runLab(labCase{Family: "chrome", Pair: "go-chrome", Profile: "loss10"}, topo, func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
			a, b, err := l.Connect(ctx, "alice", "bob")
			Expect(err).NotTo(HaveOccurred())
			zero := uint16(0)
			opts := peer.ChannelOptions{Unordered: true, MaxRetransmits: &zero}
			ab, err := a.CreateDataChannel(ctx, "loss", opts)
			Expect(err).NotTo(HaveOccurred())
			ba, err := b.AcceptDataChannel(ctx, "loss")
			Expect(err).NotTo(HaveOccurred())
			// Each message crosses the lossy leg once, in one direction:
			// delivered with p = 0.9, N of them binomial.
			p := 0.9
			sd := math.Sqrt(p * (1 - p) / chromeLossMessages)
			var wg sync.WaitGroup
			got := make([]chromeLossResult, 2)
			for i, dir := range []struct{ out, in peer.Channel }{{ab, ba}, {ba, ab}} {
				wg.Go(func() {
					defer GinkgoRecover()
					got[i] = chromeLossRun(ctx, dir.out, dir.in)
				})
			}
			wg.Wait()
			for i, name := range []string{"go_to_chrome", "chrome_to_go"} {
				ratio := float64(got[i].delivered) / chromeLossMessages
				rec.Metric("delivered_ratio_"+name, ratio)
				rec.Metric("end_marker_ms_"+name, float64(got[i].endWait)/float64(time.Millisecond))
				rec.Metric("end_markers_sent_"+name, float64(got[i].markers))
				Expect(ratio).To(beWithinSigma(p, sd), "%s: %d of %d delivered", name, got[i].delivered, chromeLossMessages)
			}
		})
	})
})

// chromeLossRun sends chromeLossMessages numbered messages on out, paced,
// then end markers (numbers from chromeLossMessages on), one per pace on
// the same channel until one reaches in, and counts the distinct numbered
// messages that reached in before the first marker.
//
// When a marker arrives, every numbered message that was not lost has
// arrived, so the count waits for nothing more:
//   - the markers leave after every numbered message: they are on the
//     same channel, so the same SCTP stream, whose messages pion and
//     dcSCTP alike take in the order sent, and send once at
//     maxRetransmits 0 (no later copy of a lost one);
//   - the path keeps packet order: netem's shaper lets no packet overtake
//     an earlier one except by its reorder, which the profile must not
//     have (chromeKeepsOrder: jitter and delay keep the order), and each
//     other hop (vnet, the TURN server's listener and relay) is one
//     reader passing packets on in turn;
//   - the receiver hands one channel's messages over in arrival order
//     (an unordered message as soon as it is whole; one pion read loop
//     per channel; for Chrome, the page's single event stream).
//
// A marker on a channel of its own (a reliable one, never lost) would
// not do: dcSCTP schedules streams in turn, so it could leave before a
// numbered message still queued in Chrome, and pion delivers each channel
// from its own goroutine, so it could be handed over before a numbered
// message that arrived first. Neither lead is bounded by the profile's
// delay, so no wait after such a marker would be derived.
func chromeLossRun(ctx context.Context, out, in peer.Channel) chromeLossResult {
	GinkgoHelper()
	seen := map[uint32]bool{} // written by the receiver until recvDone
	var recvErr error         // likewise
	rctx, stop := context.WithCancel(ctx)
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		for {
			msg, err := in.Recv(rctx)
			if err != nil {
				recvErr = err
				return
			}
			if len(msg) < 4 {
				continue
			}
			n := binary.BigEndian.Uint32(msg)
			if n >= chromeLossMessages {
				return // the first end marker: the count is complete
			}
			seen[n] = true
		}
	}()
	// The receiver ends with the run, passed or failed.
	defer func() {
		stop()
		<-recvDone
	}()
	tick := time.NewTicker(chromeLossPace)
	defer tick.Stop()
	buf := make([]byte, 64)
	for i := range chromeLossMessages {
		select {
		case <-tick.C:
		case <-ctx.Done():
			Fail(fmt.Sprintf("%q: the case ended before message %d was sent", out.Label(), i))
		}
		binary.BigEndian.PutUint32(buf, uint32(i))
		Expect(out.Send(ctx, buf)).To(Succeed(), fmt.Sprintf("send %d", i))
	}
	lastSent := time.Now()
	end := time.NewTimer(chromeLossEndWait)
	defer end.Stop()
	for marker := uint32(chromeLossMessages); ; marker++ {
		binary.BigEndian.PutUint32(buf, marker)
		Expect(out.Send(ctx, buf)).To(Succeed(), fmt.Sprintf("send end marker %d", marker))
		select {
		case <-recvDone:
			Expect(recvErr).NotTo(HaveOccurred(), "%q: the receiver stopped before an end marker arrived", in.Label())
			return chromeLossResult{delivered: len(seen), endWait: time.Since(lastSent), markers: int(marker-chromeLossMessages) + 1}
		case <-tick.C:
		case <-end.C:
			Fail(fmt.Sprintf("%q: no end marker arrived within %v of the last message (%d sent)", in.Label(), chromeLossEndWait, marker-chromeLossMessages+1))
		case <-ctx.Done():
			Fail(fmt.Sprintf("%q: the case ended before an end marker arrived (%d sent)", in.Label(), marker-chromeLossMessages+1))
		}
	}
}

// chromeLossResult is what chromeLossRun saw.
type chromeLossResult struct {
	delivered int           // distinct numbered messages before the first end marker
	endWait   time.Duration // last numbered message sent to the first marker seen
	markers   int           // end markers sent until then
}

// chromeKeepsOrder fails if p reorders packets in either direction, in
// any phase: the one impairment that lets a packet overtake an earlier
// one (netem Shaper.Shape).
func chromeKeepsOrder(p *netem.Profile) error {
	for _, dir := range []netem.Direction{netem.Up, netem.Down} {
		for phase := -1; phase < len(p.Schedule); phase++ {
			if r := p.Effective(dir, phase).Reorder; r != nil && r.Probability > 0 {
				return fmt.Errorf("profile %q reorders (%v) in direction %v, phase %d", p.Name, r.Probability, dir, phase)
			}
		}
	}
	return nil
}
