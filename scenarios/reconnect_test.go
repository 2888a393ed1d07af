package scenarios

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// Reconnect, the seed's question 5: signaling and the media path both go
// down in the field; the session must come back. The two cases here
// assert what no "reconnect (lab)" spec does (the server's listing and a
// media negotiation after a server restart; both sides reaching ICE
// failed in an outage of every link), on the seed's direct pair.

// restartDelay is what the server tells clients when it goes away.
const restartDelay = 200 * time.Millisecond

var _ = Describe("reconnect", Label("reconnect", "go-go"), func() {
	for _, t := range []lab.Transport{lab.TransportWS, lab.TransportSSE} {
		It("re-registers both clients after a signaling server restart, and negotiates again, over "+string(t), Label(string(t)), func() {
			runLab(labCase{Family: "reconnect", Profile: "server restart, renegotiation"}, directTopo(t, peer.Config{}),
				func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
					a, b, out, in := rclConnect(ctx, l)

					ca, err := l.Client(ctx, "alice")
					Expect(err).NotTo(HaveOccurred())
					cb, err := l.Client(ctx, "bob")
					Expect(err).NotTo(HaveOccurred())
					ea, eb := ca.Events(), cb.Events()
					restartedAt := time.Now()
					Expect(l.RestartServer(ctx, restartDelay)).To(Succeed())
					// Both clients see the server go and come back, and
					// register again under their ids.
					for _, q := range []*feedQueue{ea, eb} {
						waitClientState(ctx, q, signaling.StateDisconnected)
						waitClientState(ctx, q, signaling.StateConnected)
					}
					Expect(registered(ctx, l)).To(ContainElements("alice", "bob"))
					// The data channel never needed signaling: it kept working.
					echoOnce(ctx, out, in, "during the restart")
					// The next negotiation goes through the new server.
					Expect(a.Restart(ctx)).To(Succeed())
					Expect(b.AddMedia(ctx, audio)).To(Succeed())
					expectMedia(ctx, a, 20)
					rec.Metric("signaling_back_s", time.Since(restartedAt).Seconds())
				})
		})
	}

	It("recovers by ICE restart after an outage long enough to reach failed, and reports the time to recover", Label("loopback"), func() {
		tmpl := peer.Config{
			ICE:       peer.ICETimeouts{Disconnected: 2 * time.Second, Failed: 3 * time.Second, KeepAlive: 500 * time.Millisecond},
			Reconnect: peer.ReconnectConfig{DisconnectedGrace: time.Second},
		}
		runLab(labCase{Family: "reconnect", Profile: "outage of every link past failed"}, directTopo(lab.TransportLoopback, tmpl),
			func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
				a, b, out, in := rclConnect(ctx, l)

				cutAt := time.Now()
				Expect(l.Cut()).To(Succeed())
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
				time.Sleep(5 * time.Second) // virtual: the outage goes on past failed
				restoredAt := time.Now()
				Expect(l.Restore()).To(Succeed())

				rec.Metric("outage_s", restoredAt.Sub(cutAt).Seconds())
				for _, ep := range []peer.Endpoint{a, b} {
					det := waitEvent(ctx, ep, peer.EventDisconnected, cutAt)
					back := waitEvent(ctx, ep, peer.EventRecovered, restoredAt)
					Expect(back.Duration).To(BeNumerically(">", 0))
					rec.Metric("time_to_detect_s_"+ep.ID(), det.Duration.Seconds())
					rec.Metric("time_to_recover_s_"+ep.ID(), back.Duration.Seconds())
					rec.Metric("back_after_restore_s_"+ep.ID(), back.At.Sub(restoredAt).Seconds())
				}
				// Data flows again on the channel opened before the outage.
				echoOnce(ctx, out, in, "after the outage")
				echoOnce(ctx, in, out, "and back")
			})
	})
})
