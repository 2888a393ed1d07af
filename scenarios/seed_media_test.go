package scenarios

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/peer"
)

// The seed's media specs (19-21), with the Go peer's generated media.

// expectMedia waits until ep has received at least packets RTP packets.
func expectMedia(ctx context.Context, ep peer.Endpoint, packets uint64) {
	GinkgoHelper()
	Eventually(ctx, func(g Gomega) {
		st, err := ep.Stats(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(st.TracksReceived).To(BeNumerically(">=", 1))
		g.Expect(st.RTPPacketsReceived).To(BeNumerically(">=", packets))
		g.Expect(st.RTPBytesReceived).To(BeNumerically(">", 0))
	}).WithPolling(50*time.Millisecond).Should(Succeed(), "%s receives media", ep.ID())
}

var audio = peer.MediaSpec{Kind: peer.Audio, Bitrate: 64_000}

var _ = addSeedSpec(19, "media", "can send media", func(ctx context.Context, w *world) {
	a, b := w.goPair(ctx, pairOptions{})
	Expect(a.AddMedia(ctx, audio)).To(Succeed())
	expectMedia(ctx, b, 50)
	st, err := a.Stats(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(st.RTPPacketsSent).To(BeNumerically(">=", 50))
})

var _ = addSeedSpec(20, "media", "can send media in both directions at once", func(ctx context.Context, w *world) {
	a, b := w.goPair(ctx, pairOptions{})
	errs := make(chan error, 2)
	go func() { errs <- a.AddMedia(ctx, audio) }()
	go func() { errs <- b.AddMedia(ctx, peer.MediaSpec{Kind: peer.Video, Bitrate: 300_000}) }()
	Eventually(ctx, errs).Should(Receive(BeNil()))
	Eventually(ctx, errs).Should(Receive(BeNil()))
	expectMedia(ctx, a, 50)
	expectMedia(ctx, b, 50)
})

var _ = addSeedSpec(21, "media", "can send data and media at once", func(ctx context.Context, w *world) {
	a, b := w.goPair(ctx, pairOptions{})
	errs := make(chan error, 1)
	go func() { errs <- a.AddMedia(ctx, audio) }()
	ch, err := a.CreateDataChannel(ctx, "alongside", peer.ChannelOptions{})
	Expect(err).NotTo(HaveOccurred())
	Eventually(ctx, errs).Should(Receive(BeNil()))
	Expect(ch.Send(ctx, []byte("data with media"))).To(Succeed())
	in, err := b.AcceptDataChannel(ctx, "alongside")
	Expect(err).NotTo(HaveOccurred())
	expectMessage(ctx, in, "data with media")
	expectMedia(ctx, b, 50)
})
