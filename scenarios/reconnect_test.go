package scenarios

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// echoOnce sends msg on out and expects it on in.
func echoOnce(ctx context.Context, out, in peer.Channel, msg string) {
	GinkgoHelper()
	Expect(out.Send(ctx, []byte(msg))).To(Succeed())
	expectMessage(ctx, in, msg)
}

// Reconnect, the seed's question 5: signaling and the media path both go
// down in the field; the session must come back.
var _ = Describe("reconnect", Label("reconnect", "go-go"), func() {
	for _, m := range []medium{mWS, mSSE} {
		It("re-registers both clients after a signaling server restart, and negotiates again, over "+string(m), Label(string(m)), func(ctx SpecContext) {
			runCase(ctx, m, func(ctx context.Context, w *world) {
				a, b := w.goPair(ctx, pairOptions{})
				out, err := a.CreateDataChannel(ctx, "before", peer.ChannelOptions{})
				Expect(err).NotTo(HaveOccurred())
				in, err := b.AcceptDataChannel(ctx, "before")
				Expect(err).NotTo(HaveOccurred())
				echoOnce(ctx, out, in, "before the restart")

				ea, eb := w.clients["alice"].Events(), w.clients["bob"].Events()
				restartedAt := time.Now()
				Expect(w.restartServer(ctx)).To(Succeed())
				// Both clients see the server go and come back, and register
				// again under their ids.
				for _, q := range []*feedQueue{ea, eb} {
					waitClientState(ctx, q, signaling.StateDisconnected)
					waitClientState(ctx, q, signaling.StateConnected)
				}
				Expect(w.registered(ctx)).To(ContainElements("alice", "bob"))
				// The data channel never needed signaling: it kept working.
				echoOnce(ctx, out, in, "during the restart")
				// The next negotiation goes through the new server.
				Expect(a.Restart(ctx)).To(Succeed())
				Expect(b.AddMedia(ctx, audio)).To(Succeed())
				expectMedia(ctx, a, 20)
				record(&caseData{Metrics: map[string]float64{"signaling_back_s": time.Since(restartedAt).Seconds()}})
			})
		})
	}

	It("recovers by ICE restart after an outage long enough to reach failed, and reports the time to recover", Label("loopback"), func(ctx SpecContext) {
		runCase(ctx, mLoopback, func(ctx context.Context, w *world) {
			ice := peer.ICETimeouts{Disconnected: 2 * time.Second, Failed: 3 * time.Second, KeepAlive: 500 * time.Millisecond}
			a, b := w.goPair(ctx, pairOptions{ice: ice, reconnect: peer.ReconnectConfig{DisconnectedGrace: time.Second}})
			out, err := a.CreateDataChannel(ctx, "app", peer.ChannelOptions{})
			Expect(err).NotTo(HaveOccurred())
			in, err := b.AcceptDataChannel(ctx, "app")
			Expect(err).NotTo(HaveOccurred())
			echoOnce(ctx, out, in, "before the outage")

			cutAt := time.Now()
			w.net.cut(true)
			// Both sides reach failed while the link is down.
			for _, ep := range []peer.Endpoint{a, b} {
				Eventually(ctx, func() bool {
					for _, ev := range ep.EventHistory() {
						if ev.Type == peer.EventState && ev.Machine == "ice" && ev.State == "failed" && ev.At.After(cutAt) {
							return true
						}
					}
					return false
				}).WithPolling(50*time.Millisecond).Should(BeTrue(), "%s never reached ICE failed", ep.ID())
			}
			time.Sleep(5 * time.Second) // virtual time in synctest: the outage goes on past failed
			restoredAt := time.Now()
			w.net.cut(false)

			metrics := map[string]float64{"outage_s": restoredAt.Sub(cutAt).Seconds()}
			for _, ep := range []peer.Endpoint{a, b} {
				det := waitEvent(ctx, ep, peer.EventDisconnected, cutAt)
				rec := waitEvent(ctx, ep, peer.EventRecovered, restoredAt)
				Expect(rec.Duration).To(BeNumerically(">", 0))
				metrics["time_to_detect_s_"+ep.ID()] = det.Duration.Seconds()
				metrics["time_to_recover_s_"+ep.ID()] = rec.Duration.Seconds()
				metrics["back_after_restore_s_"+ep.ID()] = rec.At.Sub(restoredAt).Seconds()
			}
			// Data flows again on the channel opened before the outage.
			echoOnce(ctx, out, in, "after the outage")
			echoOnce(ctx, in, out, "and back")
			record(&caseData{Metrics: metrics})
		})
	})
})
