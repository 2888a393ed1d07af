package signaling

import (
	"math/rand/v2"
	"time"
)

// Backoff is the reconnect schedule: the n-th retry waits
// min(Max, Min*Factor^n), less a random part of up to Jitter of it (so a
// server restart is not met by every client at the same instant). The
// random part comes from the client's seed.
type Backoff struct {
	Min    time.Duration // default 50 ms
	Max    time.Duration // default 5 s
	Factor float64       // default 2
	Jitter float64       // 0..1 (0: the default 0.5; negative: none)
}

func (b Backoff) withDefaults() Backoff {
	if b.Min <= 0 {
		b.Min = 50 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 5 * time.Second
	}
	if b.Max < b.Min {
		b.Max = b.Min
	}
	if b.Factor < 1 {
		b.Factor = 2
	}
	switch {
	case b.Jitter == 0:
		b.Jitter = 0.5
	case b.Jitter < 0:
		b.Jitter = 0
	case b.Jitter > 1:
		b.Jitter = 1
	}
	return b
}

// delay is the wait before retry number attempt (0-based).
func (b Backoff) delay(attempt int, rng *rand.Rand) time.Duration {
	d := float64(b.Min)
	for i := 0; i < attempt && d < float64(b.Max); i++ {
		d *= b.Factor
	}
	d = min(d, float64(b.Max))
	d -= d * b.Jitter * rng.Float64()
	return time.Duration(d)
}
