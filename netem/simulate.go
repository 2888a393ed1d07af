package netem

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// SimConfig drives synthetic packets through one direction of a shaper on
// a virtual clock: packet i is sent at i/PPS seconds.
type SimConfig struct {
	Profile   *Profile // nil: a perfect link
	Seed      uint64
	Packets   int     // how many to send; must be > 0
	Size      int     // payload bytes; default 1200
	PPS       float64 // send rate; default 1000
	Direction Direction
	Point     string // impairment point name; default "impair"
}

// SimReport is what the packets measured. Delivered counts original packets
// (Duplicated counts the extra copies); Reordered counts delivered packets
// that arrived after a later-sent one (RFC 4737's reordered packets).
type SimReport struct {
	Sent          uint64            `json:"sent"`
	Delivered     uint64            `json:"delivered"`
	Dropped       uint64            `json:"dropped"`
	DroppedBy     map[string]uint64 `json:"dropped_by"` // why: loss, queue, aqm, mtu, blackhole, flap; never nil
	Duplicated    uint64            `json:"duplicated"`
	Reordered     uint64            `json:"reordered"`
	Corrupted     uint64            `json:"corrupted"`
	DelayMS       DelayStats        `json:"delay_ms"`
	LossBurst     BurstStats        `json:"loss_burst"`
	ThroughputBPS float64           `json:"throughput_bps"`
	LedgerSHA256  string            `json:"ledger_sha256"`
	Profile       *Profile          `json:"profile"`
}

// DelayStats summarises one-way delays in milliseconds (nearest-rank
// percentiles).
type DelayStats struct {
	Min  float64 `json:"min"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
}

// BurstStats summarises runs of consecutive lost packets.
type BurstStats struct {
	Mean float64 `json:"mean"`
	Max  int     `json:"max"`
}

// MaxSimPackets bounds a simulation (it keeps one record per packet).
const MaxSimPackets = 50_000_000

// maxSimSpan bounds the virtual time over which a simulation sends: half a
// time.Duration's range, so delays added to the last send time still fit.
const maxSimSpan = time.Duration(math.MaxInt64 / 2)

// Simulate runs cfg and measures it. The result depends only on cfg: the
// same seed gives the same report, byte for byte once encoded.
func Simulate(cfg SimConfig) (*SimReport, error) {
	if cfg.Packets <= 0 || cfg.Packets > MaxSimPackets {
		return nil, fmt.Errorf("%w: packets must be within 1-%d, got %d", ErrBadConfig, MaxSimPackets, cfg.Packets)
	}
	if cfg.Size == 0 {
		cfg.Size = 1200
	}
	if cfg.Size < 0 || cfg.Size > 65507 {
		return nil, fmt.Errorf("%w: size must be within 1-65507 bytes (a UDP payload), got %d", ErrBadConfig, cfg.Size)
	}
	if cfg.PPS == 0 {
		cfg.PPS = 1000
	}
	if !(cfg.PPS > 0 && cfg.PPS <= 1e9) {
		return nil, fmt.Errorf("%w: pps must be above 0 and at most 1e9 (0: the default, 1000), got %v", ErrBadConfig, cfg.PPS)
	}
	// The last send time must fit the virtual clock (a time.Duration);
	// past it, send times overflowed into nonsense rather than an error.
	if span := float64(cfg.Packets-1) / cfg.PPS; span > maxSimSpan.Seconds() {
		return nil, fmt.Errorf("%w: %d packets at %v/s span %.3g s of virtual time, more than the %.0f years a simulation can count",
			ErrBadConfig, cfg.Packets, cfg.PPS, span, maxSimSpan.Hours()/24/365)
	}
	if cfg.Point == "" {
		cfg.Point = "impair"
	}
	prof := cfg.Profile
	if prof == nil {
		prof = &Profile{}
	}
	epoch := time.Unix(0, 0).UTC()
	sh, err := New(Config{Name: cfg.Point, Profile: prof, Seed: cfg.Seed}, WithEpoch(epoch))
	if err != nil {
		return nil, err
	}
	type arrival struct {
		at    time.Duration
		index int
	}
	var (
		rep      = &SimReport{Sent: uint64(cfg.Packets), Profile: prof.Resolved()}
		delays   = make([]float64, 0, cfg.Packets)
		arrivals = make([]arrival, 0, cfg.Packets)
		burst    int
		bursts   int
		lostSum  int
		lastAt   time.Duration
	)
	interval := float64(time.Second) / cfg.PPS
	for i := 0; i < cfg.Packets; i++ {
		sent := time.Duration(math.Round(float64(i) * interval))
		f := sh.Shape(epoch.Add(sent), cfg.Size, cfg.Direction)
		if f.Dropped() {
			burst++
			continue
		}
		if burst > 0 {
			bursts++
			lostSum += burst
			rep.LossBurst.Max = max(rep.LossBurst.Max, burst)
			burst = 0
		}
		rep.Delivered++
		if f.Dup {
			rep.Duplicated++
			lastAt = max(lastAt, sent+f.DupDelay)
		}
		if f.Corrupt {
			rep.Corrupted++
		}
		delays = append(delays, float64(f.Delay)/float64(time.Millisecond))
		arrivals = append(arrivals, arrival{at: sent + f.Delay, index: i})
		lastAt = max(lastAt, sent+f.Delay)
	}
	if burst > 0 {
		bursts++
		lostSum += burst
		rep.LossBurst.Max = max(rep.LossBurst.Max, burst)
	}
	rep.Dropped = rep.Sent - rep.Delivered
	if bursts > 0 {
		rep.LossBurst.Mean = round3(float64(lostSum) / float64(bursts))
	}
	// Reordering, in arrival order (ties in sending order).
	slices.SortStableFunc(arrivals, func(a, b arrival) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return a.index - b.index
	})
	highest := -1
	for _, a := range arrivals {
		if a.index < highest {
			rep.Reordered++
		}
		highest = max(highest, a.index)
	}
	rep.DelayMS = delayStats(delays)
	if lastAt > 0 {
		rep.ThroughputBPS = math.Round(float64(rep.Delivered*uint64(cfg.Size)*8) / lastAt.Seconds())
	}
	led := sh.Ledger(cfg.Direction)
	rep.LedgerSHA256 = led.SHA256
	rep.DroppedBy = led.Counters.DroppedBy
	if rep.DroppedBy == nil { // {} rather than null: the key is always there
		rep.DroppedBy = map[string]uint64{}
	}
	return rep, nil
}

func delayStats(ms []float64) DelayStats {
	if len(ms) == 0 {
		return DelayStats{}
	}
	var sum float64
	for _, v := range ms {
		sum += v
	}
	mean := sum / float64(len(ms))
	var sq float64
	for _, v := range ms {
		sq += (v - mean) * (v - mean)
	}
	slices.Sort(ms)
	rank := func(p float64) float64 { // nearest rank
		i := int(math.Ceil(p*float64(len(ms)))) - 1
		return ms[max(i, 0)]
	}
	return DelayStats{
		Min:  round3(ms[0]),
		P50:  round3(rank(0.50)),
		P90:  round3(rank(0.90)),
		P99:  round3(rank(0.99)),
		Max:  round3(ms[len(ms)-1]),
		Mean: round3(mean),
		SD:   round3(math.Sqrt(sq / float64(len(ms)))),
	}
}

// round3 keeps microsecond precision in milliseconds: stable, readable output.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
