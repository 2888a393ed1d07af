package scenarios

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/peer"
)

// The reliability family with Chrome pairs: the seven data-channel modes
// under loss, in real time. The sender's SCTP decides what a mode
// delivers: pion/sctp for a Go sender, dcSCTP (Chrome's SCTP) for a
// Chrome sender.
//
//	go-chrome:     alice (Go) ─[alice's link]─ WAN ─ relay ─ TURN ═[bob's link]═ 127.0.0.1 ─ bob (Chrome)
//	chrome-chrome: alice (Chrome) ═[alice's link]═ TURN ─ relay ─ WAN ─ relay ─ TURN ═[bob's link]═ bob (Chrome)
//
// A Chrome endpoint's link is shaped at its TURN listener (lab/bridge.go),
// so either way a message crosses two lossy shapers, as in the go-go
// family: per-packet delivery (1-L)^2.
//
// A case runs the seven modes at once, one session per mode (alice<i>,
// bob<i>), each with a channel each way: fourteen flows. Not seven
// channels of one session: pion's sender collapses when partially
// reliable streams share an association with others (at 10% loss such a
// session took 25-57 s of virtual time to drain what one mode per session
// drains in under a second), so the case would measure that, not the
// modes. The go-go family runs one mode per session too.
//
// Loss is 0 or 10% per link. At 30% (51% lost per crossing) both SCTPs
// collapse, far beyond a real-time budget: one mode per session, pion
// took 15-38 s to drain at 30%, some modes more than 60 s (4-26 s at
// 15-20%), and Chrome-Chrome's reliable channels did not drain within
// 60 s. The go-go family covers 30% in virtual time.

const (
	// relcDelay is the one-way path delay (half on each endpoint's link).
	relcDelay = 20 * time.Millisecond
	// relcDrain bounds a flow after its last send. dcSCTP's T3 backs off
	// to at most 3 s in Chrome (kMaxTimerBackoffDuration, media/sctp/
	// dcsctp_transport.cc), pion's to 1 s (peer.Config.SCTPRTOMax): five
	// T3 periods at the longest, while at 10% loss per link a
	// transmission arrives with p = 0.81 (measured: pion held nothing
	// more 0.1-3.8 s after the last send; Chrome's closes that came,
	// came within 19.3 s, most within 5 s).
	relcDrain = 15 * time.Second
	// relcResetWait is how long a Go sender's close may take to reach
	// Chrome once pion holds nothing more: pion re-sends its reset
	// request every RTO (at most SCTPRTOMax, 1 s); at 10% loss per link
	// a request and its answer cross four shapers, both arriving with
	// p = 0.9^4 = 0.66, so five tries all fail with p < 0.005.
	relcResetWait = 5 * time.Second
)

var relcLosses = []int{0, 10}

// relcPair is a pair of the family: bob is always Chrome, alice is Go
// (go-chrome) or Chrome (chrome-chrome). Both directions run at once, so
// go-chrome covers both roles.
type relcPair struct {
	name        string // labCase.Pair
	aliceChrome bool
}

var relcPairs = []relcPair{{"go-chrome", false}, {"chrome-chrome", true}}

var _ = Describe("reliability with Chrome", Label("reliability", "loopback"), func() {
	for _, pair := range relcPairs {
		roles := "alice Go, bob Chrome"
		if pair.aliceChrome {
			roles = "alice and bob Chrome"
		}
		Context(pair.name, Label(pair.name), func() {
			for _, loss := range relcLosses {
				It(fmt.Sprintf("%s (%s), loss %d%%, delay %v: the seven modes both ways, one session each", pair.name, roles, loss, relcDelay), func() {
					runRelChromeCase(pair, loss)
				})
			}
		})
	}
})

const relcNote = "Rows with a Chrome endpoint run in real time: one session per mode, a channel each way, the seven sessions at once. " +
	"A Chrome endpoint's link is shaped at its TURN listener, so a message crosses two lossy shapers as in go-go. " +
	"Latency is one way on the machine clock, from before the send call (for a Chrome sender that includes the CDP call) " +
	"to the receiving Go code (for a Chrome receiver that includes the CDP event)."

const relcDcsctpNote = "Chrome's dcSCTP counts maxRetransmits N as retransmissions (N+1 transmissions, RFC 3758). " +
	"Its lifetime is not a hard bound: it expires an outstanding chunk only from the front of its queue, and only once NACKed " +
	"(net/dcsctp/tx/outstanding_data.cc, ExpireOutstandingChunks), so an unordered lifetime-1000 message arrived up to 1.9 s " +
	"(10% loss) and 21 s (30%) after the send call returned."

const relcResetNote = "Under loss a Go (pion) sender's close often never reaches Chrome (pionResetStuckAtChrome), and a Chrome sender's close " +
	"sometimes never reaches the receiver (chromeCloseStallsUnderLoss): such a row ends when pion holds nothing more, " +
	"or 15 s after the last send."

// pionResetStuckAtChrome records an interop failure measured here (pion/
// sctp v1.9.0 against Chromium 156): under loss, a Go sender's channel
// close often never reaches Chrome, for good (beyond 60 s), though every
// message arrived. Measured at 10% loss: 2-5 of the 7 Go → Chrome closes
// per case, none at 0% (Chrome → Go: 1 of 35, chromeCloseStallsUnderLoss). The likely
// mechanism, read from both sources (not traced on the wire): the reset
// request reaches Chrome while data before it is still missing, so
// dcSCTP answers "in progress" and defers the reset; pion then re-sends
// the same request with the same request sequence number (as RFC 6525
// 5.2.7 says, which pion's code cites), and dcSCTP answers a repeated
// number from its cache, "in progress", without acting on it
// (stream_reset_handler.cc, ValidateReqSeqNbr; dcSCTP itself retries
// with a new number). The cases report how many closes stuck
// (relcAssertResets); once a fix is in, set this to false, and every
// close is required.
const pionResetStuckAtChrome = true

// chromeCloseStallsUnderLoss records a second close failure: under loss,
// a Chrome sender's close sometimes never reaches the receiver. Measured
// at 10% with a 20 s limit: between two tabs in 11 of 84 flows (9 of the
// 12 sent-once ones, 2 reliable-ordered; two sent-once closes were still
// missing after 60 s), Chrome → Go in 1 of 35 (sent-once); never on a
// lossless path. Not asserted under loss, as it does not happen every
// time (the lossless cases require every close): such a flow ends at
// relcDrain, when nothing can still arrive (see relcDrain).
const chromeCloseStallsUnderLoss = true

func relcTopo(pair relcPair) lab.Topology {
	topo := lab.Topology{
		Name: "reliability-" + pair.name,
		// Chrome is relay-only: the Go peer reaches Chrome's relays from
		// the WAN, no STUN needed.
		STUN: lab.Server{Mode: lab.ServerOff},
		Peer: peer.Config{
			// As in the go-go family: no heartbeat shares the
			// association, no ICE restart disturbs a run.
			Heartbeat: peer.HeartbeatConfig{Disabled: true},
			ICE:       peer.ICETimeouts{KeepAlive: 250 * time.Millisecond, Disconnected: 10 * time.Second},
			Reconnect: peer.ReconnectConfig{Disabled: true},
		},
	}
	for i := range peer.ReliabilityModes() {
		alice := lab.EndpointConfig{Name: relcName("alice", i)}
		if pair.aliceChrome {
			alice.Kind = peer.KindChrome
		}
		topo.Endpoints = append(topo.Endpoints, alice, lab.EndpointConfig{Name: relcName("bob", i), Kind: peer.KindChrome})
	}
	return topo
}

func relcName(who string, mode int) string { return fmt.Sprintf("%s%d", who, mode) }

func runRelChromeCase(pair relcPair, lossPct int) {
	cell := relCell{lossPct: lossPct, delay: relcDelay}
	prof := relProfile(cell)
	topo := relcTopo(pair)
	runLab(labCase{Family: "reliability", Pair: pair.name, Profile: prof.Name, Timeout: 2 * time.Minute}, topo, func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
		modes := peer.ReliabilityModes()
		sessions := make([][]relcFlow, len(modes))
		var wg sync.WaitGroup
		for i, m := range modes {
			wg.Go(func() {
				defer GinkgoRecover()
				sessions[i] = relcOpen(ctx, l, i, m)
			})
		}
		wg.Wait()
		flows := slices.Concat(sessions...)
		Expect(flows).To(HaveLen(2*len(modes)), "every session opened its two channels")
		// The profile goes on once every channel is open (the go-go
		// family says why: setup under loss is another family's subject).
		for _, e := range topo.Endpoints {
			Expect(l.SetProfile(e.Name, prof)).To(Succeed())
		}

		results := make([]relcResult, len(flows))
		for i, f := range flows {
			wg.Go(func() {
				defer GinkgoRecover()
				results[i] = relcExchange(ctx, f)
			})
		}
		wg.Wait()

		for i, f := range flows {
			relcRecord(pair.name, cell, f, results[i], rec)
		}
		for i, f := range flows {
			relcAssert(cell, f, results[i])
		}
		relcAssertResets(cell, flows, results, rec)
	})
}

// relcFlow is one mode, one direction.
type relcFlow struct {
	modeIndex int
	mode      peer.ReliabilityMode
	from, to  string    // alice or bob
	sender    peer.Kind // whose SCTP decides the mode's behaviour
	receiver  peer.Kind
	out, in   peer.Channel
}

func (f relcFlow) dir() string { return fmt.Sprintf("%s→%s", f.from, f.to) }

// pathName says pair and direction for the table.
func (f relcFlow) pathName(pair string) string {
	return fmt.Sprintf("%s (%s %s → %s %s)", pair, f.from, f.sender, f.to, f.receiver)
}

// relcOpen connects mode i's session on ideal links and opens its two
// channels, alice → bob and bob → alice.
func relcOpen(ctx context.Context, l *lab.Lab, i int, m peer.ReliabilityMode) []relcFlow {
	GinkgoHelper()
	a, b, err := l.Connect(ctx, relcName("alice", i), relcName("bob", i))
	Expect(err).NotTo(HaveOccurred(), "connecting the %s session", m.Name)
	var flows []relcFlow
	for _, dir := range []struct {
		out, in  peer.Endpoint
		from, to string
	}{{a, b, "alice", "bob"}, {b, a, "bob", "alice"}} {
		label := "rel-" + dir.from
		out, err := dir.out.CreateDataChannel(ctx, label, m.Opts)
		Expect(err).NotTo(HaveOccurred(), "%s creates %s (%s)", dir.out.ID(), label, m.Name)
		in, err := dir.in.AcceptDataChannel(ctx, label)
		Expect(err).NotTo(HaveOccurred(), "%s accepts %s (%s)", dir.in.ID(), label, m.Name)
		flows = append(flows, relcFlow{
			modeIndex: i, mode: m, from: dir.from, to: dir.to,
			sender: dir.out.Kind(), receiver: dir.in.Kind(), out: out, in: in,
		})
	}
	return flows
}

// relcResult is what one flow measured.
type relcResult struct {
	relResult // drain: last send to the end of the flow; -1: relcDrain passed
	// closed: the sender's close reached the receiver.
	closed bool
	// emptied: a Go sender's pion held nothing more (see
	// peer channel BufferedAmount) within relcDrain.
	emptied bool
	// sinceTaken is the latest arrival after the send call returned (the
	// sender's SCTP had the message by then).
	sinceTaken time.Duration
	sendSpan   time.Duration // first send to last send returned
}

// buffered is a Go channel's pion buffer (peer's channel).
type buffered interface{ BufferedAmount() uint64 }

// relcExchange sends relMessages numbered, timestamped messages on f.out,
// one per relPace, closes f.out, and collects on f.in until the flow
// ends: when the close reaches the receiver (as in relExchange); for a Go
// sender also once pion holds nothing more and relcResetWait passed
// without the close (pionResetStuckAtChrome); or at relcDrain.
func relcExchange(ctx context.Context, f relcFlow) relcResult {
	GinkgoHelper()
	type arrival struct {
		seq int
		at  time.Time
	}
	var (
		mu  sync.Mutex
		got []arrival
	)
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		for {
			b, err := f.in.Recv(rctx)
			if err != nil {
				done <- err
				return
			}
			now := time.Now()
			if len(b) < 12 {
				continue // not ours; counted as missing
			}
			mu.Lock()
			got = append(got, arrival{int(binary.BigEndian.Uint32(b)), now})
			mu.Unlock()
		}
	}()

	sent := make([]time.Time, relMessages)  // stamped in the message
	taken := make([]time.Time, relMessages) // the send call returned
	tick := time.NewTicker(relPace)
	defer tick.Stop()
	buf := make([]byte, relSize)
	for i := range relMessages {
		if i > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				Fail(fmt.Sprintf("%s %s: the case ended before message %d was sent", f.dir(), f.mode.Name, i))
			}
		}
		sent[i] = time.Now()
		binary.BigEndian.PutUint32(buf, uint32(i))
		binary.BigEndian.PutUint64(buf[4:], uint64(sent[i].UnixNano()))
		if err := f.out.Send(ctx, slices.Clone(buf)); err != nil {
			Fail(fmt.Sprintf("%s %s: sending message %d: %v", f.dir(), f.mode.Name, i, err))
		}
		taken[i] = time.Now()
	}
	lastSend := time.Now()
	var res relcResult
	res.sendSpan = lastSend.Sub(sent[0])
	closeErr := f.out.Close()

	deadline := time.NewTimer(relcDrain)
	defer deadline.Stop()
	emptied := make(chan struct{})
	if b, ok := f.out.(buffered); ok {
		go func() {
			// pion tells nobody when its buffer empties below the
			// low threshold's first crossing: poll it.
			poll := time.NewTicker(10 * time.Millisecond)
			defer poll.Stop()
			for b.BufferedAmount() > 0 {
				select {
				case <-poll.C:
				case <-rctx.Done():
					return
				}
			}
			close(emptied)
		}()
	}
	var recvErr error
	select {
	case recvErr = <-done:
		res.closed = true
		res.drain = time.Since(lastSend)
	case <-emptied:
		res.emptied = true
		res.drain = time.Since(lastSend)
		wait := time.NewTimer(relcResetWait)
		select {
		case recvErr = <-done:
			res.closed = true
		case <-wait.C:
		}
		wait.Stop()
	case <-deadline.C:
		res.drain = -1
	}
	stop()
	Expect(closeErr).NotTo(HaveOccurred(), "%s %s: closing the sending side", f.dir(), f.mode.Name)
	if res.closed && !errors.Is(recvErr, peer.ErrChannelClosed) {
		Fail(fmt.Sprintf("%s %s: the receiving channel ended with %v, want the close", f.dir(), f.mode.Name, recvErr))
	}

	mu.Lock()
	defer mu.Unlock()
	seen := map[int]bool{}
	highest := -1
	for _, a := range got {
		if a.seq < 0 || a.seq >= relMessages {
			continue
		}
		if seen[a.seq] {
			res.duplicates++
			continue
		}
		seen[a.seq] = true
		res.delivered++
		res.latencies = append(res.latencies, a.at.Sub(sent[a.seq]))
		res.sinceTaken = max(res.sinceTaken, a.at.Sub(taken[a.seq]))
		if a.seq < highest {
			res.violations++
		}
		highest = max(highest, a.seq)
	}
	slices.Sort(res.latencies)
	return res
}

// relcRecord puts a flow into the case's metrics and the reliability
// table, next to the go-go row of the same mode, loss and delay.
func relcRecord(pair string, c relCell, f relcFlow, res relcResult, rec *caseRecord) {
	m := fmt.Sprintf("%s_%s_%s", f.from, f.to, strings.ReplaceAll(f.mode.Name, "-", "_"))
	rec.Metric("delivered_ratio_"+m, float64(res.delivered)/relMessages)
	rec.Metric("ordering_violations_count_"+m, float64(res.violations))
	rec.Metric("duplicates_count_"+m, float64(res.duplicates))
	rec.Metric("drain_s_"+m, res.drain.Seconds())
	closed := 0.0
	if res.closed {
		closed = 1
	}
	rec.Metric("closed_"+m, closed)
	rec.Metric("send_span_s_"+m, res.sendSpan.Seconds())
	rec.Metric("latency_max_since_taken_ms_"+m, float64(res.sinceTaken)/float64(time.Millisecond))
	if n := f.mode.Opts.MaxRetransmits; n != nil {
		// What independent transmissions would deliver: dcSCTP sends a
		// message N+1 times at most (RFC 3758; Item::Nack in
		// outstanding_data.cc), pion N times (relPionNote).
		k := int(*n) + 1
		if f.sender == peer.KindGo {
			k = max(int(*n), 1)
		}
		p := (1 - c.loss()) * (1 - c.loss())
		rec.Metric("model_delivered_ratio_"+m, 1-math.Pow(1-p, float64(k)))
	}
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50", .5}, {"p90", .9}, {"p99", .99}} {
		rec.Metric("latency_"+p.name+"_ms_"+m, float64(res.pct(p.q))/float64(time.Millisecond))
	}
	addTableRow("reliability", "Data-channel reliability modes under loss and delay", relColumns,
		fmt.Sprintf("%d-%02d-%04d-%s-%s", f.modeIndex, c.lossPct, c.delay.Milliseconds(), pair, f.dir()),
		[]string{f.pathName(pair), f.mode.Name, fmt.Sprintf("%d%%", c.lossPct), ms(c.delay),
			fmt.Sprintf("%d/%d", res.delivered, relMessages), fmt.Sprint(res.violations),
			ms(res.pct(.5)), ms(res.pct(.9)), ms(res.pct(.99))},
		relNote, relPionNote, relcNote, relcDcsctpNote, relcResetNote)
}

// relcAssert checks what the sender's SCTP promises for the flow's mode;
// every bound comes from the mode, the loss and the sender's documented
// behaviour, none from a measured run.
func relcAssert(c relCell, f relcFlow, res relcResult) {
	GinkgoHelper()
	o := f.mode.Opts
	what := fmt.Sprintf("%s, %s sender, %s", f.dir(), f.sender, f.mode.Name)
	relcAssertEnd(c, f, res, what)
	Expect(res.duplicates).To(BeZero(), "%s: SCTP delivers a message at most once and the profile duplicates nothing", what)
	if o.Reliable() || c.lossPct == 0 {
		Expect(res.delivered).To(Equal(relMessages), "%s: a reliable channel, or any channel on a lossless path, delivers everything", what)
	}
	if !o.Unordered {
		Expect(res.violations).To(BeZero(), "%s: an ordered channel never delivers a lower sequence number after a higher one", what)
	}
	// Each transmission crosses two shapers losing L each: it arrives
	// with p = (1-L)^2.
	p := (1 - c.loss()) * (1 - c.loss())
	switch {
	case o.MaxRetransmits != nil && *o.MaxRetransmits == 0:
		ratio := float64(res.delivered) / relMessages
		Expect(ratio).To(beWithinSigma(p, math.Sqrt(p*(1-p)/relMessages)), "%s: sent once: delivery ratio of %d messages", what, relMessages)
	case !o.Reliable() && c.lossPct > 0:
		// At least one transmission each: never worse than sent-once.
		// (For a lifetime: at 10% loss neither sender stalls for a
		// lifetime, so nothing expires before its first transmission.)
		// Not the binomial of the sender's transmission count (metric
		// model_delivered_ratio): measured 4, 8 and 13 of 300 lost where
		// it allows at most 3 (dcSCTP) or 7 (pion) at 3 sigma; likely
		// because a retransmission carries several messages, so their
		// losses are not independent.
		ratio := float64(res.delivered) / relMessages
		Expect(ratio).To(beNotBelowSigma(p, math.Sqrt(p*(1-p)/relMessages)), "%s: at least one transmission each: delivery ratio of %d messages, against the sent-once expectation", what, relMessages)
	}
	if o.MaxPacketLifeTime != nil && f.sender == peer.KindGo && pionLifetimeFromLastSend {
		// pion never expires a timed chunk (pionLifetimeFromLastSend).
		Expect(res.delivered).To(Equal(relMessages), "%s: pion never expires a timed chunk, so a lifetime channel delivers everything; "+
			"if this fails, the pinned pion may measure the lifetime from the first send now: set pionLifetimeFromLastSend to false", what)
	}
	// No lifetime bound for a Chrome sender: dcSCTP retransmits past the
	// lifetime (relcDcsctpNote); the table and the metrics show by how
	// much.
}

// relcAssertEnd checks how the flow ended: every message delivered or
// given up, and the close reaching the receiver where it must.
func relcAssertEnd(c relCell, f relcFlow, res relcResult, what string) {
	GinkgoHelper()
	switch {
	case c.lossPct == 0:
		Expect(res.closed).To(BeTrue(), "%s: on a lossless path the close reaches the receiver within %v of the last send", what, relcDrain)
	case f.sender == peer.KindGo:
		Expect(res.closed || res.emptied).To(BeTrue(), "%s: pion still held data %v after the last send", what, relcDrain)
		// Whether the close came is the case's check (relcAssertResets).
	case !chromeCloseStallsUnderLoss:
		Expect(res.closed).To(BeTrue(), "%s: the close never reached the receiver within %v of the last send", what, relcDrain)
	}
}

// relcAssertResets checks the closes of the Go → Chrome flows together
// (pionResetStuckAtChrome): on a lossless path all of them arrive; under
// loss, with the defect, the ones that stuck are reported.
func relcAssertResets(c relCell, flows []relcFlow, results []relcResult, rec *caseRecord) {
	GinkgoHelper()
	n, stuck := 0, 0
	for i, f := range flows {
		if f.sender != peer.KindGo {
			continue
		}
		n++
		if !results[i].closed {
			stuck++
		}
	}
	if n == 0 {
		return
	}
	rec.Metric("go_to_chrome_closes_stuck_count", float64(stuck))
	if c.lossPct == 0 || !pionResetStuckAtChrome {
		Expect(stuck).To(BeZero(), "%d of %d Go → Chrome closes never reached Chrome within %v of pion holding nothing more", stuck, n, relcResetWait)
		return
	}
	// Not asserted either way under loss: whether a close sticks depends
	// on which packets are lost (2-7 of 7 per case measured), so a run
	// where none does stays possible. Reported, so that it is seen.
	if stuck > 0 {
		AddReportEntry("known limitation", fmt.Sprintf("pionResetStuckAtChrome: %d of %d Go → Chrome closes never reached Chrome", stuck, n))
	}
}
