package scenarios

import (
	"fmt"
	"math"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/reports"
)

// Every preset, driven in virtual time in both directions below its
// bottleneck: the ledger accounts for every packet, the loss the packets
// measured is the configured rate (3 sigma), no packet arrives sooner than
// the propagation delay allows, and the same seed repeats the same history.
// The netem family's cases have no endpoints: no pair, transport or NATs
// in their record.
var _ = Describe("netem presets", Label("netem"), func() {
	entries := []TableEntry{}
	for _, name := range netem.PresetNames() {
		entries = append(entries, Entry(name, name))
	}
	DescribeTable("behave as their profile says",
		func(name string) {
			prof, ok := netem.Preset(name)
			Expect(ok).To(BeTrue())
			base := prof.Clone()
			base.Schedule = nil // the base link alone; schedules have their own spec
			data := &caseData{Family: "netem", Profile: name, Metrics: map[string]float64{}}
			for _, dir := range netem.Directions {
				link := base.Effective(dir, -1)
				size := 1000
				pps := 200.0
				if link.Rate != nil && link.Rate.Bitrate > 0 {
					// Offer half the link's capacity: no queue builds up.
					pps = math.Min(pps, float64(link.Rate.Bitrate)/2/float64((size+28)*8))
				}
				const n = 20_000
				cfg := netem.SimConfig{Profile: base, Seed: *seed, Packets: n, Size: size, PPS: pps, Direction: dir}
				rep, err := netem.Simulate(cfg)
				Expect(err).NotTo(HaveOccurred())
				Expect(rep.Delivered+rep.Dropped).To(Equal(uint64(n)), "every packet is accounted for")

				q := 0.0
				if link.Loss != nil && link.Loss.Rate != nil {
					q = link.Loss.Rate.Prob()
				}
				Expect(rep.DroppedBy["queue"]).To(BeZero(), "half the capacity never fills the queue")
				// The loss model sees what the link being down (flap) let through.
				m := float64(n - rep.DroppedBy["flap"])
				Expect(rep.DroppedBy["loss"]).To(beWithinSigma(m*q, math.Sqrt(m*q*(1-q))),
					fmt.Sprintf("%s %s: lost %d of %.0f, configured %.2f%%", name, dir, rep.DroppedBy["loss"], m, 100*q))
				if link.Flap != nil && link.Flap.Period > 0 {
					down := 1 - link.Flap.Duty.Prob()
					// Regular sending samples the flap's down time evenly: one
					// packet of rounding per period at most.
					periods := float64(n) / pps / link.Flap.Period.D().Seconds()
					Expect(float64(rep.DroppedBy["flap"])).To(BeNumerically("~", n*down, periods+1))
				}

				floor, exact := delayFloor(base.Resolved().Effective(dir, -1), size, rep.Delivered)
				if exact {
					// At half the capacity no packet waits and no draw varies
					// the delay: the least delay is the floor itself.
					Expect(rep.DelayMS.Min).To(Equal(roundMS(floor)), "%s %s: every delivered packet takes the propagation delay plus its transmission", name, dir)
				} else {
					Expect(rep.DelayMS.Min).To(BeNumerically(">=", roundMS(floor)), "%s %s: no packet beats the delay floor", name, dir)
				}
				again, err := netem.Simulate(cfg)
				Expect(err).NotTo(HaveOccurred())
				Expect(again.LedgerSHA256).To(Equal(rep.LedgerSHA256), "same seed, same impairment history")

				d := dir.String()
				data.Metrics["loss_pct_"+d] = 100 * float64(rep.Dropped) / n
				data.Metrics["delay_p50_ms_"+d] = rep.DelayMS.P50
				data.Metrics["delay_p99_ms_"+d] = rep.DelayMS.P99
				data.Metrics["throughput_bps_"+d] = rep.ThroughputBPS
				data.Ledgers = append(data.Ledgers, reports.Ledger{Point: "impair", Direction: d, Packets: rep.Sent,
					Delivered: rep.Delivered, Dropped: rep.Dropped, SHA256: rep.LedgerSHA256})
			}
			record(data)
		},
		entries,
	)

	It("puts the call-drop phase at [10 s, 26 s) to the millisecond: its delay and 20% loss inside, wifi's outside", func() {
		prof, _ := netem.Preset("call-drop")
		start, end := prof.PhaseSpan(0)
		Expect([]time.Duration{start, end}).To(Equal([]time.Duration{10 * time.Second, 26 * time.Second}), "the preset's phase, which the counts below assume")
		inPhase := func(at time.Duration) bool { return at >= start && at < end }
		epoch := time.Unix(0, 0).UTC() // Simulate's

		// The boundaries to the millisecond: probes 1 ms either side, on a
		// shaper of their own (Shape needs times in order).
		probe, err := netem.New(netem.Config{Name: "probe", Profile: prof, Seed: *seed}, netem.WithEpoch(epoch))
		Expect(err).NotTo(HaveOccurred())
		for _, at := range []time.Duration{start - time.Millisecond, start, end - time.Millisecond, end} {
			want := -1
			if inPhase(at) {
				want = 0
			}
			Expect(probe.Shape(epoch.Add(at), 32, netem.Up).Phase).To(Equal(want), "phase in force at %v", at)
		}

		// 100 packets/s for 40 s of virtual time. 32-byte payloads are
		// 48 kbit/s on the wire ((32+28)*8*100), under the phase's
		// 50 kbit/s: each packet is out (9.6 ms) before the next comes
		// (10 ms), so none waits, the queue never drops, and every delay
		// is the link's own, exactly.
		const n, size, pps = 4000, 32, 100.0
		rep, err := netem.Simulate(netem.SimConfig{Profile: prof, Seed: *seed, Packets: n, Size: size, PPS: pps})
		Expect(err).NotTo(HaveOccurred())
		// Simulate reports totals only: the same packets through a shaper
		// of Simulate's name, seed and epoch give each packet's fate, and
		// the ledger hash says they are Simulate's.
		sh, err := netem.New(netem.Config{Name: "impair", Profile: prof, Seed: *seed}, netem.WithEpoch(epoch))
		Expect(err).NotTo(HaveOccurred())
		baseDelay, _ := delayFloor(prof.Resolved().Effective(netem.Up, -1), size, 0)
		phaseDelay, _ := delayFloor(prof.Resolved().Effective(netem.Up, 0), size, 0)
		var before, inside, after, lostBefore, lostIn, lostAfter int
		for i := range n {
			at := time.Duration(math.Round(float64(i) * float64(time.Second) / pps)) // as Simulate sends
			f := sh.Shape(epoch.Add(at), size, netem.Up)
			lost := f.Drop == netem.DropLoss
			switch {
			case at < start:
				before++
				Expect(f.Phase).To(Equal(-1), "packet %d, sent at %v", i, at)
				if lost {
					lostBefore++
				} else {
					Expect(f.Delay).To(Equal(baseDelay), "packet %d, sent at %v: wifi's delay", i, at)
				}
			case inPhase(at):
				inside++
				Expect(f.Phase).To(Equal(0), "packet %d, sent at %v", i, at)
				if lost {
					lostIn++
				} else {
					Expect(f.Delay).To(Equal(phaseDelay), "packet %d, sent at %v: the phase's delay", i, at)
				}
			default:
				after++
				Expect(f.Phase).To(Equal(-1), "packet %d, sent at %v", i, at)
				if lost {
					lostAfter++
				} else {
					// Wifi's delay again, or later: no packet is delivered
					// before the phase's last one.
					Expect(f.Delay).To(BeNumerically(">=", baseDelay), "packet %d, sent at %v", i, at)
				}
			}
		}
		Expect(sh.Ledger(netem.Up).SHA256).To(Equal(rep.LedgerSHA256), "the replay decided as Simulate did")
		Expect([]int{before, inside, after}).To(Equal([]int{1000, 1600, 1400}), "packets sent before, in and after the phase")
		Expect(rep.DroppedBy).To(Equal(map[string]uint64{"loss": uint64(lostBefore + lostIn + lostAfter)}), "only the loss model drops")

		// Each window's losses are binomial (Bernoulli loss, independent
		// draws) at its own rate. The bands are the binomial's own
		// quantiles at the 3-sigma chance each side (the normal
		// approximation's +-3 sd fails 0.4-0.8% of seeds at means of 2-3):
		// 1000 before at 0.2% (mean 2): 0 to 7; 1600 in at 20% (mean 320):
		// 273 to 369; 1400 after at 0.2% (mean 2.8): 0 to 9. A phase
		// shifted by s seconds moves 100*s packets between 20% and 0.2%:
		// some 20*s more losses before or after it, past the band from
		// about half a second on (the phases above catch 10 ms).
		for _, w := range []struct {
			what    string
			lost, m int
			q       float64
		}{
			{"before the phase (wifi's 0.2%)", lostBefore, before, 0.002},
			{"in the phase (call-drop's 20%)", lostIn, inside, 0.2},
			{"after the phase (wifi's 0.2%)", lostAfter, after, 0.002},
		} {
			lo, hi := binomialBand(w.m, w.q)
			Expect(w.lost).To(And(BeNumerically(">=", lo), BeNumerically("<=", hi)), "call-drop: lost %d of %d %s, want %d to %d (mean %.1f); this is %s",
				w.lost, w.m, w.what, lo, hi, float64(w.m)*w.q, fmt.Sprintf(statChance, 370, "two-sided"))
		}
		record(&caseData{Family: "netem", Profile: "call-drop", Metrics: map[string]float64{"dropped": float64(rep.Dropped),
			"lost_before_phase": float64(lostBefore), "lost_in_phase": float64(lostIn), "lost_after_phase": float64(lostAfter)},
			Ledgers: []reports.Ledger{{Point: "impair", Direction: "up", Packets: rep.Sent, Delivered: rep.Delivered, Dropped: rep.Dropped, SHA256: rep.LedgerSHA256}}})
	})
})

// delayFloor is the least one-way delay link (resolved) gives a packet of
// size payload bytes, among m delivered: its own transmission at the
// link's rate (a packet departs when its last bit is out,
// netem/bottleneck.go), plus the propagation delay. exact: every packet
// that finds the queue empty has exactly that delay (no jitter, no
// reordering).
func delayFloor(link netem.Link, size int, m uint64) (floor time.Duration, exact bool) {
	if r := link.Rate; r != nil && r.Bitrate > 0 {
		// Rounded up to the nanosecond, as the shaper does.
		floor = time.Duration(math.Ceil(float64(size+*r.Overhead) * 8 * 1e9 / float64(r.Bitrate)))
	}
	d := link.Delay
	switch {
	case link.Reorder != nil:
		return floor, false // a reordered packet skips the delay
	case d == nil:
		return floor, true
	case d.Jitter == 0:
		return floor + d.Time.D(), true
	case d.Distribution == netem.Normal && m > 0:
		// A normal draw is k sd below its mean with chance Phi(-k). Any
		// of m draws is (union bound: correlated or not) with chance at
		// most m*Phi(-k), the suite's one-sided 3-sigma chance Phi(-3)
		// when k = -Phi^-1(Phi(-3)/m): 5.3 for 20,000 packets.
		k := math.Sqrt2 * math.Erfcinv(math.Erfc(statSigma/math.Sqrt2)/float64(m))
		return floor + max(0, d.Time.D()-time.Duration(k*float64(d.Jitter))), false
	}
	return floor, false // other jitter shapes: only their clamp at zero
}

// binomialBand is where a Binomial(m, q) count falls but for the 3-sigma
// chance Phi(-3) on each side: the least lo with P(X < lo) <= Phi(-3) and
// the least hi with P(X > hi) <= Phi(-3), from the exact distribution.
func binomialBand(m int, q float64) (lo, hi int) {
	switch { // one outcome, certain
	case q <= 0:
		return 0, 0
	case q >= 1:
		return m, m
	}
	tail := 0.5 * math.Erfc(statSigma/math.Sqrt2)
	lgm, _ := math.Lgamma(float64(m + 1))
	cdf := 0.0
	lo, hi = -1, m
	for k := 0; k <= m; k++ {
		lgk, _ := math.Lgamma(float64(k + 1))
		lgr, _ := math.Lgamma(float64(m - k + 1))
		cdf += math.Exp(lgm - lgk - lgr + float64(k)*math.Log(q) + float64(m-k)*math.Log1p(-q))
		if lo < 0 && cdf > tail {
			lo = k // P(X < k) <= tail < P(X <= k)
		}
		if 1-cdf <= tail {
			hi = k
			break
		}
	}
	return lo, hi
}

// roundMS is a delay in milliseconds as Simulate reports it (to the
// microsecond), so that equal delays compare equal.
func roundMS(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*1000) / 1000
}
