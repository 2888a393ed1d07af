// Command repeat compares the run.json files of repeated runs of the
// suite with one seed: how many cases kept their verdict in every run,
// and how many kept every ledger hash too (FINDINGS.md, Repeatability:
// verdicts must repeat; ledgers are a figure to push up).
//
//	go run ./scripts/repeat reports/out/repeat/*/run.json
package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/netlab/netlab/reports"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: repeat RUN.json RUN.json...  (two runs or more)")
		os.Exit(2)
	}
	var runs []*reports.Run
	for _, p := range os.Args[1:] {
		r, err := reports.ReadFile(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "repeat:", err)
			os.Exit(1)
		}
		runs = append(runs, r)
	}
	type seen struct {
		verdicts map[reports.Verdict]int
		ledgers  map[string]int
		n        int
		hasLedg  bool
	}
	cases := map[string]*seen{}
	for _, r := range runs {
		for _, c := range r.Cases {
			s := cases[c.Name]
			if s == nil {
				s = &seen{verdicts: map[reports.Verdict]int{}, ledgers: map[string]int{}}
				cases[c.Name] = s
			}
			s.n++
			s.verdicts[c.Verdict]++
			var hs []string
			for _, l := range c.Ledgers {
				hs = append(hs, l.Point+"/"+l.Direction+"="+l.SHA256)
			}
			slices.Sort(hs)
			s.hasLedg = s.hasLedg || len(hs) > 0
			s.ledgers[strings.Join(hs, ",")]++
		}
	}
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	slices.Sort(names)
	var verdictSame, withLedgers, ledgerSame, missing int
	for _, n := range names {
		s := cases[n]
		if s.n != len(runs) {
			missing++
			fmt.Printf("in %d of %d runs: %s\n", s.n, len(runs), n)
			continue
		}
		if len(s.verdicts) == 1 {
			verdictSame++
		} else {
			fmt.Printf("verdicts differ %v: %s\n", s.verdicts, n)
		}
		if s.hasLedg {
			withLedgers++
			if len(s.ledgers) == 1 {
				ledgerSame++
			}
		}
	}
	fmt.Printf("%d runs, %d cases: verdict identical in every run for %d; ledger hashes identical in every run for %d of %d cases with ledgers", len(runs), len(names), verdictSame, ledgerSame, withLedgers)
	if missing > 0 {
		fmt.Printf("; %d cases missing from some runs", missing)
	}
	fmt.Println()
	if verdictSame != len(names) {
		os.Exit(1)
	}
}
