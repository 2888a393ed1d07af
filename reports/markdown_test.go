package reports

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// mdRun is small but has every part the summary renders.
func mdRun(t *testing.T) *Run {
	t.Helper()
	r := &Run{Schema: SchemaVersion, Tool: "netlab", Command: "go test ./scenarios -args -netlab.seed=7",
		Environment: Environment{GoVersion: "go1.26.8", OS: "linux", Arch: "amd64", CPUs: 2, Netns: "unshare -n",
			Modules: map[string]string{"github.com/pion/webrtc/v4": "v4.2.1", "github.com/onsi/ginkgo/v2": "v2.34.0"}},
		Seed: 7, Started: time.Date(2026, 11, 21, 23, 32, 4, 5e8, time.UTC), Duration: 1.234, Passed: 1, Failed: 2, Skipped: 1,
		JUnit: "junit.xml",
		Cases: []Case{
			{Name: "nat direct", Family: "nat", Verdict: Passed, Reproduce: "go test -run a"},
			{Name: "glare *both* offer", Family: "glare", Pair: "go-go", Transport: "ws", NATs: []string{"symmetric", "none"},
				Clock: ClockVirtual, Verdict: Failed, Failure: "Expected\n    <bool>: false\nto be true",
				Location: "scenarios/glare_test.go:42", Metrics: map[string]float64{"rounds": 3, "glare_ms": 12.5},
				Timeline: []Event{
					{At: 0.25, Source: "b", Kind: "peer-state", Detail: "failed"},
					{At: 0, Source: "lab", Kind: "phase", Detail: "offer | offer"},
				},
				Reproduce: "go test ./scenarios -args -ginkgo.focus='^glare$' -netlab.seed=7"},
			{Name: "agree", Family: "agreement", Pair: "go-go", Verdict: Failed, Failure: "state sequences differ", Reproduce: "go test -run c",
				Runs: []LabRun{
					{Clock: ClockVirtual, Outcome: "ok", Metrics: map[string]float64{"wall_s": 0.5},
						Timeline: []Event{{At: 1.2, Source: "alice", Kind: "state", Detail: "ice=connected"}}},
					{Clock: ClockReal, Outcome: "alice: connection failed"},
				}},
			{Name: "not run", Verdict: Skipped, Reproduce: "go test -run d"},
		}}
	tb, err := NewTable("who-needs-turn", "Who needs TURN", "offerer \\ answerer", "none", "symmetric")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range [][]string{{"none", "direct", "direct"}, {"symmetric", "direct", "relay"}} {
		if err := tb.AddRow(row...); err != nil {
			t.Fatal(err)
		}
	}
	tb.Notes = []string{"relay: connected only through TURN"}
	if err := r.AddTable(tb); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMarkdownGolden(t *testing.T) {
	want := strings.Join([]string{
		"# netlab run",
		"",
		"**Failed**: 1 passed, 2 failed, 1 skipped of 4 cases; seed 7; 1.23 s.",
		"",
		"- Started: 2026-11-21T23:32:04Z",
		"- Command: `go test ./scenarios -args -netlab.seed=7`",
		"- JUnit: `junit.xml`",
		"- Schema: 3",
		"",
		"## Environment",
		"",
		"- Go: go1.26.8 on linux/amd64, 2 CPUs",
		"- Network: unshare -n",
		"",
		"| Module | Version |",
		"| --- | --- |",
		"| github.com/onsi/ginkgo/v2 | v2.34.0 |",
		"| github.com/pion/webrtc/v4 | v4.2.1 |",
		"",
		"## By family",
		"",
		"| Family | Passed | Failed | Skipped |",
		"| --- | --- | --- | --- |",
		"| (no family recorded) | 0 | 0 | 1 |",
		"| agreement | 0 | 1 | 0 |",
		"| glare | 0 | 1 | 0 |",
		"| nat | 1 | 0 | 0 |",
		"",
		"## Failed cases",
		"",
		`### 1. glare \*both\* offer`,
		"",
		"- Family: glare; Pair: go-go; Transport: ws; NATs: symmetric, none; Clock: virtual",
		"- At: `scenarios/glare_test.go:42`",
		"- Metrics: `glare_ms=12.5 rounds=3`",
		"",
		"```text",
		"Expected",
		"    <bool>: false",
		"to be true",
		"```",
		"",
		"Reproduce:",
		"",
		"```sh",
		"go test ./scenarios -args -ginkgo.focus='^glare$' -netlab.seed=7",
		"```",
		"",
		"Timeline (2 events, virtual clock):",
		"",
		"| At (s) | Source | Kind | Detail |",
		"| --- | --- | --- | --- |",
		`| 0.000 | lab | phase | offer \| offer |`,
		"| 0.250 | b | peer-state | failed |",
		"",
		"### 2. agree",
		"",
		"- Family: agreement; Pair: go-go; Clocks: virtual, then real",
		"",
		"```text",
		"state sequences differ",
		"```",
		"",
		"Reproduce:",
		"",
		"```sh",
		"go test -run c",
		"```",
		"",
		"Run 1 of 2: virtual clock, outcome: ok. Metrics: `wall_s=0.5`",
		"",
		"Run 1 timeline (1 events, virtual clock):",
		"",
		"| At (s) | Source | Kind | Detail |",
		"| --- | --- | --- | --- |",
		"| 1.200 | alice | state | ice=connected |",
		"",
		"Run 2 of 2: real clock, outcome: alice: connection failed.",
		"",
		"## Tables",
		"",
		"### Who needs TURN",
		"",
		`| offerer \\ answerer | none | symmetric |`,
		"| --- | --- | --- |",
		"| none | direct | direct |",
		"| symmetric | direct | relay |",
		"",
		"- relay: connected only through TURN",
		"",
		"",
	}, "\n")
	r := mdRun(t)
	var b strings.Builder
	if err := r.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("Markdown differs from the golden text.\n--- got\n%s\n--- want\n%s", got, want)
	}
	// Deterministic: maps are iterated in a new order each time, the text
	// must not change.
	for range 20 {
		var again strings.Builder
		if err := r.Markdown(&again); err != nil {
			t.Fatal(err)
		}
		if again.String() != b.String() {
			t.Fatal("two renderings of one run differ")
		}
	}
	// Rendering sorts a copy of the timeline, not the run's.
	if r.Cases[1].Timeline[0].At != 0.25 {
		t.Error("Markdown reordered the run's timeline")
	}
}

func TestMarkdownAllPassed(t *testing.T) {
	r := &Run{Schema: 1, Passed: 1, Cases: []Case{{Name: "a", Verdict: Passed}}}
	var b strings.Builder
	if err := r.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	if !strings.Contains(got, "**Passed**: 1 passed, 0 failed, 0 skipped of 1 cases; seed 0; 0.00 s.") {
		t.Errorf("summary line missing:\n%s", got)
	}
	for _, absent := range []string{"## Failed cases", "## Tables", "## By family", "Started:", "Command:", "| Module |"} {
		if strings.Contains(got, absent) {
			t.Errorf("run without it renders %q:\n%s", absent, got)
		}
	}
}

func TestMarkdownTimelineTail(t *testing.T) {
	c := Case{Name: "soak", Verdict: Failed, Clock: ClockReal, Reproduce: "x"}
	for i := range maxTimelineRows + 5 {
		c.Timeline = append(c.Timeline, Event{At: float64(i), Source: "a", Kind: "heartbeat-timeout", Detail: fmt.Sprint("beat ", i)})
	}
	r := &Run{Schema: SchemaVersion, Failed: 1, Cases: []Case{c}}
	var b strings.Builder
	if err := r.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	if !strings.Contains(got, fmt.Sprintf("Timeline (last %d of %d events, real clock):", maxTimelineRows, maxTimelineRows+5)) {
		t.Errorf("no tail heading:\n%s", got)
	}
	if strings.Contains(got, "| beat 4 |") || !strings.Contains(got, "| beat 5 |") || !strings.Contains(got, fmt.Sprintf("| beat %d |", maxTimelineRows+4)) {
		t.Errorf("tail is not the last %d events:\n%s", maxTimelineRows, got)
	}
}

func TestMarkdownFences(t *testing.T) {
	// A failure quoting a fenced block must not close ours early.
	c := Case{Name: "x", Verdict: Failed, Failure: "got:\n```\nfoo\n```", Reproduce: "echo `date`"}
	r := &Run{Schema: SchemaVersion, Failed: 1, Command: "`a`", Cases: []Case{c}}
	var b strings.Builder
	if err := r.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{"````text\ngot:\n```\nfoo\n```\n````\n", "```sh\necho `date`\n```\n", "- Command: `` `a` ``\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestMarkdownErrors(t *testing.T) {
	r := mdRun(t)
	if err := r.Markdown(failWriter{}); err == nil || err.Error() != "disk full" {
		t.Errorf("writer's error: got %v", err)
	}
	r.Tables[0].Rows[1] = r.Tables[0].Rows[1][:2]
	var b strings.Builder
	err := r.Markdown(&b)
	if !errors.Is(err, ErrBadRun) || !errors.Is(err, ErrBadTable) || !strings.Contains(err.Error(), `tables[0]: bad table: table "who-needs-turn": row 1 has 2 cells, want 3`) {
		t.Errorf("malformed run: got %v", err)
	}
	if b.Len() != 0 {
		t.Errorf("a malformed run was partly rendered:\n%s", b.String())
	}
}
