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
	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
)

// Glare with Chrome: the go-go family's collisions (glare_lab_test.go)
// between a Go peer and a Chrome tab, each way round, and between two
// tabs, over delayed signaling (0-100 ms per message, in order) and
// wifi-lossy links, with each glare strategy. Real time, so fewer rounds
// per cell than go-go.
//
// Who is polite matters: the lower id is (alice-NN < bob-NN), and what a
// polite side can do depends on its kind:
//   - a polite Chrome rolls back implicitly in setRemoteDescription(offer)
//     (the perfect negotiation pattern of the WebRTC spec);
//   - a polite pion cannot: SetLocalDescription rejects type rollback
//     (FINDINGS.md). Before the first exchange the Go peer replaces its
//     never-negotiated pion peer instead; after it, it fails the
//     operation with ErrUnsupported and signaling wedges (peer/doc.go).
//
// So the expectations per strategy and pair, when both sides add media
// at once on a connected pair (one audio, the other video: a microphone
// and a camera turned on together):
//
//	                          lock    perfect, first offer   perfect, renegotiation
//	alice Go,     bob Chrome  works   works (Go swaps)       wedged (pion cannot roll back)
//	alice Chrome, bob Go      works   works (Chrome rolls)   works (Chrome rolls back)
//	alice Chrome, bob Chrome  works   works                  fails: Chrome's extmap
//
// The seed (seeds/000) saw perfect negotiation fail with Chrome. Two
// causes, both header-extension ids:
//   - pion's default MediaEngine numbers extensions differently from
//     Chrome, so after Chrome's rollback pion refused the re-offer
//     (FINDINGS.md). The Go peer registers them in Chrome's order
//     (peer/gopeer_pc.go): the alice-Chrome, bob-Go renegotiation cell
//     proves it every round where the offers cross.
//   - Chrome (measured on Chromium 156) numbers extensions per media
//     kind (id 4 is sdes:mid in an audio section, transport-cc in a video
//     one), and a polite Chrome that rolled back its audio offer still
//     holds that section's ids: the peer's video offer for the same mid
//     fails setRemoteDescription with "RTP extension ID reassignment not
//     supported", with an implicit or an explicit rollback alike. Both
//     operations then hang and no track arrives. The spec asserts that
//     failure by name, so a fixed Chrome turns it red; with one media
//     kind on both sides the same collision works (a spec of its own).
//
// First-offer glare under the lock is seed spec 17, run for every pair.

// glcRounds per cell: each round is a fresh pair of tabs or peers, a few
// seconds of wall time.
const glcRounds = 3

// glcOpWait bounds an operation a failed collision leaves without an
// answer: two signaling hops (under 100 ms each), a link round trip, and
// the tab's getUserMedia and offer (a few hundred ms measured); shorter
// than go-go's 5 s, as every failed round waits it out in real time.
const glcOpWait = 3 * time.Second

// glcPreset is the links of every cell: glare is about signaling; the
// lossy link checks that a collision resolves under retransmissions too.
const glcPreset = "wifi-lossy"

// glcPair is who sits where: alice is polite (the lower id).
type glcPair struct {
	name       string
	alice, bob peer.Kind
	label      string // the pair label of the record
}

var glcPairs = []glcPair{
	{"alice Go (polite), bob Chrome", peer.KindGo, peer.KindChrome, "go-chrome"},
	{"alice Chrome (polite), bob Go", peer.KindChrome, peer.KindGo, "go-chrome"},
	{"alice Chrome (polite), bob Chrome", peer.KindChrome, peer.KindChrome, "chrome-chrome"},
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

func glcTopo(p glcPair, g peer.GlareStrategy) lab.Topology {
	GinkgoHelper()
	prof, ok := netem.Preset(glcPreset)
	Expect(ok).To(BeTrue(), "no preset %q", glcPreset)
	return lab.Topology{
		Name: "glare-chrome",
		Endpoints: []lab.EndpointConfig{
			{Name: "alice", Kind: p.alice, Profile: prof},
			{Name: "bob", Kind: p.bob, Profile: prof.Clone()},
		},
		STUN:      lab.Server{Mode: lab.ServerOff},
		TURN:      lab.Server{Mode: lab.ServerOn}, // Chrome enters through it
		Signaling: lab.SignalingConfig{Transport: lab.TransportDelayed},
		Peer:      peer.Config{Glare: g, SCTPRTOMax: gllSCTPRTOMax},
	}
}

// glcRound runs one round on a fresh pair alice-NN / bob-NN (of the
// endpoints' kinds), like gllRound.
func glcRound(ctx context.Context, l *lab.Lab, round int, body func(ctx context.Context, a, b peer.Endpoint)) {
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

// glcResolutions checks that every glare event of a perfect-negotiation
// first offer is the documented resolution of its side and kind.
func glcResolutions(round int, ep peer.Endpoint, polite bool) {
	GinkgoHelper()
	want := "ignored the remote offer (impolite side)"
	if polite {
		want = "rolled back (polite side)" // Chrome's implicit rollback
		if ep.Kind() == peer.KindGo {
			want = "rolled back by replacing the never-negotiated peer connection (polite side)"
		}
	}
	for _, d := range gllGlares(ep) {
		Expect(d).To(Equal(want), "round %d: %s (%s) handled glare", round, ep.ID(), ep.Kind())
	}
}

// glcEntries: first-offer glare under the lock is seed spec 17 (every
// pair and transport); here perfect negotiation.
func glcEntries() []TableEntry {
	var out []TableEntry
	for _, p := range glcPairs {
		out = append(out, Entry(fmt.Sprintf("%s, %s", p.name, peer.GlarePerfect), Label(p.label), p, peer.GlarePerfect))
	}
	return out
}

var _ = Describe("glare with Chrome", Label("glare", "delayed"), func() {
	DescribeTable(fmt.Sprintf("both sides create a data channel at the same instant, %d rounds", glcRounds),
		func(p glcPair, g peer.GlareStrategy) {
			var crossed int
			c := labCase{Family: "glare", Pair: p.label, Profile: glcPreset + ", " + p.name, Timeout: glcRounds * gllRoundWait}
			runLab(c, glcTopo(p, g), func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
				for round := range glcRounds {
					glcRound(ctx, l, round, func(ctx context.Context, a, b peer.Endpoint) {
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
						ga, gb := gllGlares(a), gllGlares(b)
						if len(ga)+len(gb) > 0 {
							crossed++
						}
						switch g {
						case peer.GlareLock:
							Expect(append(ga, gb...)).To(BeEmpty(), "round %d: offers crossed under the lock", round)
						case peer.GlarePerfect:
							glcResolutions(round, a, true)
							glcResolutions(round, b, false)
						}
					})
				}
				rec.Metric("rounds", glcRounds)
				rec.Metric("offers_crossed", float64(crossed))
			})
			if g == peer.GlarePerfect {
				// Both offers leave at one instant and each message
				// takes 0-100 ms: they cross in most rounds.
				Expect(crossed).To(BeNumerically(">", 0), "no round had crossing offers")
			}
		},
		glcEntries(),
	)

	DescribeTable(fmt.Sprintf("both sides add media at once on a connected pair, %d rounds", glcRounds),
		func(p glcPair, g peer.GlareStrategy, mine, theirs peer.MediaKind) {
			want := glcRenegotiation(p, g, mine, theirs)
			var collisions, failed int
			c := labCase{Family: "glare", Pair: p.label, Timeout: glcRounds * gllRoundWait,
				Profile: fmt.Sprintf("%s, renegotiation %s+%s, %s", glcPreset, mine, theirs, p.name)}
			runLab(c, glcTopo(p, g), func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
				for round := range glcRounds {
					glcRound(ctx, l, round, func(ctx context.Context, a, b peer.Endpoint) {
						if glcCollide(ctx, round, a, b, g, mine, theirs, want) {
							collisions++
							if want != glcWorks {
								failed++
							}
						}
					})
				}
				rec.Metric("rounds", glcRounds)
				rec.Metric("offers_crossed", float64(collisions))
				rec.Metric("failed", float64(failed))
			})
			if g == peer.GlarePerfect {
				Expect(collisions).To(BeNumerically(">", 0), "no round had crossing offers")
			}
			if want != glcWorks {
				AddReportEntry("known limitation", fmt.Sprintf("GlarePerfect renegotiation glare, %s: %s, %d of %d rounds (every crossing)",
					p.name, want, failed, glcRounds))
			}
		},
		glcMediaEntries(),
	)
})

func glcMediaEntries() []TableEntry {
	var out []TableEntry
	for _, p := range glcPairs {
		for _, g := range gllStrategies {
			out = append(out, Entry(fmt.Sprintf("%s, %s, audio+video", p.name, g), Label(p.label), p, g, peer.Audio, peer.Video))
		}
	}
	// The extmap failure needs two media kinds: with one, a rolled-back
	// section's ids are the ones the peer offers anyway.
	cc := glcPairs[2]
	return append(out, Entry(fmt.Sprintf("%s, %s, audio+audio", cc.name, peer.GlarePerfect), Label(cc.label), cc, peer.GlarePerfect, peer.Audio, peer.Audio))
}

// glcCollide runs one renegotiation collision on a connected pair: alice
// adds mine, bob adds theirs, at one instant. It checks the round ended
// as want says (when the offers crossed) and reports whether they did.
func glcCollide(ctx context.Context, round int, a, b peer.Endpoint, g peer.GlareStrategy, mine, theirs peer.MediaKind, want glcOutcome) bool {
	GinkgoHelper()
	// The first exchange, uncontested.
	out, err := a.CreateDataChannel(ctx, "app", peer.ChannelOptions{})
	Expect(err).NotTo(HaveOccurred())
	in, err := b.AcceptDataChannel(ctx, "app")
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
	collided := g == peer.GlarePerfect && slices.Contains(gb, "ignored the remote offer (impolite side)")
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
		Expect(glcErrors(a)).To(ContainElement(ContainSubstring(glcChromeExtmapError)), "round %d: alice's setRemoteDescription", round)
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
	return collided
}

// glcMedia is the generated track of a kind.
func glcMedia(k peer.MediaKind) peer.MediaSpec {
	if k == peer.Video {
		return peer.MediaSpec{Kind: peer.Video, Bitrate: 200_000}
	}
	return audio
}

// glcErrors lists ep's error event details.
func glcErrors(ep peer.Endpoint) []string {
	var out []string
	for _, ev := range ep.EventHistory() {
		if ev.Type == peer.EventError {
			out = append(out, ev.Detail)
		}
	}
	return out
}
