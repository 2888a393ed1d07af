package netem

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
)

func addProfileSeeds(f *testing.F, asJSON bool) {
	for _, n := range PresetNames() {
		src, _ := PresetSource(n)
		if asJSON {
			p, _ := Preset(n)
			data, _ := json.Marshal(p.Resolved())
			src = data
		}
		f.Add(src)
	}
	f.Add([]byte("loss: {model: 4-state, p13: 2%, p31: 60%}\nrate: {bitrate: 1Mbit, queue: {aqm: codel}}"))
	f.Add([]byte(`{"schedule": [{"start": "1s", "flap": {"period": "1s", "duty": 50}}], "tcp": {"slicer": {"average_size": 5}}}`))
}

// The parser never panics, and what it accepts is valid and round-trips.
func fuzzParse(t *testing.T, name string, data []byte) {
	p, err := ParseProfile(name, data)
	if err != nil {
		if !errors.Is(err, ErrInvalidProfile) {
			t.Fatalf("error does not wrap ErrInvalidProfile: %v", err)
		}
		return
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("accepted, then invalid: %v", err)
	}
	y, err := p.Resolved().MarshalYAMLText()
	if err != nil {
		t.Fatalf("resolved profile does not marshal: %v", err)
	}
	if _, err := ParseProfile("again.yaml", y); err != nil {
		t.Fatalf("resolved profile does not parse back: %v\n%s", err, y)
	}
}

func FuzzParseProfileYAML(f *testing.F) {
	addProfileSeeds(f, false)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzParse(t, "fuzz.yaml", data) })
}

func FuzzParseProfileJSON(f *testing.F) {
	addProfileSeeds(f, true)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzParse(t, "fuzz.json", data) })
}

// FuzzShaper builds a profile from arbitrary numbers; whenever it is valid,
// the shaper must not panic and must never deliver a packet before it was
// sent, nor corrupt a byte outside the packet.
func FuzzShaper(f *testing.F) {
	f.Add(uint64(1), int64(20e6), int64(5e6), uint8(1), 25.0, uint8(0), 1.0, 30.0, 100.0, 0.0, 0.0, 2.0, 1.0, 5.0, uint16(2), uint64(2e6), uint16(50), uint8(1), int64(10e9), int64(3e9), uint16(1200), []byte{1, 2, 3})
	f.Add(uint64(9), int64(0), int64(0), uint8(3), 0.0, uint8(2), 2.0, 60.0, 30.0, 40.0, 1.0, 0.0, 0.0, 0.0, uint16(0), uint64(0), uint16(0), uint8(0), int64(0), int64(0), uint16(0), []byte{})
	f.Fuzz(func(t *testing.T, seed uint64, delay, jitter int64, dist uint8, corr float64,
		model uint8, l1, l2, l3, l4, l5, dup, corrupt, reorder float64, gap uint16,
		bps uint64, queue uint16, aqm uint8, phaseStart, phaseLen int64, mtu uint16, sizes []byte) {
		pc := func(v float64) *Percent { p := Percent(v); return &p }
		l := Link{
			Delay:     &Delay{Time: Duration(delay), Jitter: Duration(jitter), Distribution: []Distribution{"", Uniform, Normal, Pareto, ParetoNormal}[dist%5], Correlation: Percent(corr)},
			Duplicate: pc(dup),
			Corrupt:   pc(corrupt),
			Reorder:   &Reorder{Probability: Percent(reorder), Gap: int(gap)},
		}
		switch model % 3 {
		case 0:
			l.Loss = &Loss{Model: Bernoulli, Rate: pc(l1)}
		case 1:
			l.Loss = &Loss{Model: GilbertElliott, P: pc(l1), R: pc(l2), OneMinusH: pc(l3), OneMinusK: pc(l4)}
		case 2:
			l.Loss = &Loss{Model: FourState, P13: pc(l1), P31: pc(l2), P32: pc(l3), P23: pc(l4), P14: pc(l5)}
		}
		if bps > 0 {
			q := &Queue{Packets: int(queue)}
			if aqm%2 == 1 {
				q.AQM = CoDel
			}
			l.Rate = &Rate{Bitrate: Bitrate(bps % 1e12), Queue: q}
		}
		if mtu > 0 {
			m := int(mtu)
			l.MTU = &m
		}
		p := &Profile{Link: l, Schedule: []Phase{{Start: Duration(phaseStart), Duration: Duration(phaseLen), Link: Link{Blackhole: new(bool)}, Up: &Link{Flap: &Flap{Period: Duration(phaseLen / 3), Duty: 50}}}}}
		if p.Validate() != nil {
			return
		}
		epoch := time.Unix(0, 0)
		sh, err := New(Config{Name: "fuzz", Profile: p, Seed: seed}, WithEpoch(epoch), WithEvents(8))
		if err != nil {
			t.Fatalf("valid profile refused: %v", err)
		}
		now := epoch
		for i, b := range sizes {
			now = now.Add(time.Duration(b) * time.Millisecond)
			size := int(b) * 7
			f := sh.Shape(now, size, Direction(i%2))
			if f.Delay < 0 || f.DupDelay < 0 {
				t.Fatalf("packet %d delivered before it was sent: delay %v dup %v", i, f.Delay, f.DupDelay)
			}
			if f.Corrupt && (f.CorruptByte < 0 || f.CorruptByte >= size || f.CorruptBit > 7) {
				t.Fatalf("packet %d: corrupts byte %d bit %d of %d", i, f.CorruptByte, f.CorruptBit, size)
			}
			if f.Delay > maxDelay+time.Duration(math.MaxInt32)*time.Second {
				t.Fatalf("packet %d: absurd delay %v", i, f.Delay)
			}
		}
	})
}
