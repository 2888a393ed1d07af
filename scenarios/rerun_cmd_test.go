package scenarios

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/netlab/netlab/reports"
)

// setFlags sets the suite's behaviour flags for one test.
func setFlags(t *testing.T, s uint64, rt bool, pl string) {
	t.Helper()
	s0, rt0, pl0 := *seed, *realTime, *pionLog
	*seed, *realTime, *pionLog = s, rt, pl
	t.Cleanup(func() { *seed, *realTime, *pionLog = s0, rt0, pl0 })
}

// shellWords runs cmd in a POSIX shell at the module root, with go
// replaced by a function that prints its arguments: the words go would
// get.
func shellWords(t *testing.T, cmd string) []string {
	t.Helper()
	sh := exec.Command("sh", "-c", `go() { printf '%s\n' "$@"; }; `+cmd)
	sh.Dir = ".."
	out, err := sh.Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v", cmd, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// afterArgs is what follows -args in go test's words: the binary's own.
func afterArgs(t *testing.T, words []string) []string {
	t.Helper()
	i := slices.Index(words, "-args")
	if i < 0 {
		t.Fatalf("no -args in %q", words)
	}
	return words[i+1:]
}

// TestReproduceCarriesTheRun: the printed rerun command runs the case
// the way make run does (-count=1, -timeout 30m, the loopback-only
// wrapper) with every flag that changed the case. It used to pass the
// focus and the seed only: a real-time failure reran in virtual time, and
// outside the loopback-only namespace.
func TestReproduceCarriesTheRun(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	text := "nat a 'quoted' [x] pair"
	r := types.SpecReport{ContainerHierarchyTexts: []string{"nat"}, LeafNodeText: "a 'quoted' [x] pair", LeafNodeType: types.NodeTypeIt}
	for _, c := range []struct {
		seed     uint64
		realtime bool
		pionlog  string
		want     []string
	}{
		{7, false, "", []string{"-netlab.seed=7"}},
		{3, true, "ice:trace, sctp", []string{"-netlab.seed=3", "-netlab.realtime", "-netlab.pionlog=ice:trace, sctp"}},
	} {
		setFlags(t, c.seed, c.realtime, c.pionlog)
		words := shellWords(t, reproduce(r))
		wantWords := []string{"test"}
		if raceEnabled {
			wantWords = append(wantWords, "-race")
		}
		wantWords = append(wantWords, "-count=1", "-timeout", "30m", "-exec", filepath.Join(root, "scripts", "loopback-only"),
			"./scenarios", "-run", "TestScenarios", "-args", "-ginkgo.focus="+reproduceFocus(text))
		wantWords = append(wantWords, c.want...)
		if !slices.Equal(words, wantWords) {
			t.Errorf("seed %d realtime %v pionlog %q: go gets\n %q\nwant\n %q", c.seed, c.realtime, c.pionlog, words, wantWords)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "scripts", "loopback-only")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("the wrapper the command names: %v, %v", fi, err)
	}
}

// TestReproduceOrdered: a spec of an Ordered container cannot run alone
// (perf's specs read what their BeforeAll measured; the killed browser's
// second spec needs its first). Its command reruns the whole container,
// says so, and, run in the real Ginkgo, selects exactly that container's
// specs: not "perf with Chrome" for "perf".
func TestReproduceOrdered(t *testing.T) {
	setFlags(t, 1, false, "")
	dir := t.TempDir()
	specs := dryRunSpecs(t, dir)
	byContainer := map[string][]types.SpecReport{}
	for _, sr := range specs {
		if sr.IsInOrderedContainer {
			k := sr.ContainerHierarchyLocations[0].String()
			byContainer[k] = append(byContainer[k], sr)
		}
	}
	if len(byContainer) < 3 {
		t.Fatalf("%d Ordered containers; the suite has perf, perf with Chrome and a browser killed mid-spec", len(byContainer))
	}
	for _, group := range byContainer {
		for _, sr := range group {
			cmd := reproduce(sr)
			if want := fmt.Sprintf("  # reruns the whole Ordered container %q", sr.ContainerHierarchyTexts[0]); !strings.Contains(cmd, want) {
				t.Errorf("%s: %s lacks %s", sr.FullText(), cmd, want)
			}
		}
		args := afterArgs(t, shellWords(t, reproduce(group[0])))
		out := dryRun(t, dir, args...)
		if want := fmt.Sprintf(`Will run %d of %d specs`, len(group), len(specs)); !strings.Contains(out, want) {
			t.Errorf("%q: want %q; the suite said:\n%s", args, want, out)
		}
	}
	// A spec out of any Ordered container is focused alone.
	for _, sr := range specs {
		if !sr.IsInOrderedContainer {
			if cmd := reproduce(sr); strings.Contains(cmd, "#") || strings.Contains(cmd, "focus-file") {
				t.Errorf("%s: %s", sr.FullText(), cmd)
			}
			break
		}
	}
}

// TestRunCommand: run.json's command line is go test's, quoted for the
// shell, without the -test.* flags go test adds itself. It was a fixed
// prefix and the binary's raw arguments: unquoted, and with go test's
// internal flags (-test.paniconexit0, -test.timeout=...) after -args.
func TestRunCommand(t *testing.T) {
	for _, c := range []struct {
		args        []string
		race, netns bool
		want        string
	}{
		// make run
		{[]string{"-test.paniconexit0", "-test.count=1", "-test.timeout=30m0s", "-test.run=TestScenarios",
			"-netlab.out=/w/reports/out", "-ginkgo.junit-report=/w/reports/out/junit.xml"}, false, true,
			`go test -exec "$PWD"/scripts/loopback-only -count=1 -timeout=30m0s -run=TestScenarios ./scenarios -args -netlab.out=/w/reports/out -ginkgo.junit-report=/w/reports/out/junit.xml`},
		// go test -json -race, a focus with spaces and quotes
		{[]string{"-test.paniconexit0", "-test.v=test2json", "-test.timeout=10m0s", "-test.run=TestScenarios",
			"-ginkgo.focus=^netlab scenarios it's$", "-netlab.realtime"}, true, false,
			`go test -race -json -timeout=10m0s -run=TestScenarios ./scenarios -args '-ginkgo.focus=^netlab scenarios it'\''s$' -netlab.realtime`},
		// the binary run by hand, flags and values apart
		{[]string{"-test.run", "TestScenarios", "-test.v", "-netlab.out", "/tmp/o d", "-ginkgo.label-filter=go-go"}, false, false,
			`go test -run=TestScenarios -v ./scenarios -args -netlab.out '/tmp/o d' -ginkgo.label-filter=go-go`},
		{nil, false, false, `go test ./scenarios`},
	} {
		if got := runCommand(c.args, c.race, c.netns); got != c.want {
			t.Errorf("%q:\n got %s\nwant %s", c.args, got, c.want)
		}
	}
	// What the shell makes of it is what the binary was given (less go
	// test's own flags).
	args := []string{"-test.run=TestScenarios", "-ginkgo.focus=^a (b) 'c' $x `d`$", "-netlab.pionlog=ice, sctp"}
	words := shellWords(t, runCommand(args, false, false))
	if got := afterArgs(t, words); !slices.Equal(got, args[1:]) {
		t.Errorf("the shell gives %q, want %q", got, args[1:])
	}
}

// TestJunitRecord: run.json's junit is where the JUnit report was
// written, not "junit.xml" whatever -ginkgo.junit-report said.
func TestJunitRecord(t *testing.T) {
	for _, c := range []struct{ junit, out, cwd, want string }{
		{"", "/w/reports/out", "/w/scenarios", ""},
		{"/w/reports/out/junit.xml", "/w/reports/out", "/w/scenarios", "junit.xml"},
		{"/w/reports/out/ci/j.xml", "/w/reports/out", "/w/scenarios", "ci/j.xml"},
		{"../reports/out/junit.xml", "/w/reports/out", "/w/scenarios", "junit.xml"},
		{"j.xml", "/tmp/out", "/w/scenarios", "/w/scenarios/j.xml"},
		{"/tmp/out-other/j.xml", "/tmp/out", "/w/scenarios", "/tmp/out-other/j.xml"},
		{"/tmp/j.xml", "", "/w/scenarios", "/tmp/j.xml"},
	} {
		if got := junitRecord(c.junit, c.out, c.cwd); got != c.want {
			t.Errorf("junitRecord(%q, %q, %q) = %q, want %q", c.junit, c.out, c.cwd, got, c.want)
		}
	}
}

// TestEverySpecHasAFamily: every spec's labels name its family, which the
// report gives a spec that recorded none (a skipped one); seed specs that
// also carry another family's label (seeds 17-18: glare) are seed's.
func TestEverySpecHasAFamily(t *testing.T) {
	for _, sr := range dryRunSpecs(t, t.TempDir()) {
		f := familyOf(sr.Labels())
		switch {
		case f == "":
			t.Errorf("%s: labels %q name no family", sr.FullText(), sr.Labels())
		case slices.Contains(sr.Labels(), "seed") && f != "seed":
			t.Errorf("%s: a seed spec of family %q", sr.FullText(), f)
		}
	}
}

// TestFillCase: a spec that ran its lab twice (agreement: virtual, then
// real) keeps both runs; the report used to keep the last record only, so
// every agreement case said clock real and the virtual run was lost. A
// spec with no record (skipped) counts under its family label.
func TestFillCase(t *testing.T) {
	virtual := &caseData{Family: "agreement", Pair: "go-go", Transport: "loopback", NATs: []string{"none", "none"}, Clock: "virtual",
		Outcome: "ok", Metrics: map[string]float64{"wall_s": 0.1}, Timeline: []reports.Event{{At: 1.2, Source: "alice", Kind: "state", Detail: "ice=connected"}}}
	real := &caseData{Family: "agreement", Pair: "go-go", Transport: "loopback", NATs: []string{"none", "none"}, Clock: "real",
		Outcome: "ok", Metrics: map[string]float64{"wall_s": 1.3}, Timeline: []reports.Event{{At: 1.21, Source: "alice", Kind: "state", Detail: "ice=connected"}}}

	c := reports.Case{Name: "agree", Verdict: reports.Passed}
	fillCase(&c, []*caseData{virtual, real})
	if c.Clock != "" || c.Timeline != nil || c.Metrics != nil || len(c.Runs) != 2 ||
		c.Runs[0].Clock != "virtual" || c.Runs[0].Timeline[0].At != 1.2 || c.Runs[0].Metrics["wall_s"] != 0.1 || c.Runs[0].Outcome != "ok" ||
		c.Runs[1].Clock != "real" || c.Runs[1].Metrics["wall_s"] != 1.3 || c.Family != "agreement" || c.Pair != "go-go" {
		t.Errorf("two runs: %+v", c)
	}
	r := &reports.Run{Schema: reports.SchemaVersion, Passed: 1, Cases: []reports.Case{c}}
	if err := r.Validate(); err != nil {
		t.Error(err)
	}

	one := reports.Case{Name: "one"}
	fillCase(&one, []*caseData{virtual})
	if one.Clock != "virtual" || one.Runs != nil || one.Timeline[0].At != 1.2 || one.Family != "agreement" {
		t.Errorf("one run: %+v", one)
	}

	skipped := reports.Case{Name: "s", Labels: []string{"seed", "glare", "go-go"}, Verdict: reports.Skipped}
	fillCase(&skipped, nil)
	if skipped.Family != "seed" {
		t.Errorf("skipped seed spec: family %q", skipped.Family)
	}
}

// TestRecordProblems: a record must carry its spec's family and a pair
// run.json documents; the netem specs recorded no family at all.
func TestRecordProblems(t *testing.T) {
	netem := []string{"netem", "udp"}
	for _, c := range []struct {
		d       caseData
		labels  []string
		earlier []*caseData
		want    string
	}{
		{caseData{Family: "netem"}, netem, nil, ""},
		{caseData{}, netem, nil, `recorded family "", the spec's family label is "netem"`},
		{caseData{Family: "mesh", Pair: "mixed"}, []string{"mesh"}, nil, ""},
		{caseData{Family: "mesh", Pair: "all"}, []string{"mesh"}, nil, `recorded pair "all", want one of`},
		{caseData{Family: "seed", Pair: "go-go"}, []string{"seed", "glare"}, nil, ""},
		{caseData{Family: "agreement", Pair: "go-go", Clock: "real"}, []string{"agreement"}, []*caseData{{Family: "agreement", Pair: "go-go", Clock: "virtual"}}, ""},
		{caseData{Family: "agreement", Pair: "go-go", Profile: "b"}, []string{"agreement"}, []*caseData{{Family: "agreement", Pair: "go-go", Profile: "a"}},
			"a second lab run in another cell of the matrix"},
	} {
		got := strings.Join(recordProblems(&c.d, c.labels, c.earlier), "; ")
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%+v %q: got %q, want %q", c.d, c.labels, got, c.want)
		}
	}
}

// TestLastLines: "its last 300 lines" showed 299 when the log ended with
// a newline (the empty string after it counted as a line).
func TestLastLines(t *testing.T) {
	var b strings.Builder
	for i := range 400 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	text := b.String()
	for _, c := range []struct {
		text        string
		n, want     int
		first, last string
	}{
		{text, 300, 300, "line 100", "line 399\n"},
		{strings.TrimSuffix(text, "\n"), 300, 300, "line 100", "line 399"},
		{"a\nb\n", 300, 2, "a", "b\n"},
		{"", 300, 0, "", ""},
	} {
		tail, n := lastLines(c.text, c.n)
		if n != c.want || strings.Count(tail, "\n")+boolInt(!strings.HasSuffix(tail, "\n") && tail != "") != c.want ||
			!strings.HasPrefix(tail, c.first) || !strings.HasSuffix(tail, c.last) {
			t.Errorf("%d lines: got %d lines, %q...", strings.Count(c.text, "\n"), n, tail[:min(len(tail), 20)])
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
