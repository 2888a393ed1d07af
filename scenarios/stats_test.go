package scenarios

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/onsi/gomega/types"
)

// statSigma is the width of every statistical check in the suite, in
// standard deviations of the quantity checked.
const statSigma = 3

// statChance says what a failed statistical check means. A two-sided
// 3-sigma check fails by chance for 0.27% of seeds (one-sided: 0.13%).
// A go-go run made some 26 of them on netem's draws, and a seed other
// than the default failed one about once in 10 runs with no fault
// anywhere; those are exact now (expectApplied, relAssertSentOnce; README,
// Repeatability), and the bands left are the Chrome cases', the netem
// family's and a one-sided floor. In virtual time the seed fixes the
// draws, so the same seed fails the same way again; in real time
// (Chrome, perf, ws and sse) the draws follow the order packets happen to
// come in, so it may not.
const statChance = "a statistical check: one seed in about %d fails a %s 3-sigma check by chance " +
	"(in virtual time the same seed fails it again; in real time it may not); run other seeds (-netlab.seed) before suspecting a fault"

// sigmaEpsilon absorbs float rounding where the spread is zero (a loss
// rate of 0 or 1), so that the exact expectation still matches.
const sigmaEpsilon = 1e-9

// beWithinSigma matches a count or ratio (any integer or float) within
// statSigma standard deviations sd of its expectation mean. Its failure
// says how far out the value is, in sigma, and what that means.
func beWithinSigma(mean, sd float64) types.GomegaMatcher {
	return &sigmaMatcher{mean: mean, sd: sd}
}

// beNotBelowSigma is the one-sided form: the value is not more than
// statSigma standard deviations below mean.
func beNotBelowSigma(mean, sd float64) types.GomegaMatcher {
	return &sigmaMatcher{mean: mean, sd: sd, lowerOnly: true}
}

type sigmaMatcher struct {
	mean, sd  float64
	lowerOnly bool
}

func (m *sigmaMatcher) bound() float64 { return statSigma*m.sd + sigmaEpsilon }

func (m *sigmaMatcher) Match(actual any) (bool, error) {
	x, err := sigmaValue(actual)
	if err != nil {
		return false, err
	}
	if math.IsNaN(m.mean) || math.IsInf(m.mean, 0) || math.IsNaN(m.sd) || math.IsInf(m.sd, 0) || m.sd < 0 {
		return false, fmt.Errorf("a sigma check needs a finite mean and a spread >= 0, got %v and %v", m.mean, m.sd)
	}
	if m.lowerOnly {
		return x >= m.mean-m.bound(), nil
	}
	return math.Abs(x-m.mean) <= m.bound(), nil
}

func (m *sigmaMatcher) FailureMessage(actual any) string {
	x, _ := sigmaValue(actual) // Match has checked it
	want := fmt.Sprintf("%.4g +- %.4g (%d sigma, sd %.4g)", m.mean, statSigma*m.sd, statSigma, m.sd)
	if m.lowerOnly {
		want = fmt.Sprintf("at least %.4g - %.4g (%d sigma below the expected %.4g, sd %.4g)", m.mean, statSigma*m.sd, statSigma, m.mean, m.sd)
	}
	z := "off a zero spread"
	if m.sd > 0 {
		z = fmt.Sprintf("%+.2f sigma", (x-m.mean)/m.sd)
	}
	chance := fmt.Sprintf(statChance, 370, "two-sided")
	if m.lowerOnly {
		chance = fmt.Sprintf(statChance, 740, "one-sided")
	}
	return fmt.Sprintf("got %.4g, %s from the expectation; want %s.\nThis is %s.", x, z, want, chance)
}

func (m *sigmaMatcher) NegatedFailureMessage(actual any) string {
	x, _ := sigmaValue(actual)
	return fmt.Sprintf("got %.4g, within %d sigma of %.4g (sd %.4g); want it outside", x, statSigma, m.mean, m.sd)
}

// sigmaValue takes any integer or float.
func sigmaValue(actual any) (float64, error) {
	v := reflect.ValueOf(actual)
	switch {
	case v.CanFloat():
		return v.Float(), nil
	case v.CanInt():
		return float64(v.Int()), nil
	case v.CanUint():
		return float64(v.Uint()), nil
	}
	return 0, fmt.Errorf("a sigma check needs a number, got %T", actual)
}

func TestSigmaMatcher(t *testing.T) {
	for _, tc := range []struct {
		name      string
		actual    any
		mean, sd  float64
		lowerOnly bool
		want      bool
	}{
		{"at the mean", 100, 100, 10, false, true},
		{"at +3 sigma", 130.0, 100, 10, false, true},
		{"past +3 sigma", 130.5, 100, 10, false, false},
		{"past -3 sigma", uint64(69), 100, 10, false, false},
		{"one-sided: far above", 1000, 100, 10, true, true},
		{"one-sided: at -3 sigma", int32(70), 100, 10, true, true},
		{"one-sided: past -3 sigma", 69.9, 100, 10, true, false},
		{"zero spread, exact", 0.81, 0.81, 0, false, true},
		{"zero spread, off", 0.82, 0.81, 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &sigmaMatcher{mean: tc.mean, sd: tc.sd, lowerOnly: tc.lowerOnly}
			ok, err := m.Match(tc.actual)
			if err != nil || ok != tc.want {
				t.Fatalf("Match(%v) = %v, %v; want %v", tc.actual, ok, err, tc.want)
			}
			if !ok && !strings.Contains(m.FailureMessage(tc.actual), "statistical check") {
				t.Errorf("the failure does not say it is a statistical check: %s", m.FailureMessage(tc.actual))
			}
		})
	}
	if _, err := beWithinSigma(1, 1).Match("12"); err == nil {
		t.Error("a string matched as a number")
	}
	if _, err := beWithinSigma(1, -1).Match(1); err == nil {
		t.Error("a negative spread was accepted")
	}
	msg := beWithinSigma(100, 10).FailureMessage(135)
	if !strings.Contains(msg, "+3.50 sigma") || !strings.Contains(msg, "100 +- 30") {
		t.Errorf("the failure does not give z and the bound: %s", msg)
	}
	if msg := beNotBelowSigma(100, 10).FailureMessage(60); !strings.Contains(msg, "740 fails a one-sided") {
		t.Errorf("a one-sided failure does not give its own chance: %s", msg)
	}
	if !strings.Contains(msg, "370 fails a two-sided") {
		t.Errorf("a two-sided failure does not give its own chance: %s", msg)
	}
}
