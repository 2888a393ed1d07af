package scenarios

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/peer"
)

// The glare families' rounds, for every pair of kinds: a fresh pair per
// round, both sides acting at one instant, and what each collision is
// expected to end in.

// gllTogether starts every call on its own goroutine, releases them at
// one instant, and returns their errors in order.
func gllTogether(ctx context.Context, calls ...func() error) []error {
	GinkgoHelper()
	type res struct {
		i   int
		err error
	}
	start := make(chan struct{})
	out := make(chan res, len(calls))
	for i, c := range calls {
		go func() {
			<-start
			out <- res{i, c()}
		}()
	}
	close(start)
	errs := make([]error, len(calls))
	for range calls {
		r := receive(ctx, out, "gllTogether: a call still running")
		errs[r.i] = r.err
	}
	return errs
}

// gllGlares lists ep's glare event details.
func gllGlares(ep peer.Endpoint) []string { return eventDetails(ep, peer.EventGlare) }

// eventDetails lists the details of ep's events of type t.
func eventDetails(ep peer.Endpoint, t peer.EventType) []string {
	var out []string
	for _, ev := range ep.EventHistory() {
		if ev.Type == t {
			out = append(out, ev.Detail)
		}
	}
	return out
}

// gllSignaling is ep's current signaling state.
func gllSignaling(ctx context.Context, ep peer.Endpoint) string {
	GinkgoHelper()
	st, err := ep.Stats(ctx)
	Expect(err).NotTo(HaveOccurred())
	return st.SignalingState
}

// gllRound runs one round on a fresh pair alice-NN / bob-NN of l (of
// the endpoints' kinds): body gets a context bounded to gllRoundWait. On
// a failure the round's part of the timeline goes to the spec's output;
// both peers are closed.
func gllRound(ctx context.Context, l *lab.Lab, round int, body func(ctx context.Context, a, b peer.Endpoint)) {
	GinkgoHelper()
	suffix := fmt.Sprintf("-%02d", round)
	ctx, cancel := context.WithTimeout(ctx, gllRoundWait)
	defer cancel()
	a, b, err := l.Connect(ctx, "alice", "bob", "alice"+suffix, "bob"+suffix)
	Expect(err).NotTo(HaveOccurred())
	done := false
	defer func() {
		if done {
			return
		}
		for _, e := range l.Timeline() {
			if strings.HasSuffix(e.Source, suffix) {
				fmt.Fprintln(GinkgoWriter, e)
			}
		}
	}()
	body(ctx, a, b)
	Expect(a.Close()).To(Succeed())
	Expect(b.Close()).To(Succeed())
	done = true
}

// glareChannels creates a channel on each side at one instant, accepts
// both, checks each carries a message both ways and opened once per side,
// and returns each side's glare events and alice's channel, both ends.
func glareChannels(ctx context.Context, round int, a, b peer.Endpoint) (ga, gb []string, out, in peer.Channel) {
	GinkgoHelper()
	var fromA, fromB peer.Channel
	errs := gllTogether(ctx,
		func() (err error) {
			fromA, err = a.CreateDataChannel(ctx, "from-alice", peer.ChannelOptions{})
			return err
		},
		func() (err error) {
			fromB, err = b.CreateDataChannel(ctx, "from-bob", peer.ChannelOptions{})
			return err
		},
	)
	Expect(errs).To(HaveEach(Succeed()), "round %d", round)
	atB, err := b.AcceptDataChannel(ctx, "from-alice")
	Expect(err).NotTo(HaveOccurred())
	atA, err := a.AcceptDataChannel(ctx, "from-bob")
	Expect(err).NotTo(HaveOccurred())
	echoOnce(ctx, fromA, atB, "a")
	echoOnce(ctx, atB, fromA, "a, back")
	echoOnce(ctx, fromB, atA, "b")
	echoOnce(ctx, atA, fromB, "b, back")
	want := map[string]int{"from-alice": 1, "from-bob": 1}
	Expect(opens(a)).To(Equal(want), "round %d: alice's channel opens", round)
	Expect(opens(b)).To(Equal(want), "round %d: bob's channel opens", round)
	return gllGlares(a), gllGlares(b), fromA, atB
}

// glcOpWait bounds an operation a failed collision leaves without an
// answer: two signaling hops (under 100 ms each), a link round trip, and
// a tab's getUserMedia and offer (a few hundred ms measured). Every
// failed round waits it out, in real time with Chrome.
const glcOpWait = 3 * time.Second

// glcPair is who sits where: alice is polite (the lower id).
type glcPair struct {
	name       string
	alice, bob peer.Kind
	label      string // the pair label of the record
}

// glcOutcome is what a renegotiation collision is expected to end in.
type glcOutcome string

const (
	glcWorks glcOutcome = "works"
	// glcWedged: a polite pion cannot roll back (peer/doc.go).
	glcWedged glcOutcome = "wedged: pion cannot roll back"
	// glcExtmap: a polite Chrome that rolled back an offer keeps its
	// header-extension ids (Chromium 156).
	glcExtmap glcOutcome = "Chrome: RTP extension ID reassignment not supported"
)

// glcChromeExtmapError is the error a polite Chrome's setRemoteDescription
// raises in the glcExtmap case.
const glcChromeExtmapError = "RTP extension ID reassignment not supported"

// glcRenegotiation is the expected end of a collision of alice adding
// mine and bob adding theirs under g, given who is polite (alice).
func glcRenegotiation(p glcPair, g peer.GlareStrategy, mine, theirs peer.MediaKind) glcOutcome {
	switch {
	case g != peer.GlarePerfect:
		return glcWorks
	case p.alice == peer.KindGo:
		return glcWedged
	case p.bob == peer.KindChrome && mine != theirs:
		return glcExtmap
	}
	return glcWorks
}

// glcCollide runs one renegotiation collision on a connected pair: alice
// adds mine, bob adds theirs, at one instant. It checks the round ended
// as want says (when the offers crossed) and reports whether they did,
// with the channel the pair had opened before, both ends.
func glcCollide(ctx context.Context, round int, a, b peer.Endpoint, g peer.GlareStrategy, mine, theirs peer.MediaKind, want glcOutcome) (collided bool, out, in peer.Channel) {
	GinkgoHelper()
	// The first exchange, uncontested.
	out, err := a.CreateDataChannel(ctx, "app", peer.ChannelOptions{})
	Expect(err).NotTo(HaveOccurred())
	in, err = b.AcceptDataChannel(ctx, "app")
	Expect(err).NotTo(HaveOccurred())
	echoOnce(ctx, out, in, "connected")
	Expect(append(gllGlares(a), gllGlares(b)...)).To(BeEmpty(), "round %d: glare before the collision", round)

	start := time.Now()
	opCtx, cancel := context.WithTimeout(ctx, glcOpWait)
	errs := gllTogether(ctx,
		func() error { return a.AddMedia(opCtx, glcMedia(mine)) },
		func() error { return b.AddMedia(opCtx, glcMedia(theirs)) },
	)
	cancel()
	ga, gb := gllGlares(a), gllGlares(b)
	// The offers crossed when the impolite side saw the polite side's
	// offer while its own was out: most rounds under perfect negotiation
	// (both leave at one instant, each message takes 0-100 ms).
	collided = g == peer.GlarePerfect && slices.Contains(gb, "ignored the remote offer (impolite side)")
	noTrack := func() {
		_, ta := firstEvent(a, peer.EventTrack, start)
		_, tb := firstEvent(b, peer.EventTrack, start)
		Expect(ta || tb).To(BeFalse(), "round %d: a track arrived through a failed negotiation", round)
	}
	switch {
	case collided && want == glcWedged:
		// The documented wedge (peer/doc.go): pion, polite, cannot roll
		// back; its AddMedia fails with ErrUnsupported, the impolite tab
		// ignored its offer and waits for an answer that never comes,
		// both stay in have-local-offer, no track arrives.
		Expect(ga).To(ContainElement(ContainSubstring("cannot roll back")), "round %d: alice (pion, polite)", round)
		Expect(errs[0]).To(MatchError(peer.ErrUnsupported), "round %d: the polite side's AddMedia", round)
		Expect(errs[1]).To(MatchError(context.DeadlineExceeded), "round %d: the impolite side's AddMedia", round)
		Expect(gllSignaling(ctx, a)).To(Equal("have-local-offer"), "round %d: alice", round)
		Expect(gllSignaling(ctx, b)).To(Equal("have-local-offer"), "round %d: bob", round)
		noTrack()
		echoOnce(ctx, out, in, "wedged, still here")
	case collided && want == glcExtmap:
		// The polite tab rolled back and could not take the offer: its
		// answer never comes, so both operations run out of time, and
		// the impolite tab is left in have-local-offer.
		Expect(ga).To(ContainElement("rolled back (polite side)"), "round %d: alice (Chrome, polite)", round)
		Expect(eventDetails(a, peer.EventError)).To(ContainElement(ContainSubstring(glcChromeExtmapError)), "round %d: alice's setRemoteDescription", round)
		Expect(errs).To(HaveEach(MatchError(context.DeadlineExceeded)), "round %d: AddMedia", round)
		Expect(gllSignaling(ctx, b)).To(Equal("have-local-offer"), "round %d: bob", round)
		noTrack()
		echoOnce(ctx, out, in, "failed, still here")
	default:
		// Both renegotiations go through: each side gets the other's
		// track, media flows, signaling ends stable.
		Expect(errs).To(HaveEach(Succeed()), "round %d", round)
		waitEvent(ctx, a, peer.EventTrack, start)
		waitEvent(ctx, b, peer.EventTrack, start)
		expectMedia(ctx, a, 20)
		expectMedia(ctx, b, 20)
		Expect(gllSignaling(ctx, a)).To(Equal("stable"), "round %d: alice", round)
		Expect(gllSignaling(ctx, b)).To(Equal("stable"), "round %d: bob", round)
		switch {
		case g == peer.GlareLock:
			Expect(append(ga, gb...)).To(BeEmpty(), "round %d: offers crossed under the lock", round)
		case collided:
			// A polite Chrome rolled back and took the re-offer.
			Expect(ga).To(ContainElement("rolled back (polite side)"), "round %d: alice (Chrome, polite)", round)
		}
	}
	return collided, out, in
}

// glcMedia is the generated track of a kind.
func glcMedia(k peer.MediaKind) peer.MediaSpec {
	if k == peer.Video {
		return peer.MediaSpec{Kind: peer.Video, Bitrate: 200_000}
	}
	return audio
}
