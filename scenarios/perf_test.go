package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	gtypes "github.com/onsi/gomega/types"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/lab/labspec"
	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// The perf family (seed question 6): setup time, signaling and
// data-channel round trips, data-channel throughput and media rate, per
// link profile and signaling transport. Real time: loopback sockets for
// signaling, vnet for the peers.
//
//	alice ─[profile up]─ WAN ─[profile down]─ bob                          (data, media)
//	alice-ping ─[profile]─ TCP proxy ─ server ─ proxy ─[profile]─ bob-ping  (signaling)
//
// Every endpoint link and the signaling TCP path carry the same preset.
//
// The figures are physics-bound: a 3g case alone takes 14-19 s of wall
// time (setup is some ten round trips of 500 ms, then 20 pings and pion's
// loss recovery), so the eight cases in a row would take about 40 s. They
// run at once instead, in BeforeAll,
// each in a lab of its own: the six delayed cases together, then the two
// ideal ones one after the other, once the others are past their setup
// (their CPU-heavy part), since ideal figures are CPU-bound. Each It then
// records its case and checks its figures.

var (
	perfProfiles   = []string{"ideal", "wifi", "4g", "3g"}
	perfTransports = []lab.Transport{lab.TransportWS, lab.TransportSSE}
)

const (
	perfSigPings = 10 // signaling round trips (median)
	perfDCPings  = 20 // data-channel round trips (median)
	// A ping waits for its answer before the next goes. With many in
	// flight, one loss held every later one back by up to a second on
	// 3g (pion/sctp, even on an unordered channel with maxRetransmits 0)
	// and the median measured pion's loss recovery rather than the
	// path; with two in flight a loss holds back at most one other
	// ping, and 20 round trips of 3g take 5.5 s instead of 11.
	// Data-channel pings use an unordered channel of their own.
	perfDCInFlight = 2
	perfBulk       = 16 << 10 // bytes sent reliably for the throughput figure
	perfBulkMsg    = 4 << 10  // bytes per bulk message
	// perfPingChannelID is the ping channel's SCTP stream: clear of the
	// ids the first channel can get (0 or 1) and of the heartbeat's.
	perfPingChannelID = 100
	perfWindow        = time.Second
	perfTimeout       = time.Minute
	perfSigPing       = "perf-ping"
	perfSigPong       = "perf-pong"
	// perfFloorSDs is how many standard deviations of jitter a delay
	// floor allows for.
	perfFloorSDs = 3
)

const perfTitle = "Performance table (seed question 6)"

var perfColumns = []string{"pair", "profile", "signaling", "setup ms", "signaling ping ms", "data-channel ping ms", "data-channel kb/s", "media RTP pkt/s"}

const perfNote = "The preset is on both endpoints' links and on the signaling TCP path; real time. Setup: Connect to alice's channel open. " +
	"Signaling ping: median of 10 round trips alice -> server -> bob -> server -> alice, one after the other, on clients of their own. " +
	"Data-channel ping: median of 20 round trips on a reliable unordered channel, two in flight. " +
	"Throughput: 16 KiB in 4 KiB messages on a reliable ordered channel, first send to last byte received (SCTPRTOMax 1 s, the peer default). " +
	"Media: one generated audio track (64 kbit/s, 50 RTP pkt/s sent), packets received from the first one on, while the data-channel pings run (at least 1 s). " +
	"The six delayed cases ran at once, the two ideal ones after their setup. Setup includes pion's candidate acceptance waits " +
	"(a pair with a peer-reflexive or server-reflexive candidate waits 1 s or 0.5 s): the 1 s jumps between runs. " +
	"Over SSE, bob's candidates (one HTTP POST each) reach alice after bob's first check, so alice types bob peer-reflexive " +
	"and pion/ice v4.1.0 credits later checks of that address to the peer-reflexive candidate even once the signaled one is in: " +
	"the 1 s on go-go ideal over SSE is that wait, which the later candidates trigger " +
	"(pion/ice v4.3.0 and later replace the peer-reflexive candidate by the signaled one)."

var _ = Describe("perf", Ordered, Label("perf", "go-go"), func() {
	var runs map[string]*perfRun
	BeforeAll(func() {
		runs = runPerfMatrix()
	})
	for _, tr := range perfTransports {
		Describe("over "+string(tr), Label(string(tr)), func() {
			for i, name := range perfProfiles {
				It(name, func() { checkPerfRun(runs[perfKey(name, tr)], i) })
			}
		})
	}
})

func perfKey(profile string, tr lab.Transport) string { return profile + "/" + string(tr) }

// perfFigures is one row of the table, and bob's ICE round trip.
type perfFigures struct {
	setup, sigPing, dcPing time.Duration
	bulk                   time.Duration // perfBulk: first send to last byte received
	kbps, pps              float64
	bobRTT                 time.Duration // bob's selected pair's currentRoundTripTime, at the end
}

// perfRun is one case, run in BeforeAll and checked in its It.
type perfRun struct {
	pair      string // go-go, go-chrome, chrome-chrome
	profile   string
	transport lab.Transport
	prof      *netem.Profile
	topo      lab.Topology
	rec       *caseRecord
	fig       perfFigures
	timeline  []lab.Entry
	ledgers   []netem.Ledger
	// What the tabs left: console lines, uncaught exceptions, and on
	// failure the stats history and a screenshot, by Chrome peer id.
	logs, diag map[string]string
	pageErrs   []error
	err        error // the first failure, if any
	// The case's pion log (-netlab.pionlog), as runLab keeps one: the
	// lab's option, and what reports it when the case's It fails.
	logOpts   []lab.Option
	reportLog func()
}

// keepPionLogs gives each case a pion log of its own, in the spec's
// goroutine (the option is parsed there, and fails the spec when bad).
func keepPionLogs(runs map[string]*perfRun) {
	for _, r := range runs {
		r.logOpts, r.reportLog = pionLogOptions()
	}
}

// perfFailure carries a Gomega failure out of a case's goroutine.
type perfFailure struct{ msg string }

// runPerfMatrix runs every case: the delayed ones at once, the ideal ones
// one by one after the delayed ones are set up.
func runPerfMatrix() map[string]*perfRun {
	runs := map[string]*perfRun{}
	var delayed, ideal []*perfRun
	for _, tr := range perfTransports {
		for _, name := range perfProfiles {
			prof, ok := netem.Preset(name)
			Expect(ok).To(BeTrue(), "preset %q", name)
			r := &perfRun{pair: "go-go", profile: name, transport: tr, prof: prof, rec: &caseRecord{}, topo: lab.Topology{
				Name:      "perf",
				Seed:      *seed,
				Endpoints: []lab.EndpointConfig{{Name: "alice", Profile: prof}, {Name: "bob", Profile: prof}},
				TURN:      lab.Server{Mode: lab.ServerOff},
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
	keepPionLogs(runs)
	setUp := make(chan struct{}, len(delayed))
	var wg sync.WaitGroup
	for _, r := range delayed {
		wg.Go(func() { r.run(func() { setUp <- struct{}{} }) })
	}
	wg.Go(func() {
		for range delayed {
			<-setUp // run signals once, set up or failed
		}
		for _, r := range ideal {
			r.run(func() {})
		}
	})
	wg.Wait()
	return runs
}

// run builds the case's lab (with opts), measures, and keeps the figures,
// the timeline, the ledgers, the tabs' leavings and the first failure.
// setUp is called once, when the channel is open or the case failed
// before.
func (r *perfRun) run(setUp func(), opts ...lab.Option) {
	var once sync.Once
	signalSetUp := func() { once.Do(setUp) }
	defer signalSetUp()
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
	l, err := lab.New(r.topo, append(opts, r.logOpts...)...) // lab.New serializes its builds (vnet's MAC counter)
	g.Expect(err).NotTo(HaveOccurred(), "building the lab")
	ctx, cancel := context.WithTimeout(context.Background(), perfTimeout)
	defer cancel()
	r.fig = perfMeasure(ctx, g, l, signalSetUp)
}

// keepChromes keeps what reportChromes would report, for the case's It.
func (r *perfRun) keepChromes(l *lab.Lab) {
	r.logs, r.diag = map[string]string{}, map[string]string{}
	for _, cp := range l.Chromes() {
		r.logs[cp.ID()] = strings.Join(cp.Logs(), "\n")
		if err := cp.Err(); err != nil {
			r.pageErrs = append(r.pageErrs, fmt.Errorf("%s: %w", cp.ID(), err))
		}
		if r.err != nil {
			hist, _ := json.Marshal(cp.StatsHistory())
			shot := chromeScreenshot(fmt.Sprintf("perf-%s-%s-%s-%s", r.pair, r.profile, r.transport, cp.ID()), cp.Screenshot)
			r.diag[cp.ID()] = "stats history: " + string(hist) + "\nscreenshot: " + shot
		}
	}
}

// perfMeasure measures a case on endpoints of any kind. A failure (a
// Gomega panic) in one of its goroutines is raised again here once all
// have ended.
func perfMeasure(ctx context.Context, g gtypes.Gomega, l *lab.Lab, setUp func()) (out perfFigures) {
	f := &out
	// Goroutines of the case: a failure (a Gomega panic) in one is kept
	// and raised again here once all have ended.
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

	t0 := time.Now()
	a, b, err := l.Connect(ctx, "alice", "bob")
	g.Expect(err).NotTo(HaveOccurred())
	bulkOut, err := a.CreateDataChannel(ctx, "perf", peer.ChannelOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	f.setup = time.Since(t0)
	setUp()

	// The signaling pings run from here on, beside everything else: the
	// signaling path (TCP through the proxy, clients of their own)
	// shares no shaper with the peers' links.
	pings := make(chan struct{}, 2)
	goCatch(func() {
		defer func() { pings <- struct{}{} }()
		f.sigPing = perfSignalingPing(ctx, g, l)
	})

	bulkIn, err := b.AcceptDataChannel(ctx, "perf")
	g.Expect(err).NotTo(HaveOccurred())
	// The ping channel is negotiated (both sides create it with one id,
	// at once): each side's creation costs a lock round trip on
	// signaling (GlareLock), but no DCEP exchange.
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

	f.bulk = perfThroughput(ctx, g, bulkOut, bulkIn)
	f.kbps = float64(perfBulk*8) / 1000 / f.bulk.Seconds()

	// Then media is added and counted while the data-channel pings run.
	// They share the links with the audio (64 kbit/s: on 3g a ping may
	// queue behind one audio packet, about 2 ms per rate-limited link).
	// The media window lasts until both kinds of ping are done, and at
	// least perfWindow.
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
	f.pps = perfMedia(ctx, g, a, b, pingsDone)
	st, err := b.Stats(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	f.bobRTT = st.RTT
	return out
}

// checkPerfRun records a case, adds its row to the perf table and checks
// its figures.
func checkPerfRun(r *perfRun, index int) {
	GinkgoHelper()
	Expect(r).NotTo(BeNil(), "the case did not run")
	reportLog := r.reportLog
	if reportLog == nil {
		reportLog = func() {}
	}
	// As runLab: a failed case prints its lab's timeline and pion log.
	reportLabOnFailure("lab timeline (real clock)", func() []lab.Entry { return r.timeline }, reportLog)
	f := r.fig
	r.rec.Metric("setup_ms", perfMS(f.setup))
	r.rec.Metric("signaling_ping_ms", perfMS(f.sigPing))
	r.rec.Metric("dc_ping_ms", perfMS(f.dcPing))
	r.rec.Metric("dc_throughput_kbps", f.kbps)
	r.rec.Metric("dc_bulk_ms", perfMS(f.bulk))
	r.rec.Metric("media_rtp_pps", f.pps)
	r.rec.Metric("bob_ice_rtt_ms", perfMS(f.bobRTT))
	c := labCase{Family: "perf", Pair: r.pair, Profile: r.profile, Clock: labspec.Real}
	recordLab(c, r.topo, labspec.Real, r.rec, r.timeline, r.ledgers)
	for id, logs := range r.logs {
		if logs != "" {
			AddReportEntry("chrome console: "+id, logs, ReportEntryVisibilityFailureOrVerbose)
		}
	}
	for id, d := range r.diag {
		AddReportEntry("chrome diagnostics: "+id, d, ReportEntryVisibilityFailureOrVerbose)
	}
	key := fmt.Sprintf("%s %d-%s", r.pair, index, r.transport)
	if r.err == nil {
		notes := []string{perfNote}
		if r.pair != "go-go" {
			notes = append(notes, perfChromeNote)
		}
		addTableRow("perf", perfTitle, perfColumns, key,
			[]string{r.pair, r.profile, string(r.transport), perfFmt(perfMS(f.setup)), perfFmt(perfMS(f.sigPing)), perfFmt(perfMS(f.dcPing)),
				fmt.Sprintf("%.0f", f.kbps), fmt.Sprintf("%.1f", f.pps)},
			notes...)
	}
	Expect(r.err).NotTo(HaveOccurred(), "%s over %s", r.profile, r.transport)
	Expect(r.pageErrs).To(BeEmpty(), "uncaught exceptions in the pages")
	perfAssert(r.prof, f)
	perfExpectRow(r.pair, r.profile, r.transport)
}

// perfExpectRow: the case's row is in the perf table, with the pair,
// profile and transport in its cells.
func perfExpectRow(pair, profile string, tr lab.Transport) {
	GinkgoHelper()
	tables, err := runTables()
	Expect(err).NotTo(HaveOccurred())
	for _, t := range tables {
		if t.Name != "perf" {
			continue
		}
		Expect(t.Columns[:3]).To(Equal([]string{"pair", "profile", "signaling"}))
		for _, row := range t.Rows {
			if row[0] == pair && row[1] == profile && row[2] == string(tr) {
				return
			}
		}
		Fail(fmt.Sprintf("no %s row for %s over %s in the perf table: %v", pair, profile, tr, t.Rows))
	}
	Fail("no perf table")
}

// perfAssert checks what the profile guarantees, and that every figure
// was measured.
func perfAssert(prof *netem.Profile, f perfFigures) {
	GinkgoHelper()
	Expect(f.setup).To(BeNumerically(">", 0), "setup measured")
	Expect(f.sigPing).To(BeNumerically(">", 0), "signaling ping measured")
	Expect(f.dcPing).To(BeNumerically(">", 0), "data-channel ping measured")
	Expect(f.kbps).To(BeNumerically(">", 0), "throughput measured")
	Expect(f.pps).To(BeNumerically(">", 0), "media measured")

	up, down := prof.Effective(netem.Up, -1), prof.Effective(netem.Down, -1)
	// A data-channel round trip crosses alice's uplink, bob's downlink,
	// bob's uplink and alice's downlink: four delays.
	roundTrip := perfFloor(up, down, up, down)
	Expect(f.dcPing).To(BeNumerically(">=", roundTrip), "data-channel ping below the links' delays")
	// A signaling round trip crosses the proxy four times too: alice's
	// connection up, bob's down, bob's up, alice's down.
	Expect(f.sigPing).To(BeNumerically(">=", roundTrip), "signaling ping below the signaling path's delays")
	// The channel cannot open before the offer has crossed the
	// signaling path (alice's connection up, bob's down) and a packet of
	// bob's has crossed back to alice (bob's uplink, alice's downlink).
	Expect(f.setup).To(BeNumerically(">=", perfFloor(up, down, up, down)), "setup faster than an offer and a packet back")
	// The bulk's last byte cannot arrive before its payload has passed
	// the slower of alice's uplink and bob's downlink (headers only add
	// to it) and the last packet has crossed both links' delays (their
	// 3-sigma floor): wifi 4.4 + 40 ms, 4g 2.6 + 0, 3g 174.8 + 143.9.
	// This is the rate ceiling with the path's delay taken out; kbit/s
	// over the whole transfer could not fail (16 KiB over wifi's 40 ms
	// is at most 3.3 Mbit/s, against 30). It fails when the shaper
	// delivers early (with no delay on the links, wifi's bulk took
	// 9 ms), but cannot tell a missing rate limit, at any bulk size:
	// SCTP's congestion window, under these round trips and losses,
	// keeps a data channel below every preset's rate. Without the limit
	// the bulk took as long as with it (206 ms on wifi, 222 on 4g,
	// 2,002 on 3g); 4 MiB crossed wifi at 11 Mbit/s and 4g at 6.6, and
	// 256 KiB crossed 3g at 330 kbit/s. netem tests the rate itself
	// (TestRateLimitedThroughput).
	bulkFloor := perfFloor(up, down)
	if r := perfBottleneck(up, down); r > 0 {
		bulkFloor += time.Duration(float64(perfBulk*8) / float64(r) * float64(time.Second))
	}
	Expect(f.bulk).To(BeNumerically(">=", bulkFloor), "%d bytes in %v, faster than the path's delay and rate allow (%v)", perfBulk, f.bulk, bulkFloor)
	// bob's own view of the path: its selected pair's STUN round trip
	// crosses the same four links as a data-channel ping.
	Expect(f.bobRTT).To(BeNumerically(">=", roundTrip), "bob's currentRoundTripTime below the links' delays")
}

// perfFloor is the least time a chain of link crossings takes: the sum of
// the delays less perfFloorSDs standard deviations of the sum of the
// (independent) jitter draws, never below zero.
func perfFloor(links ...netem.Link) time.Duration {
	var mean, variance float64
	for _, l := range links {
		if l.Delay == nil {
			continue
		}
		mean += float64(l.Delay.Time)
		variance += float64(l.Delay.Jitter) * float64(l.Delay.Jitter)
	}
	return time.Duration(max(0, mean-perfFloorSDs*math.Sqrt(variance)))
}

// perfBottleneck is the least rate of the links (0: none limited).
func perfBottleneck(links ...netem.Link) uint64 {
	var r uint64
	for _, l := range links {
		if l.Rate != nil && l.Rate.Bitrate > 0 && (r == 0 || uint64(l.Rate.Bitrate) < r) {
			r = uint64(l.Rate.Bitrate)
		}
	}
	return r
}

// perfDCPing is the median of perfDCPings round trips from out to in and
// back (in echoes), perfDCInFlight at a time.
func perfDCPing(ctx context.Context, g gtypes.Gomega, out, in peer.Channel) time.Duration {
	ectx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Go(func() { // bob echoes
		for {
			m, err := in.Recv(ectx)
			if err != nil || in.Send(ectx, m) != nil {
				return
			}
		}
	})
	// Echoes come back in any order (unordered channel): each is handed
	// to the round trip waiting for its id.
	back := make([]chan time.Time, perfDCPings)
	for i := range back {
		back[i] = make(chan time.Time, 1)
	}
	wg.Go(func() {
		for {
			m, err := out.Recv(ectx)
			if err != nil {
				return
			}
			if len(m) == 1 && int(m[0]) < len(back) {
				select {
				case back[m[0]] <- time.Now():
				default: // a duplicate: the round trip has its answer
				}
			}
		}
	})
	rtts := make([]time.Duration, perfDCPings)
	errs := make(chan error, perfDCInFlight)
	for w := range perfDCInFlight {
		go func() {
			var err error
			for i := w; i < perfDCPings && err == nil; i += perfDCInFlight {
				t := time.Now()
				if err = out.Send(ctx, []byte{byte(i)}); err != nil {
					break
				}
				select {
				case at := <-back[i]:
					rtts[i] = at.Sub(t)
				case <-ctx.Done():
					err = fmt.Errorf("echo %d: %w", i, ctx.Err())
				}
			}
			errs <- err
		}()
	}
	for range perfDCInFlight {
		g.Expect(<-errs).NotTo(HaveOccurred()) // bounded: each worker ends with ctx
	}
	return perfMedian(rtts)
}

// perfRoundTrips times n round trips, one after the other (each waits for
// its answer, as a request does), and returns the median.
func perfRoundTrips(g gtypes.Gomega, n int, roundTrip func(i int) error) time.Duration {
	rtts := make([]time.Duration, 0, n)
	for i := range n {
		t := time.Now()
		g.Expect(roundTrip(i)).To(Succeed(), "round trip %d of %d", i+1, n)
		rtts = append(rtts, time.Since(t))
	}
	return perfMedian(rtts)
}

// perfThroughput sends perfBulk bytes on out and returns the time from the
// first send to in's receiving the last byte.
func perfThroughput(ctx context.Context, g gtypes.Gomega, out, in peer.Channel) time.Duration {
	rctx, stop := context.WithCancel(ctx)
	var last time.Time // written by the reader before done closes
	done := make(chan struct{})
	go func() {
		defer close(done)
		got := 0
		for got < perfBulk {
			m, err := in.Recv(rctx)
			if err != nil {
				return
			}
			got += len(m)
		}
		last = time.Now()
	}()
	defer func() { stop(); <-done }()
	start := time.Now()
	for range perfBulk / perfBulkMsg {
		g.Expect(out.Send(ctx, make([]byte, perfBulkMsg))).To(Succeed())
	}
	<-done // bounded: the reader ends with ctx
	g.Expect(last.IsZero()).To(BeFalse(), "bob never received all %d bytes: %v", perfBulk, ctx.Err())
	return last.Sub(start)
}

// perfSignalingPing is the median of perfSigPings round trips between two
// signaling clients of their own (the peers' clients would hand the
// unknown message type to the peers), each of its endpoint's kind: a
// Chrome endpoint's is the page's own client, in a tab of its own.
func perfSignalingPing(ctx context.Context, g gtypes.Gomega, l *lab.Lab) time.Duration {
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

// perfMedia adds a generated audio track on alice and returns the RTP
// packets per second bob received from the first packet's arrival over
// perfWindow, or until until closes if later (Chrome counts them in its
// inbound-rtp stats).
func perfMedia(ctx context.Context, g gtypes.Gomega, a, b peer.Endpoint, until <-chan struct{}) float64 {
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
		case <-tick.C: // polling the counter: neither kind has a first-packet event
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
	s1 := stats(b)
	// Alice's counters must be read no earlier than bob's: a tab serves
	// a report up to 50 ms old from Chrome's cache (At is the report's
	// own time), and an audio packet goes every 20 ms.
	sa := stats(a)
	for sa.At.Before(s1.At) {
		select {
		case <-tick.C: // polling: the cache has no expiry event
		case <-ctx.Done():
			g.Expect(ctx.Err()).NotTo(HaveOccurred(), "alice's stats stayed older than bob's")
		}
		sa = stats(a)
	}
	got := s1.RTPPacketsReceived - s0.RTPPacketsReceived
	// Counting: bob cannot receive in the window more than alice had
	// sent by its end, less what bob had before it.
	g.Expect(got).To(BeNumerically("<=", sa.RTPPacketsSent-s0.RTPPacketsReceived), "bob received RTP that alice never sent")
	return float64(got) / s1.At.Sub(s0.At).Seconds()
}

// perfAfter turns a closing channel into a time channel for a select.
func perfAfter(done <-chan struct{}) <-chan time.Time {
	c := make(chan time.Time, 1)
	go func() {
		<-done
		c <- time.Now()
	}()
	return c
}

func perfMedian(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	return (ds[n/2-1] + ds[n/2]) / 2
}

func perfMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func perfFmt(v float64) string { return fmt.Sprintf("%.1f", v) }
