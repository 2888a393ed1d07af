package netem

import (
	"math"
	"math/rand/v2"
	"time"
)

// Only the link's delay, rate, blackhole, flap and tcp section shape a byte
// stream. Loss, duplicate, corrupt, reorder and mtu are ignored on purpose:
// below the socket TCP retransmits, deduplicates, reorders and checksums,
// so an application sees them only as delay and stalls, which the profile
// models with delay, flap and blackhole.

// tcpPlan computes when each piece of a direction's byte stream leaves the
// proxy. It is computed, not simulated (as the bottleneck): every release
// follows from the chunk's arrival and the previous releases. A chunk goes
//
//	slicer ─▶ bandwidth ─▶ delay ─▶ in order
//
// cut into pieces spaced by the slicer's delay, each serialised behind the
// previous one at the bitrate, then delayed by the chunk's one delay draw,
// and never released before the piece before it. Toxiproxy chains its
// toxics in the order they were added; netem has one profile, so one order,
// the one of a path: the sender's segmentation, the bottleneck, the
// propagation delay.
type tcpPlan struct {
	last       time.Time // release of the latest piece: nothing overtakes it
	busyUntil  time.Time // bandwidth: the bottleneck transmits until then
	sliceNext  time.Time // slicer: the next piece leaves no earlier
	jitterLast float64   // AR(1) state of the delay draws
	rngDelay   *rand.Rand
	rngSlice   *rand.Rand
}

// tcpPiece is data[off:end] of a chunk, released at at.
type tcpPiece struct {
	off, end int
	at       time.Time
}

// schedule plans a chunk of n > 0 bytes arriving at a under lp, appending
// its pieces to out.
func (pl *tcpPlan) schedule(a time.Time, n int, lp *linkParams, out []tcpPiece) []tcpPiece {
	d := pl.delay(lp)
	var sl *Slicer
	if tc := lp.src.TCP; tc != nil {
		sl = tc.Slicer
	}
	for off := 0; off < n; {
		end := n
		ready := a
		if sl != nil {
			end = min(off+pl.sliceSize(sl), n)
			ready = later(a, pl.sliceNext)
			pl.sliceNext = ready.Add(sl.Delay.D())
		}
		depart := ready
		if lp.rate != nil {
			depart = later(ready, pl.busyUntil).Add(txTime(end-off, lp.rate.bps))
			pl.busyUntil = depart
		}
		at := later(depart.Add(d), pl.last)
		pl.last = at
		out = append(out, tcpPiece{off: off, end: end, at: at})
		off = end
	}
	return out
}

// scheduleClose plans the source's close (a FIN) arriving at a: it travels
// behind the data with the link's delay, then waits slow_close.
func (pl *tcpPlan) scheduleClose(a time.Time, lp *linkParams) time.Time {
	depart := a
	if lp.rate != nil {
		depart = later(a, pl.busyUntil)
	}
	at := later(depart.Add(pl.delay(lp)), pl.last)
	if tc := lp.src.TCP; tc != nil && tc.SlowClose != nil {
		at = at.Add(tc.SlowClose.D())
	}
	pl.last = at
	return at
}

// scheduleAfter plans an event right after everything planned so far.
func (pl *tcpPlan) scheduleAfter(a time.Time) time.Time {
	pl.last = later(a, pl.last)
	return pl.last
}

func (pl *tcpPlan) delay(lp *linkParams) time.Duration {
	if lp.jitter == nil {
		return 0
	}
	return lp.jitter.next(pl.rngDelay, &pl.jitterLast)
}

// sliceSize draws a piece size, uniform in average_size ± size_variation.
// (Toxiproxy bisects chunks instead, which gives pieces between half the
// average and average+variation; netem's sizes mean what the fields say.)
func (pl *tcpPlan) sliceSize(sl *Slicer) int {
	size := sl.AverageSize
	if v := sl.SizeVariation; v > 0 {
		size += pl.rngSlice.IntN(2*v+1) - v
	}
	return max(size, 1)
}

// txTime is how long n bytes occupy a link of bps bits per second.
func txTime(n int, bps float64) time.Duration {
	return time.Duration(math.Ceil(float64(n) * 8 * 1e9 / bps))
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// linkDownUntil reports whether, at a, the link holds data back in dir
// (blackhole, the down part of a flap, a TCP timeout in force), and if so
// when to look again: when the flap comes up or the next phase boundary,
// whichever is first; zero when only a SetProfile can change it.
func linkDownUntil(s *Shaper, a time.Time, dir Direction) (time.Time, bool) {
	lp, _, off, phaseStart := s.linkAt(a, dir)
	up := time.Duration(-1)
	switch {
	case lp.blackhole, lp.src.TCP != nil && lp.src.TCP.Timeout != nil:
	case lp.flapPeriod > 0 && (off-phaseStart)%lp.flapPeriod >= lp.flapUp:
		up = off - (off-phaseStart)%lp.flapPeriod + lp.flapPeriod
	default:
		return time.Time{}, false
	}
	if b := s.nextChange(off, dir); b >= 0 && (up < 0 || b < up) {
		up = b
	}
	if up < 0 {
		return time.Time{}, true
	}
	return s.epoch.Add(up), true
}
