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
		topo := chromeImpairTopo(chromeProfile("loss10", "loss: {model: bernoulli, rate: 10%}\n"))
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
			got := make([]int, 2)
			for i, dir := range []struct{ out, in peer.Channel }{{ab, ba}, {ba, ab}} {
				wg.Go(func() {
					defer GinkgoRecover()
					got[i] = chromeLossRun(ctx, dir.out, dir.in)
				})
			}
			wg.Wait()
			for i, name := range []string{"go_to_chrome", "chrome_to_go"} {
				ratio := float64(got[i]) / chromeLossMessages
				rec.Metric("delivered_ratio_"+name, ratio)
				Expect(ratio).To(beWithinSigma(p, sd), "%s: %d of %d delivered", name, got[i], chromeLossMessages)
			}
		})
	})
})

// chromeLossRun sends chromeLossMessages numbered messages on out, paced,
// and counts the distinct ones that reach in within a second of the last.
func chromeLossRun(ctx context.Context, out, in peer.Channel) int {
	GinkgoHelper()
	seen := map[uint32]bool{}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		for {
			msg, err := in.Recv(rctx)
			if err != nil {
				return // stopped after the drain, or the case ended
			}
			if len(msg) >= 4 {
				seen[binary.BigEndian.Uint32(msg)] = true
			}
		}
	}()
	tick := time.NewTicker(chromeLossPace)
	defer tick.Stop()
	buf := make([]byte, 64)
	for i := range chromeLossMessages {
		<-tick.C
		binary.BigEndian.PutUint32(buf, uint32(i))
		Expect(out.Send(ctx, buf)).To(Succeed(), fmt.Sprintf("send %d", i))
	}
	// Late messages: a second is ten times the leg's worst delay here.
	drain, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	<-drain.Done()
	stop()
	<-recvDone
	return len(seen)
}
