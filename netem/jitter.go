package netem

import (
	"math"
	"math/rand/v2"
	"time"
)

// jitter draws delays of mean `mean` and standard deviation `sd` from a
// standardised distribution (mean 0, variance 1), optionally correlated as
// an AR(1) series z' = rho*z + sqrt(1-rho^2)*e, which keeps mean and
// variance (tc-netem's correlation does not: it shrinks the variance).
type jitter struct {
	mean, sd float64 // nanoseconds
	draw     func(*rand.Rand) float64
	rho      float64
}

func newJitter(d *Delay) *jitter {
	if d == nil || (d.Time == 0 && d.Jitter == 0) {
		return nil
	}
	r := d.resolved()
	j := &jitter{mean: float64(r.Time), sd: float64(r.Jitter), rho: r.Correlation.Prob()}
	switch r.Distribution {
	case Uniform:
		j.draw = stdUniform
	case Pareto:
		j.draw = stdPareto
	case ParetoNormal:
		j.draw = stdParetoNormal
	default:
		j.draw = stdNormal
	}
	return j
}

// next draws a delay; last is the previous standardised draw (the AR(1)
// state, kept per direction so that phases share it).
func (j *jitter) next(r *rand.Rand, last *float64) time.Duration {
	if j.sd == 0 {
		return time.Duration(j.mean)
	}
	z := j.draw(r)
	if j.rho > 0 {
		z = j.rho*(*last) + math.Sqrt(1-j.rho*j.rho)*z
	}
	*last = z
	d := j.mean + j.sd*z
	if d < 0 {
		return 0
	}
	if d > float64(maxDelay) {
		return maxDelay
	}
	return time.Duration(d)
}

func stdNormal(r *rand.Rand) float64 { return r.NormFloat64() }

// stdUniform spans [-sqrt(3), sqrt(3)]: variance 1.
func stdUniform(r *rand.Rand) float64 { return (2*r.Float64() - 1) * math.Sqrt(3) }

// Pareto with shape a and scale 1 has mean a/(a-1) and variance
// a/((a-1)^2 (a-2)). Shape 5 rather than tc's table's 3: with shape 3 the
// kurtosis is infinite, so a run's measured jitter wanders far from the
// configured one however long it runs; with 5 it converges.
const (
	paretoShape = 5.0
	paretoMean  = paretoShape / (paretoShape - 1)
)

var paretoSD = math.Sqrt(paretoShape / ((paretoShape - 1) * (paretoShape - 1) * (paretoShape - 2)))

// stdPareto is a Pareto(shape 5) draw, standardised: a long tail of late
// packets, none much earlier than the mean.
func stdPareto(r *rand.Rand) float64 {
	u := 1 - r.Float64() // (0, 1]
	x := math.Pow(u, -1/paretoShape)
	return (x - paretoMean) / paretoSD
}

// stdParetoNormal blends a normal and a Pareto draw 1:3, standardised.
func stdParetoNormal(r *rand.Rand) float64 {
	const wn, wp = 0.25, 0.75
	return (wn*stdNormal(r) + wp*stdPareto(r)) / math.Sqrt(wn*wn+wp*wp)
}
