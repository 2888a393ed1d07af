package netem

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// These tests check the shaper against theory. Every run is seeded, so a
// result never changes between runs; the tolerances are the ones a fresh
// seed would pass with the stated confidence (3 sigma unless said).

func simulate(t *testing.T, cfg SimConfig) *SimReport {
	t.Helper()
	rep, err := Simulate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func mustParse(t testing.TB, src string) *Profile {
	t.Helper()
	p, err := ParseProfile("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("profile %q: %v", src, err)
	}
	return p
}

func TestStatBernoulliLoss(t *testing.T) {
	const n = 100_000
	for _, rate := range []float64{0.5, 1, 5, 20, 50} {
		p := &Profile{Link: Link{Loss: &Loss{Model: Bernoulli, Rate: pct(Percent(rate))}}}
		rep := simulate(t, SimConfig{Profile: p, Seed: 1, Packets: n})
		q := rate / 100
		want, sigma := n*q, math.Sqrt(n*q*(1-q))
		if got := float64(rep.Dropped); math.Abs(got-want) > 3*sigma {
			t.Errorf("loss %v%%: dropped %v of %d, want %v +/- %.0f (3 sigma)", rate, got, n, want, 3*sigma)
		}
	}
}

// burstTheory returns the stationary loss rate and mean loss-burst length of
// a hidden Markov loss process: the packet-to-packet state sequence is a
// Markov chain trans[i][j], and a packet in state i is lost with
// probability loss[i]. (Whether the chain moves before or after a packet is
// judged shifts the states by one packet, not the statistics.) Every burst
// starts with a kept packet followed by a lost one, so
// mean burst = P(lost) / P(kept, then lost).
func burstTheory(trans [][]float64, loss []float64) (rate, meanBurst float64) {
	n := len(loss)
	pi := make([]float64, n)
	pi[0] = 1
	for iter := 0; iter < 100_000; iter++ { // power iteration
		next := make([]float64, n)
		for i := range pi {
			for j := range pi {
				next[j] += pi[i] * trans[i][j]
			}
		}
		pi = next
	}
	var starts float64
	for i := range pi {
		rate += pi[i] * loss[i]
		for j := range pi {
			starts += pi[i] * (1 - loss[i]) * trans[i][j] * loss[j]
		}
	}
	return rate, rate / starts
}

func TestStatGilbertElliottBurst(t *testing.T) {
	const n = 1_000_000 // ~10k bursts: the mean's standard error is under 1%
	cases := []struct {
		name       string
		p, r, h, k float64 // percent; h and k are 1-h and 1-k
	}{
		{"gilbert", 1, 25, 100, 0},
		{"gilbert-elliott", 2, 30, 80, 0.5},
		{"long-bursts", 0.5, 10, 100, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prof := &Profile{Link: Link{Loss: &Loss{Model: GilbertElliott, P: pct(Percent(c.p)), R: pct(Percent(c.r)),
				OneMinusH: pct(Percent(c.h)), OneMinusK: pct(Percent(c.k))}}}
			rep := simulate(t, SimConfig{Profile: prof, Seed: 7, Packets: n})
			p, r := c.p/100, c.r/100
			rate, burst := burstTheory([][]float64{{1 - p, p}, {r, 1 - r}}, []float64{c.k / 100, c.h / 100})
			if c.h == 100 && c.k == 0 && math.Abs(burst-1/r) > 1e-9 {
				t.Fatalf("theory: simple Gilbert mean burst is 1/r = %v, got %v", 1/r, burst)
			}
			if got := rep.LossBurst.Mean; math.Abs(got-burst)/burst > 0.05 {
				t.Errorf("mean burst %v, theory %v: off by more than 5%%", got, burst)
			}
			if got := float64(rep.Dropped) / n; math.Abs(got-rate)/rate > 0.05 {
				t.Errorf("loss rate %v, theory %v: off by more than 5%%", got, rate)
			}
		})
	}
}

func TestStatFourStateLoss(t *testing.T) {
	const n = 1_000_000
	p13, p31, p32, p23, p14 := 0.02, 0.6, 0.3, 0.4, 0.01
	prof := &Profile{Link: Link{Loss: &Loss{Model: FourState, P13: pct(2), P31: pct(60), P32: pct(30), P23: pct(40), P14: pct(1)}}}
	rep := simulate(t, SimConfig{Profile: prof, Seed: 3, Packets: n})
	trans := [][]float64{
		{1 - p13 - p14, 0, p13, p14},
		{0, 1 - p23, p23, 0},
		{p31, p32, 1 - p31 - p32, 0},
		{1, 0, 0, 0},
	}
	rate, burst := burstTheory(trans, []float64{0, 0, 1, 1})
	if got := float64(rep.Dropped) / n; math.Abs(got-rate)/rate > 0.05 {
		t.Errorf("loss rate %v, theory %v", got, rate)
	}
	if got := rep.LossBurst.Mean; math.Abs(got-burst)/burst > 0.05 {
		t.Errorf("mean burst %v, theory %v", got, burst)
	}
}

func TestStatDelayMeanAndSD(t *testing.T) {
	// One packet a second: 100 jitter deviations apart, so the no-overtaking
	// rule never bends a draw (even pareto's tail) and the delays are the
	// distribution itself.
	// A million draws put the sample deviation of the heaviest tail (pareto,
	// kurtosis about 74) within 0.5% (1 sigma) of the truth.
	const n = 1_000_000
	for _, dist := range []Distribution{Uniform, Normal, Pareto, ParetoNormal} {
		for _, corr := range []Percent{0, 50} {
			prof := &Profile{Link: Link{Delay: &Delay{Time: Duration(100 * time.Millisecond), Jitter: Duration(10 * time.Millisecond), Distribution: dist, Correlation: corr}}}
			rep := simulate(t, SimConfig{Profile: prof, Seed: 11, Packets: n, PPS: 1})
			if got := rep.DelayMS.Mean; math.Abs(got-100)/100 > 0.02 {
				t.Errorf("%s corr %v: mean %v ms, want 100 +/- 2%%", dist, corr, got)
			}
			if got := rep.DelayMS.SD; math.Abs(got-10)/10 > 0.02 {
				t.Errorf("%s corr %v: sd %v ms, want 10 +/- 2%%", dist, corr, got)
			}
			if rep.Reordered != 0 {
				t.Errorf("%s: jitter alone reordered %d packets", dist, rep.Reordered)
			}
		}
	}
}

func TestRateLimitedThroughput(t *testing.T) {
	const size, overhead = 1200, 28
	for _, c := range []struct {
		name    string
		bitrate Bitrate
		pps     float64
		want    float64 // payload bits/s
	}{
		{"saturated", 2_000_000, 400, 2e6 * size / (size + overhead)},
		{"underloaded", 2_000_000, 100, 100 * size * 8},
		{"slow-link", 250_000, 100, 250e3 * size / (size + overhead)},
	} {
		prof := &Profile{Link: Link{Rate: &Rate{Bitrate: c.bitrate, Queue: &Queue{Packets: 50}}}}
		rep := simulate(t, SimConfig{Profile: prof, Seed: 1, Packets: 20_000, PPS: c.pps, Size: size})
		if got := rep.ThroughputBPS; math.Abs(got-c.want)/c.want > 0.03 {
			t.Errorf("%s: throughput %.0f bit/s, want %.0f +/- 3%%", c.name, got, c.want)
		}
	}
}

func TestQueueBoundsDelay(t *testing.T) {
	// 2 Mbit/s, 1228-byte packets on the wire: 4.912 ms each. A 50-packet
	// queue holds at most 50 of them: 245.6 ms of waiting plus one
	// transmission.
	prof := &Profile{Link: Link{Rate: &Rate{Bitrate: 2_000_000, Queue: &Queue{Packets: 50}}}}
	rep := simulate(t, SimConfig{Profile: prof, Seed: 1, Packets: 10_000, PPS: 400})
	tx := 1228.0 * 8 / 2e6 * 1000
	if max := 51 * tx; rep.DelayMS.Max > max+0.001 {
		t.Errorf("max delay %v ms exceeds 51 transmissions (%v ms)", rep.DelayMS.Max, max)
	}
	if rep.Dropped == 0 {
		t.Error("an overloaded 50-packet queue dropped nothing")
	}
	// Byte limit: 10 packets' worth.
	prof = &Profile{Link: Link{Rate: &Rate{Bitrate: 2_000_000, Queue: &Queue{Bytes: 12000}}}}
	rep = simulate(t, SimConfig{Profile: prof, Seed: 1, Packets: 10_000, PPS: 400})
	if max := 11 * tx; rep.DelayMS.Max > max+0.001 {
		t.Errorf("byte-limited queue: max delay %v ms exceeds 11 transmissions (%v ms)", rep.DelayMS.Max, max)
	}
}

func TestCoDelKeepsDelayDown(t *testing.T) {
	// Twice the link's capacity, unresponsive: drop-tail fills its 1000
	// packets (about 5 s of delay); CoDel drops at the head instead and
	// keeps the standing queue far below that.
	base := "rate: {bitrate: 2Mbit, queue: {packets: 1000%s}}"
	tail := simulate(t, SimConfig{Profile: mustParse(t, fmt.Sprintf(base, "")), Seed: 1, Packets: 20_000, PPS: 400})
	codel := simulate(t, SimConfig{Profile: mustParse(t, fmt.Sprintf(base, ", aqm: codel")), Seed: 1, Packets: 20_000, PPS: 400})
	if tail.DelayMS.P50 < 4000 {
		t.Fatalf("drop-tail p50 delay %v ms: expected the queue to fill (about 4.9 s)", tail.DelayMS.P50)
	}
	if codel.DelayMS.P50 > tail.DelayMS.P50/10 {
		t.Errorf("codel p50 delay %v ms, drop-tail %v ms: want codel under a tenth", codel.DelayMS.P50, tail.DelayMS.P50)
	}
	// Both must deliver the link's capacity.
	if d := math.Abs(codel.ThroughputBPS-tail.ThroughputBPS) / tail.ThroughputBPS; d > 0.03 {
		t.Errorf("codel throughput %v vs drop-tail %v", codel.ThroughputBPS, tail.ThroughputBPS)
	}
}

func TestReorderOnlyWithDelay(t *testing.T) {
	const n = 50_000
	noDelay := mustParse(t, "reorder: 25%")
	if w := noDelay.Warnings(); len(w) == 0 {
		t.Error("reorder without delay: no warning")
	}
	if rep := simulate(t, SimConfig{Profile: noDelay, Seed: 1, Packets: n}); rep.Reordered != 0 {
		t.Errorf("reorder without delay reordered %d packets", rep.Reordered)
	}
	jitterOnly := mustParse(t, "delay: {time: 50ms, jitter: 20ms}")
	if rep := simulate(t, SimConfig{Profile: jitterOnly, Seed: 1, Packets: n}); rep.Reordered != 0 {
		t.Errorf("jitter alone reordered %d packets", rep.Reordered)
	}
	// With 50 ms delay at 1000 pps, a packet sent at once overtakes the
	// ~50 delayed packets before it, each of which then counts as arriving
	// after a later-sent one.
	withDelay := mustParse(t, "delay: 50ms\nreorder: 25%")
	rep := simulate(t, SimConfig{Profile: withDelay, Seed: 1, Packets: n})
	if rep.Reordered == 0 {
		t.Fatal("reorder with delay reordered nothing")
	}
	// Packets sent at once: 25% (3 sigma band).
	led := rep.Delivered
	q := 0.25
	want, sigma := float64(led)*q, math.Sqrt(float64(led)*q*(1-q))
	sent := countReorderedFates(t, withDelay, n)
	if math.Abs(float64(sent)-want) > 3*sigma {
		t.Errorf("reordered fates %d, want %.0f +/- %.0f", sent, want, 3*sigma)
	}
}

func countReorderedFates(t *testing.T, p *Profile, n int) int {
	t.Helper()
	epoch := time.Unix(0, 0)
	sh, err := New(Config{Name: "impair", Profile: p, Seed: 1}, WithEpoch(epoch))
	if err != nil {
		t.Fatal(err)
	}
	c := 0
	for i := 0; i < n; i++ {
		if f := sh.Shape(epoch.Add(time.Duration(i)*time.Millisecond), 1200, Up); f.Reordered {
			c++
		}
	}
	return c
}

func TestReorderGap(t *testing.T) {
	// gap 5, probability 100%: exactly every fifth packet goes at once.
	p := mustParse(t, "delay: 10ms\nreorder: {probability: 100%, gap: 5}")
	epoch := time.Unix(0, 0)
	sh, _ := New(Config{Name: "x", Profile: p, Seed: 1}, WithEpoch(epoch))
	for i := 0; i < 50; i++ {
		f := sh.Shape(epoch.Add(time.Duration(i)*time.Millisecond), 100, Up)
		if want := i%5 == 4; f.Reordered != want {
			t.Fatalf("packet %d: reordered %v, want %v", i, f.Reordered, want)
		}
	}
}

func TestDuplicateAndCorruptRates(t *testing.T) {
	const n = 100_000
	p := mustParse(t, "duplicate: 2%\ncorrupt: 1%")
	rep := simulate(t, SimConfig{Profile: p, Seed: 5, Packets: n})
	for _, c := range []struct {
		name string
		got  uint64
		q    float64
	}{{"duplicated", rep.Duplicated, 0.02}, {"corrupted", rep.Corrupted, 0.01}} {
		want, sigma := n*c.q, math.Sqrt(n*c.q*(1-c.q))
		if math.Abs(float64(c.got)-want) > 3*sigma {
			t.Errorf("%s %d, want %.0f +/- %.0f", c.name, c.got, want, 3*sigma)
		}
	}
}

func TestMTU(t *testing.T) {
	p := mustParse(t, "mtu: 1228")
	sh, _ := New(Config{Name: "x", Profile: p, Seed: 1}, WithEpoch(time.Unix(0, 0)))
	if f := sh.Shape(time.Unix(0, 0), 1200, Up); f.Dropped() {
		t.Error("1200-byte payload (1228-byte IP packet) dropped at MTU 1228")
	}
	if f := sh.Shape(time.Unix(0, 0), 1201, Up); f.Drop != DropMTU {
		t.Errorf("1201-byte payload: drop %v, want mtu", f.Drop)
	}
}

func TestScheduleBoundariesExact(t *testing.T) {
	p := mustParse(t, `
delay: 10ms
schedule:
  - {start: 10s, duration: 3s, blackhole: true}
  - {start: 13s, duration: 5s, delay: 200ms}
  - {start: 20s, flap: {period: 1s, duty: 75%}}
`)
	epoch := time.Unix(1000, 0)
	sh, err := New(Config{Name: "x", Profile: p, Seed: 1}, WithEpoch(epoch))
	if err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) Fate { return sh.Shape(epoch.Add(d), 100, Down) }
	check := func(d time.Duration, drop Drop, delay time.Duration, phase int) {
		t.Helper()
		f := at(d)
		if f.Drop != drop || f.Phase != phase || (drop == DropNone && f.Delay != delay) {
			t.Errorf("at %v: drop %v delay %v phase %d; want drop %v delay %v phase %d", d, f.Drop, f.Delay, f.Phase, drop, delay, phase)
		}
	}
	check(10*time.Second-1, DropNone, 10*time.Millisecond, -1)
	check(10*time.Second, DropBlackhole, 0, 0)
	check(13*time.Second-1, DropBlackhole, 0, 0)
	check(13*time.Second, DropNone, 200*time.Millisecond, 1)
	check(18*time.Second-1, DropNone, 200*time.Millisecond, 1)
	// Back to 10 ms, but no packet overtakes the one sent 1 ns earlier.
	check(18*time.Second, DropNone, 200*time.Millisecond-1, -1)
	check(20*time.Second-1, DropNone, 10*time.Millisecond, -1)
	check(20*time.Second, DropNone, 10*time.Millisecond, 2)
	check(20*time.Second+750*time.Millisecond-1, DropNone, 10*time.Millisecond, 2)
	check(20*time.Second+750*time.Millisecond, DropFlap, 0, 2)
	check(21*time.Second-1, DropFlap, 0, 2)
	check(21*time.Second, DropNone, 10*time.Millisecond, 2)
}

func TestLedgerRepeatable(t *testing.T) {
	p, _ := Preset("3g")
	hash := func(seed uint64) string {
		return simulate(t, SimConfig{Profile: p, Seed: seed, Packets: 20_000}).LedgerSHA256
	}
	a, b, c := hash(42), hash(42), hash(43)
	if a != b {
		t.Errorf("same seed, different ledgers: %s vs %s", a, b)
	}
	if a == c {
		t.Errorf("different seeds, same ledger %s", a)
	}
}

func TestStreamsIndependent(t *testing.T) {
	// Adding delay must not change which packets the loss model drops.
	drops := func(src string) []uint64 {
		sh, _ := New(Config{Name: "x", Profile: mustParse(t, src), Seed: 9}, WithEpoch(time.Unix(0, 0)))
		var out []uint64
		for i := 0; i < 10_000; i++ {
			if f := sh.Shape(time.Unix(0, int64(i)*int64(time.Millisecond)), 500, Up); f.Dropped() {
				out = append(out, f.Index)
			}
		}
		return out
	}
	a, b := drops("loss: 5%"), drops("loss: 5%\ndelay: {time: 30ms, jitter: 5ms}\nduplicate: 3%")
	if len(a) != len(b) {
		t.Fatalf("drops changed with delay: %d vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("drop %d moved: packet %d vs %d", i, a[i], b[i])
		}
	}
}

func TestNeverDeliversBeforeSent(t *testing.T) {
	// Times given out of order are clamped: delivery never precedes sending.
	sh, _ := New(Config{Name: "x", Profile: mustParse(t, "delay: {time: 1ms, jitter: 5ms}"), Seed: 1}, WithEpoch(time.Unix(0, 0)))
	for i := 0; i < 10_000; i++ {
		now := time.Unix(0, int64((i*7919)%1000)*int64(time.Millisecond))
		if f := sh.Shape(now, 100, Up); f.Delay < 0 {
			t.Fatalf("packet %d: negative delay %v", i, f.Delay)
		}
	}
}
