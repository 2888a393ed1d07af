package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/internal/feed"
	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// Helpers shared by the families: channels, media, events, signaling
// clients.

// expectMessage receives on ch and expects want.
func expectMessage(ctx context.Context, ch peer.Channel, want string) {
	GinkgoHelper()
	got, err := ch.Recv(ctx)
	Expect(err).NotTo(HaveOccurred(), "channel %q", ch.Label())
	Expect(string(got)).To(Equal(want), "channel %q", ch.Label())
}

// echoOnce sends msg on out and expects it on in.
func echoOnce(ctx context.Context, out, in peer.Channel, msg string) {
	GinkgoHelper()
	Expect(out.Send(ctx, []byte(msg))).To(Succeed())
	expectMessage(ctx, in, msg)
}

// openPair connects alice and bob (of their endpoints' kinds), opens a
// channel alice -> bob with label and checks a message crosses.
func openPair(ctx context.Context, l *lab.Lab, label string) (a, b peer.Endpoint, out, in peer.Channel) {
	GinkgoHelper()
	a, b, err := l.Connect(ctx, "alice", "bob")
	Expect(err).NotTo(HaveOccurred())
	out, err = a.CreateDataChannel(ctx, label, peer.ChannelOptions{})
	Expect(err).NotTo(HaveOccurred())
	in, err = b.AcceptDataChannel(ctx, label)
	Expect(err).NotTo(HaveOccurred())
	echoOnce(ctx, out, in, "up")
	return a, b, out, in
}

// openAtOnce runs the calls concurrently and returns their channels.
func openAtOnce(ctx context.Context, calls ...func() (peer.Channel, error)) []peer.Channel {
	GinkgoHelper()
	type res struct {
		i   int
		ch  peer.Channel
		err error
	}
	out := make(chan res, len(calls))
	for i, c := range calls {
		go func() {
			ch, err := c()
			out <- res{i, ch, err}
		}()
	}
	chans := make([]peer.Channel, len(calls))
	for range calls {
		r := receive(ctx, out, "openAtOnce: a call still running")
		Expect(r.err).NotTo(HaveOccurred(), "call %d", r.i)
		chans[r.i] = r.ch
	}
	return chans
}

// receive waits for a value from ch, failing the spec when ctx ends
// first. A wait on the channel itself, not Eventually's poll: a poll
// every 10 ms is CPU that virtual time cannot skip (a 3 s wait is 300
// matches).
func receive[T any](ctx context.Context, ch <-chan T, what string) T {
	GinkgoHelper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		Fail(fmt.Sprintf("%s: %v", what, context.Cause(ctx)))
		panic("unreachable: Fail panics")
	}
}

// audio is the generated audio track the families add.
var audio = peer.MediaSpec{Kind: peer.Audio, Bitrate: 64_000}

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

// firstEvent returns the first event of type t in ep's history after
// since, or false.
func firstEvent(ep peer.Endpoint, t peer.EventType, since time.Time) (peer.Event, bool) {
	for _, ev := range ep.EventHistory() {
		if ev.Type == t && !ev.At.Before(since) {
			return ev, true
		}
	}
	return peer.Event{}, false
}

// waitEvent waits for the first event of type t after since.
func waitEvent(ctx context.Context, ep peer.Endpoint, t peer.EventType, since time.Time) peer.Event {
	GinkgoHelper()
	var ev peer.Event
	Eventually(ctx, func() bool {
		var ok bool
		ev, ok = firstEvent(ep, t, since)
		return ok
	}).WithPolling(10*time.Millisecond).Should(BeTrue(), "%s: no %s event", ep.ID(), t)
	return ev
}

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

type feedQueue = feed.Queue[signaling.ClientEvent]

// waitClientState pops client events until one reports st.
func waitClientState(ctx context.Context, q *feedQueue, st signaling.State) signaling.ClientEvent {
	GinkgoHelper()
	for {
		ev, err := q.Pop(ctx)
		Expect(err).NotTo(HaveOccurred(), "waiting for client state %v", st)
		if ev.Type == signaling.EventState && ev.State == st {
			return ev
		}
	}
}

// registered lists the ids l's signaling knows: the in-memory relay's
// sessions, or the server's listing over HTTP (lab has no listing of its
// own).
func registered(ctx context.Context, l *lab.Lab) []string {
	GinkgoHelper()
	if loop := l.Loopback(); loop != nil {
		return loop.Registered()
	}
	srv := l.Server()
	Expect(srv).NotTo(BeNil(), "the lab has no signaling server")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL()+"/listing", nil)
	Expect(err).NotTo(HaveOccurred())
	resp, err := listingClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	var ls signaling.Listing
	Expect(json.NewDecoder(resp.Body).Decode(&ls)).To(Succeed())
	return ls.Peers
}

// listingClient keeps no idle connection behind (goleak checks the suite).
var listingClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
