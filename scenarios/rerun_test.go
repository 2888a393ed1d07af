package scenarios

import (
	"flag"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
)

// How a run is told again: the command that reruns one case, and the
// command line of the whole run, both for a POSIX shell at the module
// root.

// raceEnabled says whether the suite was built with -race (race_test.go).
var raceEnabled bool

// netnsWrapper is the -exec wrapper of the Makefile's run target, from
// the module root: go test runs it from the package directory, so it must
// be absolute, and "$PWD" makes it so where the command is pasted.
const netnsWrapper = `"$PWD"/scripts/loopback-only`

// suiteDescription is the suite's name in RunSpecs. Ginkgo matches a
// -ginkgo.focus regexp against it, a space, and the spec's full text.
const suiteDescription = "netlab scenarios"

// reproduce is the command that reruns the spec of r with this run's seed
// and with every flag of the suite that changes what a case does, the way
// the Makefile runs the suite. A spec in an Ordered container cannot run
// alone (its specs share a BeforeAll, as perf's matrix, or each needs the
// one before, as the killed browser's): its command reruns the whole
// container, and says so in a comment after it.
func reproduce(r SpecReport) string {
	sel, note := reproduceSelection(r)
	cmd := rerunCommand(sel)
	if note != "" {
		cmd += "  # " + note
	}
	return cmd
}

// reproduceSelection is the -ginkgo flags that select the spec of r, or its
// Ordered container, and a note when it is the container. The container
// is the outermost one: every Ordered container of this suite is at the
// top (TestReproduceOrdered checks each selects its own specs).
func reproduceSelection(r SpecReport) (args []string, note string) {
	if !r.IsInOrderedContainer || len(r.ContainerHierarchyTexts) == 0 {
		return []string{flagArg("-ginkgo.focus", reproduceFocus(r.FullText()))}, ""
	}
	text, loc := r.ContainerHierarchyTexts[0], r.ContainerHierarchyLocations[0]
	return []string{
			flagArg("-ginkgo.focus", containerFocus(text)),
			// The text alone would also select a container whose text
			// starts with this one's ("perf with Chrome" for "perf").
			flagArg("-ginkgo.focus-file", fileFocus(loc)),
		}, fmt.Sprintf("reruns the whole Ordered container %q (%s:%d): its specs cannot run alone",
			text, filepath.Base(loc.FileName), loc.LineNumber)
}

// reproduceFocus is the -ginkgo.focus that selects exactly the spec with
// this full text. The anchors must cover the suite's description, which
// Ginkgo puts in front of the text it matches.
func reproduceFocus(fullText string) string {
	return "^" + regexp.QuoteMeta(suiteDescription+" "+fullText) + "$"
}

// containerFocus selects every spec of a top-level container.
func containerFocus(text string) string {
	return "^" + regexp.QuoteMeta(suiteDescription+" "+text+" ")
}

// fileFocus is the -ginkgo.focus-file that selects the specs of the
// container at loc: Ginkgo matches it against the location of every node
// of a spec, containers included.
func fileFocus(loc types.CodeLocation) string {
	return "(^|/)" + regexp.QuoteMeta(filepath.Base(loc.FileName)) + "$:" + strconv.Itoa(loc.LineNumber)
}

// rerunCommand is the Makefile's way to run the suite (make run: -count=1,
// -timeout 30m, the loopback-only wrapper; -race when this binary has
// it), selecting with sel, with this run's seed and the suite's flags that
// change a case: -netlab.realtime and -netlab.pionlog when set.
// -netlab.out is left out: a rerun would overwrite the run's report.
func rerunCommand(sel []string) string {
	words := []string{"go", "test"}
	if raceEnabled {
		words = append(words, "-race")
	}
	words = append(words, "-count=1", "-timeout", "30m", "-exec", netnsWrapper, "./scenarios", "-run", "TestScenarios", "-args")
	words = append(words, sel...)
	words = append(words, fmt.Sprintf("-netlab.seed=%d", *seed))
	if *realTime {
		words = append(words, "-netlab.realtime")
	}
	if *pionLog != "" {
		words = append(words, flagArg("-netlab.pionlog", *pionLog))
	}
	return strings.Join(words, " ")
}

// flagArg is name=value, the value quoted for the shell where it must be.
func flagArg(name, value string) string { return name + "=" + shellWord(value) }

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellSafe is what a shell word may hold unquoted.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellWord is s as one shell word: as it is when that is safe, quoted
// otherwise.
func shellWord(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return shellQuote(s)
}

// internalTestFlags are the -test.* flags that go test adds for its own
// use: a command that passed them again would be refused or misread.
var internalTestFlags = []string{"paniconexit0", "testlogfile", "gocoverdir", "fuzzcachedir", "fuzzworker"}

// runCommand is the go test command line that gives this test binary args:
// go test's own flags (which reach the binary as -test.*) back in go
// test's words before the package, go test's internal ones dropped, -race
// and the loopback-only wrapper when the run had them, and every other
// argument after -args, each quoted for the shell.
func runCommand(args []string, race, netns bool) string {
	words := []string{"go", "test"}
	if race {
		words = append(words, "-race")
	}
	if netns {
		words = append(words, "-exec", netnsWrapper)
	}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		test, ok := strings.CutPrefix(name, "test.")
		if !ok || !strings.HasPrefix(a, "-") {
			rest = append(rest, shellWord(a))
			continue
		}
		if !hasValue && !isBoolFlag(name) && i+1 < len(args) {
			i++ // -test.run X, as a binary run by hand is given it
			value, hasValue = args[i], true
		}
		switch {
		case slices.Contains(internalTestFlags, test):
		case test == "v" && value == "test2json":
			words = append(words, "-json")
		case hasValue:
			words = append(words, flagArg("-"+test, value))
		default:
			words = append(words, "-"+test)
		}
	}
	words = append(words, "./scenarios")
	if len(rest) > 0 {
		words = append(append(words, "-args"), rest...)
	}
	return strings.Join(words, " ")
}

// isBoolFlag says whether the binary's flag name takes no value.
func isBoolFlag(name string) bool {
	f := flag.Lookup(name)
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// junitRecord is the JUnit path for run.json: relative to the run's
// directory out when it is inside it, absolute otherwise, "" for none.
// Relative paths are the binary's, relative to its directory cwd.
func junitRecord(junit, out, cwd string) string {
	if junit == "" {
		return ""
	}
	abs := func(p string) string {
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		return filepath.Clean(p)
	}
	j := abs(junit)
	if rel, err := filepath.Rel(abs(out), j); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		return rel
	}
	return j
}

// families are the family labels (README, "Writing a scenario"); a
// seed spec also carries the label of the family it touches (seeds 17-18
// carry glare), and is of the seed family.
var families = []string{"seed", "nat", "glare", "heartbeat", "reconnect", "reliability", "perf", "agreement", "netem", "chrome", "mesh"}

// familyOf is the family that a spec's labels name, "" for none.
func familyOf(labels []string) string {
	for _, f := range families {
		if slices.Contains(labels, f) {
			return f
		}
	}
	return ""
}

// pairs are the values a case's Pair may take (reports.Case): "" for a
// case without endpoints.
var pairs = []string{"", "go-go", "go-chrome", "chrome-chrome", "mixed"}
