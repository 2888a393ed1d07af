package scenarios

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
)

// The reliability family (seed question 2): the seven data-channel modes
// under loss and delay, Go-Go, in virtual time.
//
//	alice ─ send ─▶ [alice up: delay D/2, loss L] ─ WAN ─ [bob down: delay D/2, loss L] ─▶ bob
//
// Both endpoints carry the same profile, both directions, so a message
// crosses two shapers: one-way path delay D, per-packet delivery (1-L)^2.
//
// The session and the channel are set up on ideal links and the cell's
// profile is applied live once the channel is open: set up under 30% loss
// and 150 ms, pion took minutes (bob's DTLS done after 126 s of virtual
// time, the channel still closed at 300 s, the reconnect policy restarting
// ICE eight times). Setup under loss is the reconnect family's subject;
// this one measures an open channel.

const (
	relMessages = 300                   // messages per cell
	relPace     = 10 * time.Millisecond // between sends (virtual time)
	relSize     = 64                    // bytes per message: one SCTP packet each
	// relDeadline bounds a run after the last send (virtual time; the
	// longest drain measured was 48 s, at 30% loss).
	relDeadline = 3 * time.Minute
)

var (
	relLosses = []int{0, 10, 30}                                               // percent, per shaper, each direction
	relDelays = []time.Duration{20 * time.Millisecond, 150 * time.Millisecond} // one-way path delay
)

var relColumns = []string{"pair", "mode", "loss", "delay", "delivered", "ordering violations", "p50 ms", "p90 ms", "p99 ms"}

const relNote = "Loss is per endpoint link and direction (Bernoulli), so a message crosses two lossy shapers: " +
	"per-packet delivery (1-L)^2. Delay is the one-way path delay, half on each endpoint's link. " +
	"300 messages of 64 bytes, one every 10 ms; latency is one way, in virtual time; a run ends when alice's close of the channel reaches bob " +
	"(after every message was delivered or given up). Session set up on ideal links, the profile applied once the channel was open."

const relPionNote = "pion/sctp v1.9.0 never expires a maxPacketLifeTime message (its age restarts at each retransmission): the lifetime modes " +
	"deliver everything, as late as the reliable ones. Its maxRetransmits N allows N transmissions in all, one fewer than RFC 3758 (pion/sctp#504)."

// relCell is one cell of the matrix.
type relCell struct {
	modeIndex int
	mode      peer.ReliabilityMode
	lossPct   int
	delay     time.Duration // one way, whole path
}

func (c relCell) loss() float64 { return float64(c.lossPct) / 100 }

// relProfile is the link of both endpoints: half the path delay each, and
// the loss on each direction.
func relProfile(c relCell) *netem.Profile {
	GinkgoHelper()
	name := fmt.Sprintf("rel-loss%d-delay%dms", c.lossPct, c.delay.Milliseconds())
	src := fmt.Sprintf("name: %s\ndelay: %dus\nloss: {model: bernoulli, rate: %d%%}\n",
		name, (c.delay / 2).Microseconds(), c.lossPct)
	p, err := netem.ParseProfile(name+".yaml", []byte(src))
	Expect(err).NotTo(HaveOccurred())
	return p
}

var relEntries = func() []TableEntry {
	var out []TableEntry
	for i, m := range peer.ReliabilityModes() {
		for _, loss := range relLosses {
			for _, d := range relDelays {
				c := relCell{modeIndex: i, mode: m, lossPct: loss, delay: d}
				out = append(out, Entry(fmt.Sprintf("%s, loss %d%%, delay %v", m.Name, loss, d), c))
			}
		}
	}
	return out
}()

var _ = Describe("reliability", Label("reliability", "go-go", "loopback"), func() {
	DescribeTable("data channel under loss and delay", runRelCell, relEntries)
})

// relResult is what bob saw.
type relResult struct {
	delivered  int
	duplicates int
	violations int
	latencies  []time.Duration // sorted
	drain      time.Duration   // last send to the close reaching bob; -1: deadline
}

func (r relResult) pct(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(r.latencies)))) - 1 // nearest rank
	return r.latencies[max(i, 0)]
}

func runRelCell(c relCell) {
	prof := relProfile(c)
	topo := lab.Topology{
		Name:      "reliability",
		Endpoints: []lab.EndpointConfig{{Name: "alice"}, {Name: "bob"}},
		TURN:      lab.Server{Mode: lab.ServerOff},
		Peer: peer.Config{
			// Heartbeats would share the association (and its packets)
			// with the channel under test.
			Heartbeat: peer.HeartbeatConfig{Disabled: true},
			// ICE liveness is not under test: with a binding request
			// every 250 ms, 10 s of silence at 30% loss per link has
			// probability 0.51^40. No ICE restart may disturb a run.
			ICE:       peer.ICETimeouts{KeepAlive: 250 * time.Millisecond, Disconnected: 10 * time.Second},
			Reconnect: peer.ReconnectConfig{Disabled: true},
		},
	}
	sentOnce := c.mode.Opts.MaxRetransmits != nil && *c.mode.Opts.MaxRetransmits == 0
	topo.LedgerEvents = appliedLedgerEvents
	runLab(labCase{Family: "reliability", Profile: prof.Name, Timeout: 5 * time.Minute}, topo, func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
		a, b, err := l.Pair(ctx, "alice", "bob")
		Expect(err).NotTo(HaveOccurred())
		out, err := a.CreateDataChannel(ctx, "rel", c.mode.Opts)
		Expect(err).NotTo(HaveOccurred())
		in, err := b.AcceptDataChannel(ctx, "rel")
		Expect(err).NotTo(HaveOccurred())
		for _, ep := range []string{"alice", "bob"} {
			Expect(l.SetProfile(ep, prof)).To(Succeed())
		}

		res := relExchange(ctx, out, in)
		ratio := float64(res.delivered) / relMessages
		rec.Metric("delivered_ratio", ratio)
		rec.Metric("duplicates_count", float64(res.duplicates))
		rec.Metric("drain_s", res.drain.Seconds())
		rec.Metric("ordering_violations_count", float64(res.violations))
		for _, p := range []struct {
			name string
			q    float64
		}{{"p50", .5}, {"p90", .9}, {"p99", .99}} {
			rec.Metric("latency_"+p.name+"_ms", float64(res.pct(p.q))/float64(time.Millisecond))
		}
		addTableRow("reliability", "Data-channel reliability modes under loss and delay", relColumns,
			fmt.Sprintf("%d-%02d-%04d", c.modeIndex, c.lossPct, c.delay.Milliseconds()),
			[]string{"go-go (alice go → bob go)", c.mode.Name, fmt.Sprintf("%d%%", c.lossPct), ms(c.delay),
				fmt.Sprintf("%d/%d", res.delivered, relMessages), fmt.Sprint(res.violations),
				ms(res.pct(.5)), ms(res.pct(.9)), ms(res.pct(.99))},
			relNote, relPionNote)
		relAssert(c, res)
		// The cell ran under the loss and delay it names, packet by
		// packet, both links, both directions.
		for _, ep := range []string{"alice", "bob"} {
			expectApplied(l, ep, prof)
		}
		if sentOnce {
			f := relFlowFrom(l.Ledgers())
			rec.Metric("network_delivered_ratio", float64(f.crossed)/float64(max(f.sent, 1)))
			rec.Metric("bundled_packets_count", float64(f.bundled))
			relAssertSentOnce(res, f)
		}
	})
}

// relAssert checks what the configuration guarantees; every bound comes
// from the mode, the loss and the delay, none from a measured run.
func relAssert(c relCell, res relResult) {
	GinkgoHelper()
	o := c.mode.Opts
	ratio := float64(res.delivered) / relMessages
	Expect(res.drain).To(BeNumerically(">=", 0), "the close never reached bob within %v of the last send: the sender did not drain", relDeadline)
	Expect(res.duplicates).To(BeZero(), "SCTP delivers a message at most once and the profile duplicates nothing")
	if o.Reliable() || c.lossPct == 0 {
		Expect(res.delivered).To(Equal(relMessages), "a reliable channel, or any channel on a lossless path, delivers everything")
	}
	if !o.Unordered {
		Expect(res.violations).To(BeZero(), "an ordered channel never delivers a lower sequence number after a higher one")
	}
	// One DATA chunk per packet (64 bytes, sent 10 ms apart), each
	// crossing alice's uplink and bob's downlink, each losing L
	// independently: a message sent once arrives with p = (1-L)^2, and
	// N of them are binomial.
	p := (1 - c.loss()) * (1 - c.loss())
	sd := math.Sqrt(p * (1 - p) / relMessages)
	// Sent once (maxRetransmits 0) is checked exactly, against the
	// network's own record (relAssertSentOnce).
	if !o.Reliable() && (o.MaxRetransmits == nil || *o.MaxRetransmits > 0) {
		// At least one transmission each: never worse than sent-once.
		Expect(ratio).To(beNotBelowSigma(p, sd), "partially reliable: delivery ratio of %d messages, against the sent-once expectation", relMessages)
	}
	if o.MaxPacketLifeTime != nil {
		lifetime := time.Duration(*o.MaxPacketLifeTime) * time.Millisecond
		if pionLifetimeFromLastSend {
			// Nothing expires (see pionLifetimeFromLastSend): every
			// message arrives, however late.
			Expect(res.delivered).To(Equal(relMessages), "pion never expires a timed chunk, so a %v-lifetime channel delivers everything; "+
				"if this fails, the pinned pion may measure the lifetime from the first send now: set pionLifetimeFromLastSend to false", lifetime)
			return
		}
		// RFC 3758 TR4: a message is not (re)sent once its lifetime has
		// run out, so its last copy leaves within the lifetime and takes
		// the one-way delay. An ordered channel delivers what waited
		// behind an abandoned message once a FORWARD-TSN arrives, sent at
		// the next T3 timeout (at most SCTPRTOMax, 1 s, later). Plus one
		// pace for the sender's tick.
		bound := lifetime + time.Second + c.delay + relPace
		Expect(res.pct(.99)).To(BeNumerically("<=", bound), "p99 latency of a %v-lifetime channel: %v, bound %v", lifetime, res.pct(.99), bound)
	}
}

// pionLifetimeFromLastSend records a defect of the pinned pion/sctp
// (v1.9.0, and v1.12.0 alike): a timed (maxPacketLifeTime) chunk's age is
// measured from its latest transmission, since `since` is reset just
// before checkPartialReliabilityStatus in movePendingDataChunkToInflightQueue,
// getDataPacketsToRetransmit and gatherOutboundFastRetransmissionPackets
// (association.go). The check therefore always sees an age of zero and no
// message ever expires: a lifetime channel is a reliable one in effect
// (measured: 300/300 in every cell, p99 up to 30 s at 30% loss, against a
// W3C bound of about 2.2 s). webrtc-rs, a port of pion's SCTP, fixed the
// same defect (webrtc-rs/rtc#232, #237). When the pinned pion measures the
// lifetime from the first send, set this to false: the RFC 3758 bound is
// asserted then.
const pionLifetimeFromLastSend = true

// relExchange sends relMessages numbered, timestamped messages from out,
// one per relPace, then closes out, and collects the messages on in until
// the close reaches it. SCTP resets a stream only once every TSN up to the
// last one sent has arrived or been given up (RFC 6525 5.2.2, FORWARD-TSN):
// the close is the end of the run for every mode, an event rather than a
// guessed quiet period. relDeadline is only a safety net.
func relExchange(ctx context.Context, out, in peer.Channel) relResult {
	GinkgoHelper()
	type arrival struct {
		seq     int
		latency time.Duration
	}
	var (
		mu  sync.Mutex
		got []arrival
	)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		for {
			b, err := in.Recv(rctx)
			if err != nil {
				done <- err
				return
			}
			now := time.Now()
			if len(b) < 12 {
				continue // not ours; counted as missing
			}
			seq := int(binary.BigEndian.Uint32(b))
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(b[4:])))
			mu.Lock()
			got = append(got, arrival{seq, now.Sub(sent)})
			mu.Unlock()
		}
	}()

	buf := make([]byte, relSize)
	for i := range relMessages {
		binary.BigEndian.PutUint32(buf, uint32(i))
		binary.BigEndian.PutUint64(buf[4:], uint64(time.Now().UnixNano()))
		if err := out.Send(ctx, slices.Clone(buf)); err != nil {
			stop()
			<-done
			Fail(fmt.Sprintf("sending message %d: %v", i, err))
		}
		time.Sleep(relPace) // the pace of the sender (virtual time: costs nothing)
	}
	lastSend := time.Now()
	closeErr := out.Close()
	deadline := time.NewTimer(relDeadline)
	defer deadline.Stop()
	var res relResult
	var recvErr error
	select {
	case recvErr = <-done:
		res.drain = time.Since(lastSend)
	case <-deadline.C:
		stop()
		recvErr = <-done
		res.drain = -1
	}
	stop()
	Expect(closeErr).NotTo(HaveOccurred(), "closing the sending side")
	if res.drain >= 0 {
		Expect(recvErr).To(MatchError(peer.ErrChannelClosed), "bob's channel ends with the close")
	}

	mu.Lock()
	defer mu.Unlock()
	seen := map[int]bool{}
	highest := -1
	for _, a := range got {
		if seen[a.seq] {
			res.duplicates++
			continue
		}
		seen[a.seq] = true
		res.delivered++
		res.latencies = append(res.latencies, a.latency)
		if a.seq < highest {
			res.violations++
		}
		highest = max(highest, a.seq)
	}
	slices.Sort(res.latencies)
	return res
}
