package scenarios

import (
	"fmt"
	"math"

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

				if link.Delay != nil && link.Delay.Jitter == 0 {
					minMS := float64(link.Delay.Time.D().Microseconds()) / 1000
					Expect(rep.DelayMS.P50).To(BeNumerically(">=", minMS), "no packet beats the propagation delay")
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

	It("follows the call-drop schedule to the millisecond", func() {
		prof, _ := netem.Preset("call-drop")
		// 100 packets/s for 40 s of virtual time: the 16 s phase from 10 s
		// is the only time 20% loss applies.
		rep, err := netem.Simulate(netem.SimConfig{Profile: prof, Seed: *seed, Packets: 4000, Size: 100, PPS: 100})
		Expect(err).NotTo(HaveOccurred())
		// 1600 packets in the phase at 20%, 2400 outside at 0.2%.
		want := 1600*0.2 + 2400*0.002
		Expect(rep.Dropped).To(beWithinSigma(want, math.Sqrt(1600*0.2*0.8+2400*0.002*0.998)), "call-drop: dropped %d of 4000", rep.Dropped)
		record(&caseData{Family: "netem", Profile: "call-drop", Metrics: map[string]float64{"dropped": float64(rep.Dropped)},
			Ledgers: []reports.Ledger{{Point: "impair", Direction: "up", Packets: rep.Sent, Delivered: rep.Delivered, Dropped: rep.Dropped, SHA256: rep.LedgerSHA256}}})
	})
})
