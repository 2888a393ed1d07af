package scenarios

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/lab/labspec"
	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/reports"
)

// realTime makes every virtual-time lab case run on the wall clock
// instead: the same spec, the same seed, to compare the two.
var realTime = flag.Bool("netlab.realtime", false, "run virtual-time lab cases in real time")

// labCase describes one case of a scenario family for the run record.
type labCase struct {
	Family string
	Pair   string // go-go (the default), go-chrome, chrome-chrome, or mixed (the mesh): reports.Case's pairs
	// Profile names the impairment of the case (for the record).
	Profile string
	// Clock forces a clock; "" picks virtual when the transport allows
	// it (and -netlab.realtime is off).
	Clock labspec.Clock
	// Timeout bounds the body on its clock (default labspec's).
	Timeout time.Duration
}

// caseRecord collects what a lab case measured; the body fills it.
type caseRecord struct {
	mu      sync.Mutex
	metrics map[string]float64 // guarded by mu
	outcome string             // guarded by mu
}

// Outcome records how the body ended, in the family's words, for a case
// that runs its lab more than once and compares the runs (agreement).
func (r *caseRecord) Outcome(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcome = s
}

// Metric records a figure of the case (ms, ratios, counts).
func (r *caseRecord) Metric(name string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.metrics == nil {
		r.metrics = map[string]float64{}
	}
	r.metrics[name] = v
}

// clockFor is the clock a case on topo runs on: virtual unless the
// topology needs real time (sockets, processes) or -netlab.realtime.
func clockFor(c labCase, topo lab.Topology) labspec.Clock {
	if c.Clock != "" {
		return c.Clock
	}
	if !topo.RealTimeOnly() && !*realTime {
		return labspec.Virtual
	}
	return labspec.Real
}

// runLab runs body in a lab built from topo (seeded with the suite's
// seed), and records the case: its family, pair, transport, NATs,
// profile, clock, timeline, ledgers and metrics. It returns the result for
// specs that compare runs.
func runLab(c labCase, topo lab.Topology, body func(ctx context.Context, l *lab.Lab, rec *caseRecord)) labspec.Result {
	GinkgoHelper()
	topo.Seed = *seed
	clock := clockFor(c, topo)
	rec := &caseRecord{}
	var timeline []lab.Entry
	var ledgers []netem.Ledger
	var res labspec.Result
	cpu0 := processCPU()
	logOpts, reportLog := pionLogOptions()
	reportLabOnFailure("lab timeline ("+string(clock)+" clock)", func() []lab.Entry { return timeline }, reportLog)
	defer func() {
		// Recorded even when the body fails: a failed case's timeline
		// is the most useful one.
		if res.Wall > 0 {
			rec.Metric("lab_clock_s", res.Elapsed.Seconds())
			rec.Metric("wall_s", res.Wall.Seconds())
			rec.Metric("cpu_s", (processCPU() - cpu0).Seconds())
		}
		recordLab(c, topo, clock, rec, timeline, ledgers)
	}()
	res = labspec.Run(suiteT, topo, clock, c.Timeout, func(ctx context.Context, l *lab.Lab) {
		defer func() { timeline, ledgers = l.Timeline(), l.Ledgers() }()
		// Before the lab closes its tabs; after a failure too (a Gomega
		// failure panics through here, and goes on once reported).
		defer func() {
			r := recover()
			reportChromes(l, r != nil)
			if r != nil {
				panic(r)
			}
		}()
		body(ctx, l, rec)
	}, append(labOptions(topo), logOpts...)...)
	return res
}

// reportLabOnFailure prints, when the spec has failed, the lab's timeline
// under title and the case's pion log (reportLog, from pionLogOptions).
// timeline is read then: the lab fills it as it closes. It is a cleanup,
// not a defer: inside the spec's own node Ginkgo's report does not say
// failed yet (it learns at the node's end), so a defer never saw the
// failure and never printed this.
func reportLabOnFailure(title string, timeline func() []lab.Entry, reportLog func()) {
	DeferCleanup(func() {
		if !CurrentSpecReport().Failed() {
			return
		}
		if tl := timeline(); len(tl) > 0 {
			// The lab's timeline is the first thing to read about a
			// failed case: printed with the failure, not only in
			// run.json.
			var b strings.Builder
			for _, e := range tl {
				b.WriteString(e.String() + "\n")
			}
			AddReportEntry(title, b.String(), ReportEntryVisibilityFailureOrVerbose)
		}
		reportLog()
	})
}

func recordLab(c labCase, topo lab.Topology, clock labspec.Clock, rec *caseRecord, timeline []lab.Entry, ledgers []netem.Ledger) {
	transport := string(topo.Signaling.Transport)
	if transport == "" {
		transport = string(lab.TransportLoopback)
	}
	var nats []string
	for _, e := range topo.Endpoints {
		n := e.NAT
		if n == "" {
			n = lab.NATNone
		}
		nats = append(nats, string(n))
	}
	pair := c.Pair
	if pair == "" {
		pair = "go-go"
	}
	rec.mu.Lock()
	metrics, outcome := rec.metrics, rec.outcome
	rec.mu.Unlock()
	d := &caseData{
		Family: c.Family, Pair: pair, Transport: transport, NATs: nats,
		Profile: c.Profile, Clock: string(clock), Outcome: outcome,
		Metrics: metrics, Timeline: toEvents(timeline),
	}
	for _, lg := range ledgers {
		d.Ledgers = append(d.Ledgers, reportLedger(lg))
	}
	record(d)
}

func toEvents(tl []lab.Entry) []reports.Event {
	out := make([]reports.Event, 0, len(tl))
	for _, e := range tl {
		out = append(out, reports.Event{At: e.At.Seconds(), Source: e.Source, Kind: e.Kind, Detail: e.Detail})
	}
	return out
}

// Tables: a family adds rows as its cases run; the suite writes each
// table into run.json once, after the suite.
var (
	tablesMu sync.Mutex
	tables   = map[string]*tableAcc{}
)

type tableAcc struct {
	title   string
	columns []string
	notes   []string
	rows    map[string][]string // by key, so a rerun replaces its row
}

// addTableRow puts a row into the named table (made on first use), keyed
// so that rows come out sorted and unique. A row that does not fit the
// table fails the spec that adds it: found after the suite, it would have
// cost the whole run.json.
func addTableRow(name, title string, columns []string, key string, row []string, notes ...string) {
	GinkgoHelper()
	tablesMu.Lock()
	defer tablesMu.Unlock()
	t := tables[name]
	if t == nil {
		t = &tableAcc{title: title, columns: columns, rows: map[string][]string{}}
		tables[name] = t
	}
	Expect(checkTableRow(name, t.columns, columns, key, row)).To(Succeed())
	t.notes = appendNew(t.notes, notes...)
	t.rows[key] = row
}

// checkTableRow says why a row, given with columns, does not fit a table
// made with have: other columns, or a cell count that is not one per
// column.
func checkTableRow(name string, have, columns []string, key string, row []string) error {
	if !slices.Equal(have, columns) {
		return fmt.Errorf("table %s: row %q comes with columns (%s), the table has (%s)",
			name, key, strings.Join(columns, ", "), strings.Join(have, ", "))
	}
	if len(row) != len(have) {
		return fmt.Errorf("table %s: row %q has %d cells for %d columns (%s)", name, key, len(row), len(have), strings.Join(have, ", "))
	}
	return nil
}

func appendNew(to []string, s ...string) []string {
	for _, v := range s {
		found := false
		for _, w := range to {
			found = found || w == v
		}
		if !found {
			to = append(to, v)
		}
	}
	return to
}

// runTables returns every table, sorted by name, rows by key.
func runTables() ([]reports.Table, error) {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []reports.Table
	for _, n := range names {
		t := tables[n]
		keys := make([]string, 0, len(t.rows))
		for k := range t.rows {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		tb := reports.Table{Name: n, Title: t.title, Columns: t.columns, Notes: t.notes}
		for _, k := range keys {
			if err := tb.AddRow(t.rows[k]...); err != nil {
				return nil, fmt.Errorf("table %s: %w", n, err)
			}
		}
		out = append(out, tb)
	}
	return out, nil
}

// ms formats a duration in milliseconds for tables.
func ms(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond)) }

// natPairName is "a x b" for tables and spec names.
func natPairName(a, b lab.NAT) string { return strings.Join([]string{string(a), string(b)}, " x ") }
