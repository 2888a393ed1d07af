package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/peer/signaling"
)

// The seed's dispatch specs (1-7): the signaling channel alone, driven
// through lab.SignalingClient: the lab's Go client of an id on a Go
// endpoint, the page's own client (browsers.ChromeClient) on a Chrome one.

// recvData receives the next message on sub and decodes its data.
func recvData(ctx context.Context, sub *signaling.Subscription) (signaling.Message, string) {
	GinkgoHelper()
	m, err := sub.Recv(ctx)
	Expect(err).NotTo(HaveOccurred())
	var s string
	Expect(json.Unmarshal(m.Data, &s)).To(Succeed())
	return m, s
}

// quiet asserts that nothing more arrives on sub within d (virtual time in
// a bubble; in real time d is a bound on what we wait for, not a sleep).
func quiet(ctx context.Context, sub *signaling.Subscription, d time.Duration) {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	m, err := sub.Recv(ctx)
	Expect(err).To(MatchError(context.DeadlineExceeded), "unexpected message %+v", m)
}

var _ = addSeedSpec(1, "dispatch", "sends to self", func(ctx context.Context, l *lab.Lab) {
	a := seedClient(ctx, l, "alice")
	sub := a.Subscribe(signaling.Filter{From: "alice"})
	Expect(a.Send(ctx, "alice", "note", "to myself")).To(Succeed())
	m, s := recvData(ctx, sub)
	Expect(m.From).To(Equal("alice"))
	Expect(m.To).To(Equal("alice"))
	Expect(m.Type).To(Equal("note"))
	Expect(s).To(Equal("to myself"))
})

var _ = addSeedSpec(2, "dispatch", "sends to other ids", func(ctx context.Context, l *lab.Lab) {
	a, b := seedClient(ctx, l, "alice"), seedClient(ctx, l, "bob")
	fromA := b.Subscribe(signaling.Filter{From: "alice"})
	fromB := a.Subscribe(signaling.Filter{From: "bob"})
	Expect(a.Send(ctx, "bob", "note", "hi bob")).To(Succeed())
	Expect(b.Send(ctx, "alice", "note", "hi alice")).To(Succeed())
	_, s := recvData(ctx, fromA)
	Expect(s).To(Equal("hi bob"))
	_, s = recvData(ctx, fromB)
	Expect(s).To(Equal("hi alice"))
})

var _ = addSeedSpec(3, "dispatch", "delivers in order", func(ctx context.Context, l *lab.Lab) {
	a, b := seedClient(ctx, l, "alice"), seedClient(ctx, l, "bob")
	sub := b.Subscribe(signaling.Filter{From: "alice"})
	const n = 200
	for i := range n {
		Expect(a.Send(ctx, "bob", "seq", fmt.Sprint(i))).To(Succeed())
	}
	for i := range n {
		_, s := recvData(ctx, sub)
		Expect(s).To(Equal(fmt.Sprint(i)))
	}
})

var _ = addSeedSpec(4, "dispatch", "distinguishes by type", func(ctx context.Context, l *lab.Lab) {
	a, b := seedClient(ctx, l, "alice"), seedClient(ctx, l, "bob")
	xs := b.Subscribe(signaling.Filter{From: "alice", Types: []string{"x"}})
	ys := b.Subscribe(signaling.Filter{From: "alice", Types: []string{"y"}})
	for i := range 10 {
		typ := "x"
		if i%2 == 1 {
			typ = "y"
		}
		Expect(a.Send(ctx, "bob", typ, fmt.Sprintf("%s%d", typ, i))).To(Succeed())
	}
	for i := 0; i < 10; i += 2 {
		m, s := recvData(ctx, xs)
		Expect(m.Type).To(Equal("x"))
		Expect(s).To(Equal(fmt.Sprintf("x%d", i)))
		m, s = recvData(ctx, ys)
		Expect(m.Type).To(Equal("y"))
		Expect(s).To(Equal(fmt.Sprintf("y%d", i+1)))
	}
	quiet(ctx, xs, 300*time.Millisecond)
})

var _ = addSeedSpec(5, "dispatch", "distinguishes by to", func(ctx context.Context, l *lab.Lab) {
	a, b, c := seedClient(ctx, l, "alice"), seedClient(ctx, l, "bob"), seedClient(ctx, l, "carol")
	atB := b.Subscribe(signaling.Filter{From: "alice"})
	atC := c.Subscribe(signaling.Filter{From: "alice"})
	Expect(a.Send(ctx, "bob", "note", "for bob")).To(Succeed())
	Expect(a.Send(ctx, "carol", "note", "for carol")).To(Succeed())
	m, s := recvData(ctx, atB)
	Expect(m.To).To(Equal("bob"))
	Expect(s).To(Equal("for bob"))
	m, s = recvData(ctx, atC)
	Expect(m.To).To(Equal("carol"))
	Expect(s).To(Equal("for carol"))
	quiet(ctx, atB, 300*time.Millisecond)
	quiet(ctx, atC, 0)
})

var _ = addSeedSpec(6, "dispatch", "distinguishes by from", func(ctx context.Context, l *lab.Lab) {
	a, b, c := seedClient(ctx, l, "alice"), seedClient(ctx, l, "bob"), seedClient(ctx, l, "carol")
	fromA := b.Subscribe(signaling.Filter{From: "alice"})
	fromC := b.Subscribe(signaling.Filter{From: "carol"})
	Expect(a.Send(ctx, "bob", "note", "from alice")).To(Succeed())
	Expect(c.Send(ctx, "bob", "note", "from carol")).To(Succeed())
	m, s := recvData(ctx, fromA)
	Expect(m.From).To(Equal("alice"))
	Expect(s).To(Equal("from alice"))
	m, s = recvData(ctx, fromC)
	Expect(m.From).To(Equal("carol"))
	Expect(s).To(Equal("from carol"))
	quiet(ctx, fromA, 300*time.Millisecond)
	quiet(ctx, fromC, 0)
})

var _ = addSeedSpec(7, "dispatch", "leaves nothing behind, and close can be called more than once", func(ctx context.Context, l *lab.Lab) {
	a, b := seedClient(ctx, l, "alice"), seedClient(ctx, l, "bob")
	sub := b.Subscribe(signaling.Filter{From: "alice"})
	Expect(a.Send(ctx, "bob", "note", "last words")).To(Succeed())
	_, s := recvData(ctx, sub)
	Expect(s).To(Equal("last words"))

	Expect(a.Close()).To(Succeed())
	Expect(a.Close()).To(Succeed())
	Expect(a.State()).To(Equal(signaling.StateClosed))
	Expect(a.Send(ctx, "bob", "note", "after close")).To(MatchError(signaling.ErrClosed))
	// The medium forgets alice: bob can no longer reach her.
	Eventually(ctx, func() []string { return registered(ctx, l) }).WithPolling(20 * time.Millisecond).ShouldNot(ContainElement("alice"))
	Expect(registered(ctx, l)).To(ContainElement("bob"))
	sub.Close()
	sub.Close()
	_, err := sub.Recv(ctx)
	Expect(err).To(MatchError(signaling.ErrClosed))
	// Nothing of alice's is left running: goleak checks the goroutines at
	// the end of the suite, and the lab's Close closes alice once more and bob.
})
