package netem

import (
	"math"
	"testing"
	"time"
)

// TestBottleneckSaturates: at 1 bit/s a 65507-byte packet with the largest
// overhead occupies the link for 12 days, so a deep queue of them is
// backlogged past what a Duration counts (292 years, after about 8,800
// packets). Departures saturate there rather than wrap around into the
// past.
func TestBottleneckSaturates(t *testing.T) {
	p := mustParse(t, "rate: {bitrate: 1, overhead: 65535, queue: {packets: 2147483647}}\ndelay: {time: 1h}")
	sh, err := New(Config{Name: "slow", Seed: 1, Profile: p}, WithEpoch(time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	// The queue alone: departures never run backwards.
	var b bottleneck
	r := &rateParams{bps: 1, overhead: 65535, limitPackets: math.MaxInt32}
	var prev time.Duration
	for i := range 10_000 {
		depart, drop := b.admit(0, 65507, r)
		if drop != DropNone || depart < prev {
			t.Fatalf("packet %d: departs at %v (%v), before the previous one's %v", i, depart, drop, prev)
		}
		prev = depart
	}

	// Through the shaper, with a delay on top.
	var last time.Duration
	for i := range 10_000 {
		f := sh.Shape(time.Unix(0, 0), 65507, Up)
		if f.Dropped() {
			t.Fatalf("packet %d dropped (%v): the queue has room", i, f.Drop)
		}
		if f.Delay < last {
			t.Fatalf("packet %d: delay %v, before the previous packet's %v (overflow)", i, f.Delay, last)
		}
		last = f.Delay
	}
	if last != math.MaxInt64 {
		t.Errorf("last delay %v, want it saturated at %v", last, time.Duration(math.MaxInt64))
	}
}
