package scenarios

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/peer"
)

// opens counts the channel-open events of ep by label.
func opens(ep peer.Endpoint) map[string]int {
	n := map[string]int{}
	for _, ev := range ep.EventHistory() {
		if ev.Type == peer.EventChannelOpen {
			n[ev.Label]++
		}
	}
	return n
}

// Glare, the seed's question 7: two offers cross when both sides add a
// channel at once. 100 fresh pairs per strategy, each racing its first
// negotiation over delayed signaling (so the offers really cross), in
// virtual time.
var _ = Describe("glare", Label("glare", "go-go", "delayed"), func() {
	const rounds = 100
	for _, strategy := range []peer.GlareStrategy{peer.GlareLock, peer.GlarePerfect} {
		It(fmt.Sprintf("opens every channel exactly once on each side, %d times, with strategy %s", rounds, strategy), func() {
			var crossed int
			synctest.Test(suiteT, func(t *testing.T) {
				defer GinkgoRecover()
				w, err := newWorld(mDelayed, *seed)
				Expect(err).NotTo(HaveOccurred())
				defer w.Close()
				ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
				defer cancel()
				for round := range rounds {
					a, b := w.goPairNamed(ctx, fmt.Sprintf("alice-%03d", round), fmt.Sprintf("bob-%03d", round), pairOptions{glare: strategy})
					chans := openAtOnce(ctx,
						func() (peer.Channel, error) { return a.CreateDataChannel(ctx, "from-alice", peer.ChannelOptions{}) },
						func() (peer.Channel, error) { return b.CreateDataChannel(ctx, "from-bob", peer.ChannelOptions{}) },
					)
					atB, err := b.AcceptDataChannel(ctx, "from-alice")
					Expect(err).NotTo(HaveOccurred())
					atA, err := a.AcceptDataChannel(ctx, "from-bob")
					Expect(err).NotTo(HaveOccurred())
					Expect(chans[0].Send(ctx, []byte("a"))).To(Succeed())
					Expect(chans[1].Send(ctx, []byte("b"))).To(Succeed())
					expectMessage(ctx, atB, "a")
					expectMessage(ctx, atA, "b")
					want := map[string]int{"from-alice": 1, "from-bob": 1}
					Expect(opens(a)).To(Equal(want), "round %d: alice's channel opens", round)
					Expect(opens(b)).To(Equal(want), "round %d: bob's channel opens", round)
					if offersCrossed(a) || offersCrossed(b) {
						crossed++
					}
					Expect(a.Close()).To(Succeed())
					Expect(b.Close()).To(Succeed())
				}
			})
			// The scenario is only a glare test if offers did cross: under
			// the lock they never may (the lock serializes them); under
			// perfect negotiation they must have, in some rounds.
			if strategy == peer.GlarePerfect {
				Expect(crossed).To(BeNumerically(">", 0), "no round had crossing offers")
			} else {
				Expect(crossed).To(BeZero())
			}
			record(&caseData{Metrics: map[string]float64{"rounds": rounds, "offers_crossed": float64(crossed)}})
		})
	}
})

// offersCrossed reports whether ep saw an offer arrive while its own was
// outstanding (a collision).
func offersCrossed(ep peer.Endpoint) bool {
	for _, ev := range ep.EventHistory() {
		if ev.Type == peer.EventGlare {
			return true
		}
	}
	return false
}
