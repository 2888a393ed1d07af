package scenarios

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"
)

// TestReproduceSelectsExactlyItsSpec checks the command every failure
// prints: its focus must select that spec and no other, in the real
// Ginkgo, or a user rerunning a failure sees "0 of 469 specs, SUCCESS".
// The suite is run in dry-run mode (no spec body runs) to list the specs.
func TestReproduceSelectsExactlyItsSpec(t *testing.T) {
	dir := t.TempDir()
	var texts []string
	for _, sr := range dryRunSpecs(t, dir) {
		texts = append(texts, sr.FullText())
	}
	if len(texts) < 100 {
		t.Fatalf("the dry run listed %d specs; the suite has hundreds", len(texts))
	}

	// Every spec's focus matches it alone, matched as Ginkgo matches.
	var hard []string // texts with characters a regexp or a shell treats specially
	for _, text := range texts {
		re := regexp.MustCompile(reproduceFocus(text))
		n := 0
		for _, other := range texts {
			if re.MatchString(suiteDescription + " " + other) {
				n++
			}
		}
		if n != 1 || !re.MatchString(suiteDescription+" "+text) {
			t.Errorf("the focus of %q selects %d specs, want it alone", text, n)
		}
		if strings.ContainsAny(text, `%()[]*+?.'`) {
			hard = append(hard, text)
		}
	}

	// The real Ginkgo, through the shell quoting of the printed command,
	// on a few of the hardest texts.
	if len(hard) == 0 {
		t.Fatal("no spec text with special characters to try")
	}
	for _, text := range []string{hard[0], hard[len(hard)/2], hard[len(hard)-1]} {
		focus := reproduceFocus(text)
		got, err := exec.Command("sh", "-c", "printf %s "+shellQuote(focus)).Output()
		if err != nil || string(got) != focus {
			t.Errorf("shell quoting of %q gives %q (%v)", focus, got, err)
			continue
		}
		out := dryRun(t, dir, "-ginkgo.focus="+focus)
		if !regexp.MustCompile(`Will run 1 of \d+ specs`).MatchString(out) {
			t.Errorf("-ginkgo.focus=%s: want exactly 1 spec to run; the suite said:\n%s", focus, out)
		}
	}
}

// dryRunSpecs lists the suite's specs (It nodes), from a dry run.
func dryRunSpecs(t *testing.T, dir string) []types.SpecReport {
	t.Helper()
	report := filepath.Join(dir, "specs.json")
	dryRun(t, dir, "-ginkgo.json-report="+report)
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var suites []types.Report
	if err := json.Unmarshal(b, &suites); err != nil {
		t.Fatalf("%s: %v", report, err)
	}
	var specs []types.SpecReport
	for _, s := range suites {
		for _, sr := range s.SpecReports {
			if sr.LeafNodeType == types.NodeTypeIt {
				specs = append(specs, sr)
			}
		}
	}
	return specs
}

// dryRun runs this test binary's suite without running any spec body.
func dryRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{
		"-test.run=^TestScenarios$", "-ginkgo.dry-run", "-ginkgo.no-color",
		"-netlab.out=" + filepath.Join(dir, "out"),
	}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return string(out)
}
