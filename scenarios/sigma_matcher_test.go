package scenarios

import (
	"strings"
	"testing"
)

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
