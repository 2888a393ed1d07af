package scenarios

import (
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"
	"github.com/pion/logging"

	"github.com/netlab/netlab/browsers"
	"github.com/netlab/netlab/reports"
	"go.uber.org/goleak"
	"golang.org/x/mod/modfile"
)

var (
	seed   = flag.Uint64("netlab.seed", 1, "seed of every impairment decision in the run")
	outDir = flag.String("netlab.out", "", "directory to write run.json into (none: no file)")
)

// suiteT is the suite's *testing.T: specs enter synctest bubbles with it
// (FINDINGS.md, Virtual time).
var suiteT *testing.T

func TestScenarios(t *testing.T) {
	suiteT = t
	// The suite's live heap stays small (tens of MB) while pion allocates
	// fast: at the default GOGC of 100 the collector took about a quarter
	// of a virtual-time case's CPU. GOGC 400 (unless the environment sets
	// one) cut a lab case's wall time by 1.3-1.6x (BenchmarkCase, lab).
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	// Nothing a spec starts may outlive the suite.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		// Ginkgo's own interrupt handler stays registered after RunSpecs.
		goleak.IgnoreTopFunction("github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2"))
	RegisterFailHandler(Fail)
	RunSpecs(t, suiteDescription)
	// No browser process may outlive the suite.
	// That includes the browsers that died mid-run and were replaced.
	browserMu.Lock()
	dirs := slices.Clone(retiredDirs)
	if suiteBr != nil {
		dirs = append(dirs, suiteBr.UserDataDir())
	}
	for _, err := range retiredErrs {
		t.Errorf("closing a suite browser that died mid-run: %v", err)
	}
	browserMu.Unlock()
	if err := closeSuiteBrowser(); err != nil {
		t.Errorf("closing the suite's browser: %v", err)
	}
	for _, dir := range dirs {
		if pids, err := browsers.Leftovers(dir); err != nil || len(pids) > 0 {
			t.Errorf("browser processes left after the suite (dir %s): %v (%v)", dir, pids, err)
		}
	}
	// As PID 1 (a container's init, or make test's namespace) the
	// orphans of every browser were ours to reap.
	if os.Getpid() == 1 {
		if z := browsers.Zombies(); len(z) > 0 {
			t.Errorf("zombie processes left after the suite, running as PID 1: %v", z)
		}
	}
}

// caseData is what a spec records for the run report (through a Ginkgo
// report entry, so that the aggregation happens once, after the suite).
// A spec that runs its lab more than once (agreement) records once per
// run: the report keeps each run (reports.LabRun).
type caseData struct {
	Family, Pair, Transport, Clock string
	NATs                           []string
	Profile                        string
	Outcome                        string // how the run's body ended, when the family says (agreement)
	Metrics                        map[string]float64
	Ledgers                        []reports.Ledger
	Timeline                       []reports.Event
}

const caseEntry = "netlab-case"

// record attaches a spec's figures to its report. A figure that is not a
// finite number (a ratio over nothing, say) has no JSON form, and would
// make run.json unwritable for the whole suite: it is left out, and the
// spec fails naming it, unless it has failed already (the first failure
// is the one to read). So does a record whose family is not the spec's
// family label, whose pair is not one that run.json documents, or whose
// cell of the matrix differs from an earlier record of the same spec.
// That is decided in a cleanup: record runs in defers too, where a Fail
// would replace a panic on its way out, and where Ginkgo's report does
// not say failed yet.
func record(d *caseData) {
	var bad []string
	d.Metrics, bad = finiteMetrics(d.Metrics)
	spec := CurrentSpecReport()
	problems := recordProblems(d, spec.Labels(), caseRecords(spec.ReportEntries))
	AddReportEntry(caseEntry, d, ReportEntryVisibilityNever)
	if len(bad) > 0 {
		problems = append(problems, "metrics that are not finite numbers, left out of run.json: "+strings.Join(bad, ", "))
	}
	if len(problems) > 0 {
		DeferCleanup(func() {
			if !CurrentSpecReport().Failed() {
				Fail(strings.Join(problems, "; "))
			}
		})
	}
}

// recordProblems says what is wrong with a spec's record d, given the
// spec's labels and its earlier records.
func recordProblems(d *caseData, labels []string, earlier []*caseData) []string {
	var out []string
	if f := familyOf(labels); f != "" && d.Family != f {
		out = append(out, fmt.Sprintf("recorded family %q, the spec's family label is %q", d.Family, f))
	}
	if !slices.Contains(pairs, d.Pair) {
		out = append(out, fmt.Sprintf("recorded pair %q, want one of %q", d.Pair, pairs))
	}
	for _, e := range earlier {
		if e.Family != d.Family || e.Pair != d.Pair || e.Transport != d.Transport || e.Profile != d.Profile || !slices.Equal(e.NATs, d.NATs) {
			out = append(out, fmt.Sprintf("a second lab run in another cell of the matrix (%s %s %s %v %q, then %s %s %s %v %q): a case's runs share one",
				e.Family, e.Pair, e.Transport, e.NATs, e.Profile, d.Family, d.Pair, d.Transport, d.NATs, d.Profile))
			break
		}
	}
	return out
}

// caseRecords are the records among a spec's report entries, in order.
func caseRecords(entries []types.ReportEntry) []*caseData {
	var out []*caseData
	for _, e := range entries {
		if d, ok := e.GetRawValue().(*caseData); ok && e.Name == caseEntry {
			out = append(out, d)
		}
	}
	return out
}

// fillCase puts a spec's records into its case: one record fills the
// case's cell, clock, metrics, ledgers and timeline; more (a spec that ran
// its lab more than once) fill the cell, and one reports.LabRun each. A
// spec without a record (skipped, or failed before its lab ran) gets the
// family its labels name.
func fillCase(c *reports.Case, ds []*caseData) {
	switch len(ds) {
	case 0:
		c.Family = familyOf(c.Labels)
		return
	case 1:
		d := ds[0]
		c.Clock, c.Metrics, c.Ledgers, c.Timeline = d.Clock, d.Metrics, d.Ledgers, d.Timeline
	default:
		for _, d := range ds {
			c.Runs = append(c.Runs, reports.LabRun{Clock: d.Clock, Outcome: d.Outcome, Metrics: d.Metrics, Ledgers: d.Ledgers, Timeline: d.Timeline})
		}
	}
	d := ds[0]
	c.Family, c.Pair, c.Transport, c.NATs, c.Profile = d.Family, d.Pair, d.Transport, d.NATs, d.Profile
}

// finiteMetrics is m without its NaN and infinite values (a copy when there
// are any), and those values as "name = value", sorted by name.
func finiteMetrics(m map[string]float64) (map[string]float64, []string) {
	var bad []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if v := m[k]; math.IsNaN(v) || math.IsInf(v, 0) {
			bad = append(bad, fmt.Sprintf("%s = %v", k, v))
		}
	}
	if len(bad) == 0 {
		return m, nil
	}
	kept := make(map[string]float64, len(m)-len(bad))
	for k, v := range m {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			kept[k] = v
		}
	}
	return kept, bad
}

func TestFiniteMetrics(t *testing.T) {
	m := map[string]float64{"ok_ms": 1.5, "ratio": math.NaN(), "rate": math.Inf(-1), "zero": 0}
	kept, bad := finiteMetrics(m)
	if want := map[string]float64{"ok_ms": 1.5, "zero": 0}; !maps.Equal(kept, want) {
		t.Errorf("kept %v, want %v", kept, want)
	}
	if want := []string{"rate = -Inf", "ratio = NaN"}; !slices.Equal(bad, want) {
		t.Errorf("bad %q, want %q", bad, want)
	}
	if len(m) != 4 {
		t.Errorf("the caller's map lost entries: %v", m)
	}
	if kept, bad := finiteMetrics(map[string]float64{"a": 1}); len(bad) != 0 || kept["a"] != 1 {
		t.Errorf("all finite: got %v, %v", kept, bad)
	}
}

func TestParsePionLog(t *testing.T) {
	got, err := parsePionLog(" ice:trace, sctp,,all:debug ")
	want := map[string]logging.LogLevel{"ice": logging.LogLevelTrace, "sctp": logging.LogLevelDebug, "all": logging.LogLevelDebug}
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
	if _, err := parsePionLog("ice:loud"); err == nil || !strings.Contains(err.Error(), `"ice:loud": want scope, scope:debug or scope:trace, got level "loud"`) {
		t.Errorf("a bad level: %v", err)
	}
}

func TestCheckTableRow(t *testing.T) {
	cols := []string{"a", "b"}
	for _, c := range []struct {
		columns, row []string
		want         string
	}{
		{cols, []string{"1", "2"}, ""},
		{cols, []string{"1"}, `table t: row "k" has 1 cells for 2 columns (a, b)`},
		{cols, []string{"1", "2", "3"}, `row "k" has 3 cells`},
		{[]string{"a", "c"}, []string{"1", "2"}, `table t: row "k" comes with columns (a, c), the table has (a, b)`},
	} {
		err := checkTableRow("t", cols, c.columns, "k", c.row)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.row, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v %v: got %v, want %q", c.columns, c.row, err, c.want)
		}
	}
}

var _ = ReportAfterEach(func(r SpecReport) {
	if r.Failed() {
		fmt.Fprintf(GinkgoWriter, "\nseed %d; rerun this case with:\n  %s\n", *seed, reproduce(r))
		AddReportEntry("reproduce", reproduce(r))
	}
})

var _ = ReportAfterSuite("netlab run report", func(rep Report) {
	if *outDir == "" {
		return
	}
	run := &reports.Run{
		Schema:  reports.SchemaVersion,
		Tool:    "netlab",
		Seed:    *seed,
		Started: rep.StartTime.UTC(),
		Environment: reports.Environment{
			GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(),
			Modules: modules(), Netns: os.Getenv("NETLAB_NETNS"),
		},
		Duration: rep.RunTime.Seconds(),
	}
	for _, s := range rep.SpecReports {
		if s.LeafNodeType != types.NodeTypeIt {
			continue
		}
		c := reports.Case{Name: s.FullText(), Labels: s.Labels(), Duration: s.RunTime.Seconds(), Reproduce: reproduce(s)}
		switch {
		case s.State.Is(types.SpecStatePending | types.SpecStateSkipped):
			c.Verdict = reports.Skipped
			run.Skipped++
		case s.Failed():
			c.Verdict = reports.Failed
			c.Failure = s.Failure.Message
			c.Location = s.Failure.Location.String()
			run.Failed++
		default:
			c.Verdict = reports.Passed
			run.Passed++
		}
		fillCase(&c, caseRecords(s.ReportEntries))
		run.Cases = append(run.Cases, c)
	}
	tbs, err := runTables()
	Expect(err).NotTo(HaveOccurred())
	for i := range tbs {
		Expect(run.AddTable(&tbs[i])).To(Succeed())
	}
	if len(run.Cases) > 0 {
		st, err := speedupTable(run)
		Expect(err).NotTo(HaveOccurred())
		if len(st.Rows) > 0 {
			Expect(run.AddTable(st)).To(Succeed())
			var b strings.Builder
			Expect(st.Markdown(&b)).To(Succeed())
			fmt.Fprintf(GinkgoWriter, "\n%s\n", b.String())
		}
	}
	run.Command = runCommand(os.Args[1:], raceEnabled, os.Getenv("NETLAB_NETNS") != "")
	_, rc := GinkgoConfiguration()
	cwd, err := os.Getwd()
	Expect(err).NotTo(HaveOccurred())
	run.JUnit = junitRecord(rc.JUnitReport, *outDir, cwd)
	path := filepath.Join(*outDir, "run.json")
	Expect(run.WriteFile(path)).To(Succeed())
	var md strings.Builder
	Expect(run.Markdown(&md)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(*outDir, "summary.md"), []byte(md.String()), 0o644)).To(Succeed())
	fmt.Fprintf(GinkgoWriter, "run report: %s (%d passed, %d failed, %d skipped)\n", path, run.Passed, run.Failed, run.Skipped)
})

// modules reads the versions of the stack from go.mod (a test binary's
// build info carries no dependencies). go test runs the suite in its
// package directory, one below the module root.
func modules() map[string]string {
	data, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		return nil
	}
	f, err := modfile.ParseLax("go.mod", data, nil)
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for _, r := range f.Require {
		p := r.Mod.Path
		if strings.HasPrefix(p, "github.com/pion/") || strings.HasPrefix(p, "github.com/chromedp/") || strings.HasPrefix(p, "github.com/onsi/") {
			m[p] = r.Mod.Version
		}
	}
	return m
}
