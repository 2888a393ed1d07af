// Command repeat compares the run.json files of repeated runs of the
// suite with one seed: how many cases kept their verdict in every run,
// and how many kept every ledger hash too (FINDINGS.md, Repeatability:
// verdicts must repeat; ledgers are a figure to push up).
//
//	go run ./scripts/repeat reports/out/repeat/*/run.json
//
// Exit status: 0 when every case kept its verdict, 1 when one did not or
// a case is missing from some runs, 2 on bad input (too few files, a file
// that does not read as a run, runs of different seeds).
package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/netlab/netlab/reports"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errInput: the files cannot be compared at all.
var errInput = errors.New("repeat")

func run(paths []string, stdout, stderr io.Writer) int {
	sum, err := compare(paths)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	for _, l := range sum.lines {
		fmt.Fprintln(stdout, l)
	}
	fmt.Fprintln(stdout, sum.String())
	if !sum.repeated() {
		return 1
	}
	return 0
}

// summary is what compare found over the runs.
type summary struct {
	runs, cases int
	verdictSame int      // cases with one verdict in every run
	withLedgers int      // cases with a ledger in some run
	ledgerSame  int      // of those, cases with the same hashes in every run
	missing     int      // cases absent from some runs
	lines       []string // one per case that did not repeat, sorted by name
}

func (s summary) repeated() bool { return s.verdictSame == s.cases }

func (s summary) String() string {
	out := fmt.Sprintf("%d runs, %d cases: verdict identical in every run for %d; ledger hashes identical in every run for %d of %d cases with ledgers",
		s.runs, s.cases, s.verdictSame, s.ledgerSame, s.withLedgers)
	if s.missing > 0 {
		out += fmt.Sprintf("; %d cases missing from some runs", s.missing)
	}
	return out
}

// compare reads the runs at paths and compares them case by case. Runs of
// different seeds, or a run that names one case twice, cannot be compared
// this way and are refused.
func compare(paths []string) (summary, error) {
	if len(paths) < 2 {
		return summary{}, fmt.Errorf("%w: usage: repeat RUN.json RUN.json...  (two runs or more, got %d)", errInput, len(paths))
	}
	type seen struct {
		verdicts map[reports.Verdict]int
		ledgers  map[string]int
		n        int
		hasLedg  bool
	}
	cases := map[string]*seen{}
	var first *reports.Run
	for _, p := range paths {
		r, err := reports.ReadFile(p)
		if err != nil {
			return summary{}, fmt.Errorf("%w: %w", errInput, err)
		}
		if first == nil {
			first = r
		} else if r.Seed != first.Seed {
			return summary{}, fmt.Errorf("%w: %s has seed %d, %s seed %d: repeat compares runs of one seed",
				errInput, paths[0], first.Seed, p, r.Seed)
		}
		inRun := make(map[string]bool, len(r.Cases))
		for i, c := range r.Cases {
			if inRun[c.Name] {
				return summary{}, fmt.Errorf("%w: %s: cases[%d] %q appears twice in the run", errInput, p, i, c.Name)
			}
			inRun[c.Name] = true
			s := cases[c.Name]
			if s == nil {
				s = &seen{verdicts: map[reports.Verdict]int{}, ledgers: map[string]int{}}
				cases[c.Name] = s
			}
			s.n++
			s.verdicts[c.Verdict]++
			hs := ledgerKeys("", c.Ledgers)
			for j, lr := range c.Runs { // a case that ran its lab more than once (schema 3)
				hs = append(hs, ledgerKeys(fmt.Sprintf("runs[%d]:", j), lr.Ledgers)...)
			}
			slices.Sort(hs)
			s.hasLedg = s.hasLedg || len(hs) > 0
			s.ledgers[strings.Join(hs, ",")]++
		}
	}
	sum := summary{runs: len(paths), cases: len(cases)}
	for _, n := range slices.Sorted(maps.Keys(cases)) {
		s := cases[n]
		if s.n != len(paths) {
			sum.missing++
			sum.lines = append(sum.lines, fmt.Sprintf("in %d of %d runs: %s", s.n, len(paths), n))
			continue
		}
		if len(s.verdicts) == 1 {
			sum.verdictSame++
		} else {
			sum.lines = append(sum.lines, fmt.Sprintf("verdicts differ %v: %s", s.verdicts, n))
		}
		if s.hasLedg {
			sum.withLedgers++
			if len(s.ledgers) == 1 {
				sum.ledgerSame++
			}
		}
	}
	return sum, nil
}

// ledgerKeys are a lab run's ledger hashes as prefix+point/direction=hash.
func ledgerKeys(prefix string, ls []reports.Ledger) []string {
	var hs []string
	for _, l := range ls {
		hs = append(hs, prefix+l.Point+"/"+l.Direction+"="+l.SHA256)
	}
	return hs
}
