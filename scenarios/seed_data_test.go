package scenarios

import (
	"context"
	"fmt"

	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/peer"
)

// The seed's negotiation and glare specs (14-18): data channels.

var _ = addSeedSpec(14, "data", "can send data on open", func(ctx context.Context, l *lab.Lab) {
	a, b := seedPair(ctx, l)
	ch, err := a.CreateDataChannel(ctx, "chat", peer.ChannelOptions{})
	Expect(err).NotTo(HaveOccurred())
	Expect(ch.Send(ctx, []byte("hello on open"))).To(Succeed())
	in, err := b.AcceptDataChannel(ctx, "chat")
	Expect(err).NotTo(HaveOccurred())
	expectMessage(ctx, in, "hello on open")
})

var _ = addSeedSpec(15, "data", "can send data on the channel from the answering side", func(ctx context.Context, l *lab.Lab) {
	a, b := seedPair(ctx, l)
	out, err := a.CreateDataChannel(ctx, "chat", peer.ChannelOptions{})
	Expect(err).NotTo(HaveOccurred())
	in, err := b.AcceptDataChannel(ctx, "chat")
	Expect(err).NotTo(HaveOccurred())
	Expect(in.Send(ctx, []byte("answer side speaks"))).To(Succeed())
	expectMessage(ctx, out, "answer side speaks")
})

var _ = addSeedSpec(16, "data", "can send through two data channels opened at once", func(ctx context.Context, l *lab.Lab) {
	a, b := seedPair(ctx, l)
	chans := openAtOnce(ctx,
		func() (peer.Channel, error) { return a.CreateDataChannel(ctx, "one", peer.ChannelOptions{}) },
		func() (peer.Channel, error) { return a.CreateDataChannel(ctx, "two", peer.ChannelOptions{}) },
	)
	for _, ch := range chans {
		Expect(ch.Send(ctx, []byte("via "+ch.Label()))).To(Succeed())
	}
	for _, label := range []string{"one", "two"} {
		in, err := b.AcceptDataChannel(ctx, label)
		Expect(err).NotTo(HaveOccurred())
		expectMessage(ctx, in, "via "+label)
	}
})

var _ = addSeedSpec(17, "glare", "can create data channels from both sides at once", func(ctx context.Context, l *lab.Lab) {
	a, b := seedPair(ctx, l)
	chans := openAtOnce(ctx,
		func() (peer.Channel, error) { return a.CreateDataChannel(ctx, "from-alice", peer.ChannelOptions{}) },
		func() (peer.Channel, error) { return b.CreateDataChannel(ctx, "from-bob", peer.ChannelOptions{}) },
	)
	Expect(chans[0].Send(ctx, []byte("alice here"))).To(Succeed())
	Expect(chans[1].Send(ctx, []byte("bob here"))).To(Succeed())
	atB, err := b.AcceptDataChannel(ctx, "from-alice")
	Expect(err).NotTo(HaveOccurred())
	atA, err := a.AcceptDataChannel(ctx, "from-bob")
	Expect(err).NotTo(HaveOccurred())
	expectMessage(ctx, atB, "alice here")
	expectMessage(ctx, atA, "bob here")
})

var _ = addSeedSpec(18, "glare", "can prearrange data channels (negotiated: true, same id)", func(ctx context.Context, l *lab.Lab) {
	a, b := seedPair(ctx, l)
	id := uint16(7)
	opts := peer.ChannelOptions{Negotiated: true, ID: &id}
	chans := openAtOnce(ctx,
		func() (peer.Channel, error) { return a.CreateDataChannel(ctx, "prearranged", opts) },
		func() (peer.Channel, error) { return b.CreateDataChannel(ctx, "prearranged", opts) },
	)
	for i, ch := range chans {
		Expect(ch.ID()).To(Equal(id))
		Expect(ch.Send(ctx, []byte(fmt.Sprintf("side %d", i)))).To(Succeed())
	}
	expectMessage(ctx, chans[0], "side 1")
	expectMessage(ctx, chans[1], "side 0")
})
