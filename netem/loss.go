package netem

import "math/rand/v2"

// lossModel decides, packet by packet, whether the loss model drops it. A
// model may keep state (the Markov chains do); one instance serves one
// direction of the base link and of every phase that does not set loss,
// and each phase that does has its own (see SetProfile).
type lossModel interface {
	lost(r *rand.Rand) bool
}

func newLossModel(l *Loss) lossModel {
	if l == nil {
		return nil
	}
	r := l.resolved()
	switch r.Model {
	case Bernoulli:
		if *r.Rate == 0 {
			return nil
		}
		return bernoulli(r.Rate.Prob())
	case GilbertElliott:
		return &gilbertElliott{p: r.P.Prob(), r: r.R.Prob(), lossBad: r.OneMinusH.Prob(), lossGood: r.OneMinusK.Prob()}
	case FourState:
		return &fourState{p13: r.P13.Prob(), p31: r.P31.Prob(), p32: r.P32.Prob(), p23: r.P23.Prob(), p14: r.P14.Prob(), state: 1}
	}
	return nil
}

// bernoulli loses each packet independently.
type bernoulli float64

func (b bernoulli) lost(r *rand.Rand) bool { return r.Float64() < float64(b) }

// gilbertElliott: the packet's fate follows the current state, then the
// state moves (as tc-netem's gemodel).
type gilbertElliott struct {
	p, r              float64 // Good->Bad, Bad->Good
	lossBad, lossGood float64 // 1-h, 1-k
	bad               bool
}

func (g *gilbertElliott) lost(r *rand.Rand) bool {
	var lost bool
	if g.bad {
		lost = r.Float64() < g.lossBad
		if r.Float64() < g.r {
			g.bad = false
		}
	} else {
		lost = r.Float64() < g.lossGood
		if r.Float64() < g.p {
			g.bad = true
		}
	}
	return lost
}

// fourState is the 4-state Markov chain of Salsano et al. (tc-netem "loss
// state"): the chain moves first, and the packet is lost when it lands in
// state 3 (lost in a burst) or 4 (isolated loss).
type fourState struct {
	p13, p31, p32, p23, p14 float64
	state                   int
}

func (f *fourState) lost(r *rand.Rand) bool {
	u := r.Float64()
	switch f.state {
	case 1: // received, in a gap
		switch {
		case u < f.p14:
			f.state = 4
		case u < f.p14+f.p13:
			f.state = 3
		}
	case 2: // received, in a burst
		if u < f.p23 {
			f.state = 3
		}
	case 3: // lost, in a burst
		switch {
		case u < f.p32:
			f.state = 2
		case u < f.p32+f.p31:
			f.state = 1
		}
	case 4: // isolated loss: always back to the gap
		f.state = 1
	}
	return f.state == 3 || f.state == 4
}
