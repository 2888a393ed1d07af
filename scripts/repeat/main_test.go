package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/netlab/netlab/reports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runOf is a run of seed with one case per verdict given, named a, b, ...;
// case a carries a ledger with hash h.
func runOf(seed uint64, h string, verdicts ...reports.Verdict) *reports.Run {
	r := &reports.Run{Schema: reports.SchemaVersion, Tool: "netlab", Seed: seed}
	for i, v := range verdicts {
		c := reports.Case{Name: string(rune('a' + i)), Verdict: v, Reproduce: "go test"}
		if i == 0 {
			c.Ledgers = []reports.Ledger{{Point: "alice", Direction: "up", SHA256: h}}
		}
		r.Cases = append(r.Cases, c)
	}
	return r
}

// withRuns moves case a's ledgers into lab runs (schema 3: a case that ran
// its lab more than once), one per hash.
func withRuns(r *reports.Run, hashes ...string) *reports.Run {
	c := &r.Cases[0]
	c.Ledgers = nil
	for i, h := range hashes {
		clock := reports.ClockVirtual
		if i > 0 {
			clock = reports.ClockReal
		}
		c.Runs = append(c.Runs, reports.LabRun{Clock: clock, Ledgers: []reports.Ledger{{Point: "alice", Direction: "up", SHA256: h}}})
	}
	return r
}

func write(t *testing.T, runs ...*reports.Run) []string {
	t.Helper()
	var paths []string
	for i, r := range runs {
		p := filepath.Join(t.TempDir(), "run.json")
		if err := r.WriteFile(p); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestRepeat(t *testing.T) {
	P, F := reports.Passed, reports.Failed
	for _, c := range []struct {
		name string
		runs []*reports.Run
		code int
		want []string // each in stdout
	}{
		{"identical", []*reports.Run{runOf(1, "x", P, F), runOf(1, "x", P, F), runOf(1, "x", P, F)}, 0,
			[]string{"3 runs, 2 cases: verdict identical in every run for 2; ledger hashes identical in every run for 1 of 1 cases with ledgers"}},
		{"ledger differs", []*reports.Run{runOf(1, "x", P, P), runOf(1, "y", P, P)}, 0,
			[]string{"verdict identical in every run for 2; ledger hashes identical in every run for 0 of 1"}},
		{"verdict differs", []*reports.Run{runOf(1, "x", P, P), runOf(1, "x", P, F)}, 1,
			[]string{"verdicts differ map[failed:1 passed:1]: b", "verdict identical in every run for 1;"}},
		{"a second lab run differs", []*reports.Run{withRuns(runOf(1, "x", P), "v", "r1"), withRuns(runOf(1, "x", P), "v", "r2")}, 0,
			[]string{"ledger hashes identical in every run for 0 of 1 cases with ledgers"}},
		{"missing case", []*reports.Run{runOf(1, "x", P, P), runOf(1, "x", P)}, 1,
			[]string{"in 1 of 2 runs: b", "; 1 cases missing from some runs"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errs strings.Builder
			code := run(write(t, c.runs...), &out, &errs)
			if code != c.code || errs.Len() > 0 {
				t.Errorf("exit %d, stderr %q; want %d and nothing", code, errs.String(), c.code)
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// Files that cannot be compared exit 2 and say why.
func TestRepeatRefuses(t *testing.T) {
	P := reports.Passed
	twice := runOf(1, "x", P, P)
	twice.Cases[1].Name = "a"
	good := write(t, runOf(1, "x", P))[0]
	truncated := filepath.Join(t.TempDir(), "run.json")
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		paths []string
		want  string
	}{
		{"one file", []string{good}, "two runs or more, got 1"},
		{"seeds differ", write(t, runOf(1, "x", P), runOf(2, "x", P)), "has seed 1, "},
		{"a case twice", write(t, runOf(1, "x", P, P), twice), `cases[1] "a" appears twice in the run`},
		{"truncated", []string{good, truncated}, truncated + ": truncated after"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errs strings.Builder
			if code := run(c.paths, &out, &errs); code != 2 || !strings.Contains(errs.String(), c.want) || out.Len() > 0 {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2, nothing, and %q", code, out.String(), errs.String(), c.want)
			}
		})
	}
}
