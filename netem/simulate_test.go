package netem

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestSimulateRejects(t *testing.T) {
	for _, c := range []struct {
		cfg  SimConfig
		want string
	}{
		{SimConfig{}, "packets must be within 1-50000000, got 0"},
		{SimConfig{Packets: MaxSimPackets + 1}, "packets must be within"},
		{SimConfig{Packets: 1, Size: -1}, "size must be within 1-65507 bytes"},
		{SimConfig{Packets: 1, Size: 65508}, "got 65508"},
		{SimConfig{Packets: 1, PPS: -1}, "pps must be above 0 and at most 1e9"},
		{SimConfig{Packets: 1, PPS: math.NaN()}, "got NaN"},
		{SimConfig{Packets: 1, PPS: math.Inf(1)}, "got +Inf"},
		// Send times past a time.Duration's range used to wrap around.
		{SimConfig{Packets: 10, PPS: 1e-300}, "10 packets at 1e-300/s span 9e+300 s of virtual time, more than the 146 years"},
		{SimConfig{Packets: 3, PPS: 1e-10}, "3 packets at 1e-10/s span 2e+10 s"},
	} {
		if _, err := Simulate(c.cfg); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want ErrBadConfig containing %q", c.cfg, err, c.want)
		}
	}
}

// TestSimulateLongSpan: a slow rate within the clock's range is measured,
// not refused: one packet every 31.7 years.
func TestSimulateLongSpan(t *testing.T) {
	rep, err := Simulate(SimConfig{Packets: 3, PPS: 1e-9, Size: 125})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 3 || rep.Reordered != 0 {
		t.Errorf("delivered %d, reordered %d; want 3 and 0", rep.Delivered, rep.Reordered)
	}
}
