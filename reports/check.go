package reports

import (
	"fmt"
	"maps"
	"math"
	"slices"
)

// Validate says whether r is a run that Read would accept: a known schema,
// known verdicts and clocks, timelines whose events say who and what, and
// finite figures (JSON has no NaN or infinity: one such metric would
// otherwise lose the whole file at write time), runs that each say their
// clock (and leave the case none of its own), well-formed tables with
// distinct names. The error wraps ErrBadRun (and
// ErrBadTable for a table) and names the place: cases[i] "name", tables[i].
func (r *Run) Validate() error {
	if err := r.check(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRun, err)
	}
	return nil
}

// check is Validate without the ErrBadRun prefix, for callers that add it
// with a file name.
func (r *Run) check() error {
	if r.Schema < 1 || r.Schema > SchemaVersion {
		return fmt.Errorf("schema %d, this netlab reads 1-%d", r.Schema, SchemaVersion)
	}
	if !duration(r.Duration) {
		return fmt.Errorf("duration_s %v, want a length of time (>= 0)", r.Duration)
	}
	for i := range r.Cases {
		if err := r.Cases[i].check(); err != nil {
			return fmt.Errorf("cases[%d] %q: %w", i, r.Cases[i].Name, err)
		}
	}
	seen := make(map[string]int, len(r.Tables))
	for i := range r.Tables {
		t := &r.Tables[i]
		if err := t.check(); err != nil {
			return fmt.Errorf("tables[%d]: %w", i, err)
		}
		if j, dup := seen[t.Name]; dup {
			return fmt.Errorf("tables[%d]: %w: name %q already used by tables[%d]", i, ErrBadTable, t.Name, j)
		}
		seen[t.Name] = i
	}
	return nil
}

func (c *Case) check() error {
	switch c.Verdict {
	case Passed, Failed, Skipped:
	default:
		return fmt.Errorf("verdict %q, want %s, %s or %s", c.Verdict, Passed, Failed, Skipped)
	}
	switch c.Clock {
	case "", ClockVirtual, ClockReal:
	default:
		return fmt.Errorf("clock %q, want %s or %s", c.Clock, ClockVirtual, ClockReal)
	}
	if !duration(c.Duration) {
		return fmt.Errorf("duration_s %v, want a length of time (>= 0)", c.Duration)
	}
	if err := checkLab(c.Metrics, c.Timeline); err != nil {
		return err
	}
	if len(c.Runs) > 0 {
		switch {
		case c.Clock != "":
			return fmt.Errorf("clock %q beside runs: with runs, each run has the clock", c.Clock)
		case len(c.Timeline) > 0:
			return fmt.Errorf("a timeline beside runs: with runs, each run has its timeline")
		case len(c.Ledgers) > 0:
			return fmt.Errorf("ledgers beside runs: with runs, each run has its ledgers")
		}
	}
	for i, r := range c.Runs {
		if r.Clock != ClockVirtual && r.Clock != ClockReal {
			return fmt.Errorf("runs[%d]: clock %q, want %s or %s", i, r.Clock, ClockVirtual, ClockReal)
		}
		if err := checkLab(r.Metrics, r.Timeline); err != nil {
			return fmt.Errorf("runs[%d]: %w", i, err)
		}
	}
	return nil
}

// checkLab checks what a case and each of its runs have: finite metrics
// and timeline events that say who, what and when.
func checkLab(metrics map[string]float64, timeline []Event) error {
	for _, k := range slices.Sorted(maps.Keys(metrics)) {
		if v := metrics[k]; math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("metrics[%q]: %v, want a finite number", k, v)
		}
	}
	for i, e := range timeline {
		switch {
		case e.Source == "":
			return fmt.Errorf("timeline[%d]: no source", i)
		case e.Kind == "":
			return fmt.Errorf("timeline[%d]: no kind", i)
		case !duration(e.At):
			return fmt.Errorf("timeline[%d]: at_s %v, want a time since the case's start (>= 0)", i, e.At)
		}
	}
	return nil
}

// duration says whether v can be a length of time in seconds: finite and
// not negative.
func duration(v float64) bool { return v >= 0 && !math.IsInf(v, 0) }
