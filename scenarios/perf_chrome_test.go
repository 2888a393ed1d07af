package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	gtypes "github.com/onsi/gomega/types"

	"github.com/netlab/netlab/browsers"
	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/lab/labspec"
	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// The perf family with Chrome: alice a Go peer, bob a Chrome tab, the
// same figures (setup, signaling and data-channel round trips, throughput,
// media rate) per profile and signaling transport, measured the same way
// (perf_test.go). Each case has a lab of its own; they run in BeforeAll:
// the two ideal ones alone, one after the other (their figures are
// CPU-bound), then the delayed ones perfcParallel at a time. Each It
// records its case and checks its figures.
//
//	alice (Go) ─[profile]─ WAN ─ bob's relay ─ TURN ═[profile]═ 127.0.0.1 ═ bob (Chrome)
//	alice-ping (Go) ─[profile]─ TCP proxy ─ server ─ proxy ─[profile]─ bob-ping (the page's own ws or sse client)
//
// The profile is on alice's link, on bob's TURN listener (his link,
// reversed: the listener is its far end) and on the signaling path, so a
// round trip crosses four shaped links as in go-go, and the floors of
// perfAssert hold unchanged. What differs: bob's side of each echo is
// driven from Go over CDP (a page event in, an Evaluate out, on top of
// the path; both are loopback), setup includes
// opening bob's tab, and the Go peer, ICE controlling, waits pion's
// acceptance wait for Chrome's relay candidate (2 s typed relay, 1 s
// prflx) before nominating: the same default waits as the go-go rows.

var perfcNote = "go-chrome rows: alice is a Go peer (on the WAN, no NAT), bob a Chrome tab, relay-only through his own TURN listener on 127.0.0.1, which carries his link; " +
	"bob's echoes and his signaling client (the page's own) are driven over CDP; setup includes opening bob's tab and pion's acceptance wait for Chrome's relay candidate (2 s, or 1 s as prflx); the ideal cases ran alone, the delayed ones three at a time"

var _ = Describe("perf go-chrome", Ordered, Label("perf", "go-chrome"), func() {
	var runs map[string]*perfcRun
	BeforeAll(func() {
		runs = runPerfcMatrix()
	})
	for _, tr := range perfTransports {
		Describe("over "+string(tr), Label(string(tr)), func() {
			for i, name := range perfProfiles {
				It(name+": alice Go, bob Chrome", func() { checkPerfcRun(runs[perfKey(name, tr)], i) })
			}
		})
	}
})

// perfcParallel bounds the delayed cases running at once. Their figures
// are set by the links (40 ms round trips and more), not by the CPU, and
// three at once (six tabs, three Go peers) keep this 2-core machine far
// from busy; one at a time, the eight cases took 55-67 s.
const perfcParallel = 3

// perfcRun is one case, run in BeforeAll and checked in its It.
type perfcRun struct {
	profile   string
	transport lab.Transport
	prof      *netem.Profile
	topo      lab.Topology
	rec       *caseRecord
	fig       perfcFigures
	timeline  []lab.Entry
	ledgers   []netem.Ledger
	// What the tabs left: console lines, uncaught exceptions, and on
	// failure the stats history and a screenshot, by Chrome peer id.
	logs, diag map[string]string
	pageErrs   []error
	err        error // the first failure, if any
}

// runPerfcMatrix runs every case: the ideal ones first, one at a time and
// alone (their figures are CPU-bound), then the delayed ones, perfcParallel
// at a time, longest first.
func runPerfcMatrix() map[string]*perfcRun {
	b, err := suiteBrowser()
	Expect(err).NotTo(HaveOccurred(), "launching the suite's Chromium")
	runs := map[string]*perfcRun{}
	var ideal, delayed []*perfcRun
	for _, name := range slices.Backward(perfProfiles) {
		for _, tr := range perfTransports {
			prof, ok := netem.Preset(name)
			Expect(ok).To(BeTrue(), "preset %q", name)
			r := &perfcRun{profile: name, transport: tr, prof: prof, rec: &caseRecord{}, topo: lab.Topology{
				Name:      "perf-chrome",
				Seed:      *seed,
				Endpoints: []lab.EndpointConfig{{Name: "alice", Profile: prof}, {Name: "bob", Kind: peer.KindChrome, Profile: prof}},
				// Chrome enters through TURN; alice, on the WAN, needs
				// no STUN.
				STUN:      lab.Server{Mode: lab.ServerOff},
				Signaling: lab.SignalingConfig{Transport: tr, Profile: prof},
			}}
			runs[perfKey(name, tr)] = r
			if name == "ideal" {
				ideal = append(ideal, r)
			} else {
				delayed = append(delayed, r)
			}
		}
	}
	for _, r := range ideal {
		r.run(b)
	}
	slots := make(chan struct{}, perfcParallel)
	var wg sync.WaitGroup
	for _, r := range delayed {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			r.run(b)
		})
	}
	wg.Wait()
	return runs
}

// run builds the case's lab, measures, and keeps the figures, the
// timeline, the ledgers, the tabs' leavings and the first failure.
func (r *perfcRun) run(b *browsers.Browser) {
	g := NewGomega(func(msg string, _ ...int) { panic(perfFailure{msg}) })
	wallStart := time.Now()
	var l *lab.Lab
	defer func() {
		if p := recover(); p != nil {
			f, ok := p.(perfFailure)
			if !ok {
				panic(p)
			}
			r.err = errors.New(f.msg)
		}
		if l != nil {
			r.timeline, r.ledgers = l.Timeline(), l.Ledgers()
			r.keepChromes(l)
			if err := l.Close(); err != nil && r.err == nil {
				r.err = fmt.Errorf("closing the lab: %w", err)
			}
			r.rec.Metric("lab_clock_s", l.Since().Seconds())
		}
		r.rec.Metric("wall_s", time.Since(wallStart).Seconds())
	}()
	l, err := lab.New(r.topo, lab.WithBrowser(b))
	g.Expect(err).NotTo(HaveOccurred(), "building the lab")
	ctx, cancel := context.WithTimeout(context.Background(), perfTimeout)
	defer cancel()
	r.fig = perfcMeasure(ctx, g, l)
}

// keepChromes keeps what reportChromes would report, for the case's It.
func (r *perfcRun) keepChromes(l *lab.Lab) {
	r.logs, r.diag = map[string]string{}, map[string]string{}
	for _, cp := range l.Chromes() {
		r.logs[cp.ID()] = strings.Join(cp.Logs(), "\n")
		if err := cp.Err(); err != nil {
			r.pageErrs = append(r.pageErrs, fmt.Errorf("%s: %w", cp.ID(), err))
		}
		if r.err != nil {
			hist, _ := json.Marshal(cp.StatsHistory())
			shot := chromeScreenshot(fmt.Sprintf("perf-%s-%s-%s", r.profile, r.transport, cp.ID()), cp.Screenshot)
			r.diag[cp.ID()] = "stats history: " + string(hist) + "\nscreenshot: " + shot
		}
	}
}

// checkPerfcRun records a case, adds its row to the perf table and checks
// its figures.
func checkPerfcRun(r *perfcRun, index int) {
	GinkgoHelper()
	Expect(r).NotTo(BeNil(), "the case did not run")
	f := r.fig
	r.rec.Metric("setup_ms", perfMS(f.setup))
	r.rec.Metric("signaling_ping_ms", perfMS(f.sigPing))
	r.rec.Metric("dc_ping_ms", perfMS(f.dcPing))
	r.rec.Metric("dc_throughput_kbps", f.kbps)
	r.rec.Metric("media_rtp_pps", f.pps)
	r.rec.Metric("chrome_ice_rtt_ms", perfMS(f.chromeRTT))
	c := labCase{Family: "perf", Pair: "go-chrome", Profile: r.profile + " (alice Go, bob Chrome)", Clock: labspec.Real}
	recordLab(c, r.topo, labspec.Real, r.rec, r.timeline, r.ledgers)
	for id, logs := range r.logs {
		if logs != "" {
			AddReportEntry("chrome console: "+id, logs, ReportEntryVisibilityFailureOrVerbose)
		}
	}
	for id, d := range r.diag {
		AddReportEntry("chrome diagnostics: "+id, d, ReportEntryVisibilityFailureOrVerbose)
	}
	key := fmt.Sprintf("go-chrome %d-%s", index, r.transport)
	if r.err == nil {
		addTableRow("perf", perfTitle, perfColumns, key,
			[]string{"go-chrome", r.profile, string(r.transport), perfFmt(perfMS(f.setup)), perfFmt(perfMS(f.sigPing)), perfFmt(perfMS(f.dcPing)),
				fmt.Sprintf("%.0f", f.kbps), fmt.Sprintf("%.1f", f.pps)},
			perfNote, perfcNote)
	}
	Expect(r.err).NotTo(HaveOccurred(), "%s over %s", r.profile, r.transport)
	Expect(r.pageErrs).To(BeEmpty(), "uncaught exceptions in the pages")
	perfAssert(r.prof, f.perfFigures)
	// Chrome's own view of the path: its selected pair's STUN round trip
	// crosses the same four links as a data-channel ping.
	up, down := r.prof.Effective(netem.Up, -1), r.prof.Effective(netem.Down, -1)
	Expect(f.chromeRTT).To(BeNumerically(">=", perfFloor(up, down, up, down)), "Chrome's currentRoundTripTime below the links' delays")
	perfcExpectRow(key, r.profile, r.transport)
}

// perfcExpectRow: the case's row is in the perf table, under its key,
// with the pair, profile and transport in its cells.
func perfcExpectRow(key, profile string, tr lab.Transport) {
	GinkgoHelper()
	tables, err := runTables()
	Expect(err).NotTo(HaveOccurred())
	for _, t := range tables {
		if t.Name != "perf" {
			continue
		}
		Expect(t.Columns[:3]).To(Equal([]string{"pair", "profile", "signaling"}))
		for _, row := range t.Rows {
			if row[0] == "go-chrome" && row[1] == profile && row[2] == string(tr) {
				Expect(strings.HasPrefix(key, row[0]+" ")).To(BeTrue(), "the key %q names the pair", key)
				return
			}
		}
		Fail(fmt.Sprintf("no go-chrome row for %s over %s in the perf table: %v", profile, tr, t.Rows))
	}
	Fail("no perf table")
}

// perfcFigures are a row's figures and Chrome's ICE round trip.
type perfcFigures struct {
	perfFigures
	chromeRTT time.Duration // bob's selected pair's currentRoundTripTime
}

// perfcMeasure measures as perfRun.measure does, on endpoints of any
// kind. A failure (a Gomega panic) in one of its goroutines is raised
// again here once all have ended.
func perfcMeasure(ctx context.Context, g gtypes.Gomega, l *lab.Lab) (out perfcFigures) {
	var mu sync.Mutex
	var failure any
	var wg sync.WaitGroup
	goCatch := func(f func()) {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					mu.Lock()
					if failure == nil {
						failure = p
					}
					mu.Unlock()
				}
			}()
			f()
		})
	}
	defer func() {
		wg.Wait() // bounded: every wait in them ends with ctx
		if failure != nil {
			panic(failure)
		}
	}()
	f := &out.perfFigures

	t0 := time.Now()
	a, b, err := l.Connect(ctx, "alice", "bob")
	g.Expect(err).NotTo(HaveOccurred())
	bulkOut, err := a.CreateDataChannel(ctx, "perf", peer.ChannelOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	f.setup = time.Since(t0)

	pings := make(chan struct{}, 2)
	goCatch(func() {
		defer func() { pings <- struct{}{} }()
		f.sigPing = perfcSignalingPing(ctx, g, l)
	})

	bulkIn, err := b.AcceptDataChannel(ctx, "perf")
	g.Expect(err).NotTo(HaveOccurred())
	pingOpts := peer.ChannelOptions{Unordered: true, Negotiated: true, ID: new(uint16(perfPingChannelID))}
	var pingIn peer.Channel
	var pingInErr error
	bobCreated := make(chan struct{})
	go func() {
		defer close(bobCreated)
		pingIn, pingInErr = b.CreateDataChannel(ctx, "perf-ping", pingOpts)
	}()
	pingOut, err := a.CreateDataChannel(ctx, "perf-ping", pingOpts)
	<-bobCreated // bounded by ctx
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pingInErr).NotTo(HaveOccurred())

	f.kbps = perfThroughput(ctx, g, bulkOut, bulkIn)

	goCatch(func() {
		defer func() { pings <- struct{}{} }()
		f.dcPing = perfDCPing(ctx, g, pingOut, pingIn)
	})
	pingsDone := make(chan struct{})
	go func() {
		<-pings
		<-pings
		close(pingsDone)
	}()
	f.pps = perfcMedia(ctx, g, a, b, pingsDone)
	st, err := b.Stats(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	out.chromeRTT = st.RTT
	return out
}

// perfcSignalingPing is perfSignalingPing with bob-ping on bob's endpoint:
// in go-chrome the page's own client in a tab of its own.
func perfcSignalingPing(ctx context.Context, g gtypes.Gomega, l *lab.Lab) time.Duration {
	ca, err := l.SignalingClient(ctx, "alice", "alice-ping")
	g.Expect(err).NotTo(HaveOccurred())
	cb, err := l.SignalingClient(ctx, "bob", "bob-ping")
	g.Expect(err).NotTo(HaveOccurred())
	pings := cb.Subscribe(signaling.Filter{From: "alice-ping", Types: []string{perfSigPing}})
	defer pings.Close()
	pongs := ca.Subscribe(signaling.Filter{From: "bob-ping", Types: []string{perfSigPong}})
	defer pongs.Close()
	ectx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			m, err := pings.Recv(ectx)
			if err != nil || cb.Send(ectx, "alice-ping", perfSigPong, m.Data) != nil {
				return
			}
		}
	})
	defer func() { stop(); wg.Wait() }()
	return perfRoundTrips(g, perfSigPings, func(i int) error {
		if err := ca.Send(ctx, "bob-ping", perfSigPing, i); err != nil {
			return err
		}
		m, err := pongs.Recv(ctx)
		if err != nil {
			return err
		}
		var got int
		if err := json.Unmarshal(m.Data, &got); err != nil {
			return err
		}
		if got != i {
			return fmt.Errorf("pong %d, want %d", got, i)
		}
		return nil
	})
}

// perfcMedia is perfMedia on endpoints of any kind: alice adds a
// generated audio track, bob's RTP packets received are counted from the
// first one over perfWindow, or until until closes if later. Chrome
// counts them in its inbound-rtp stats.
func perfcMedia(ctx context.Context, g gtypes.Gomega, a, b peer.Endpoint, until <-chan struct{}) float64 {
	g.Expect(a.AddMedia(ctx, peer.MediaSpec{Kind: peer.Audio})).To(Succeed())
	stats := func(p peer.Endpoint) peer.Stats {
		s, err := p.Stats(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		return s
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for stats(b).RTPPacketsReceived == 0 {
		select {
		case <-tick.C: // polling the counter: neither side has a first-packet event
		case <-ctx.Done():
			g.Expect(ctx.Err()).NotTo(HaveOccurred(), "no RTP reached bob")
		}
	}
	s0 := stats(b)
	for _, end := range []<-chan time.Time{time.After(perfWindow), perfAfter(until)} {
		select {
		case <-end: // the measurement window: perfWindow, and until the pings are done
		case <-ctx.Done():
			g.Expect(ctx.Err()).NotTo(HaveOccurred(), "during the media window")
		}
	}
	s1, sa := stats(b), stats(a)
	got := s1.RTPPacketsReceived - s0.RTPPacketsReceived
	g.Expect(got).To(BeNumerically("<=", sa.RTPPacketsSent-s0.RTPPacketsReceived), "bob received RTP that alice never sent")
	return float64(got) / s1.At.Sub(s0.At).Seconds()
}
