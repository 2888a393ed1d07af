package reports

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxTimelineRows bounds the timeline shown for a failed case: the end of
// the timeline is where a failure usually is, and run.json has the rest.
const maxTimelineRows = 30

// Markdown writes a summary of the run for a CI job page: counts, seed,
// command and environment, cases by family, each failed case with its
// failure, reproduce command and the end of its timeline (of each of its
// runs, for a case that ran its lab more than once), and every table.
// The output depends only on r (maps are sorted), so two renderings of one
// run are byte-identical. A run that Validate rejects is not rendered.
func (r *Run) Markdown(w io.Writer) error {
	if err := r.Validate(); err != nil {
		return err
	}
	var b bytes.Buffer
	r.mdSummary(&b)
	r.mdEnvironment(&b)
	r.mdFamilies(&b)
	r.mdFailed(&b)
	if len(r.Tables) > 0 {
		b.WriteString("## Tables\n\n")
		for i := range r.Tables {
			r.Tables[i].markdown(&b, "###")
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

func (r *Run) mdSummary(b *bytes.Buffer) {
	tool := r.Tool
	if tool == "" {
		tool = "netlab"
	}
	fmt.Fprintf(b, "# %s run\n\n", text(tool))
	verdict := "**Passed**"
	if r.Failed > 0 {
		verdict = "**Failed**"
	} else if r.Passed == 0 {
		verdict = "**Nothing passed**"
	}
	fmt.Fprintf(b, "%s: %d passed, %d failed, %d skipped of %d cases; seed %d; %s s.\n\n",
		verdict, r.Passed, r.Failed, r.Skipped, len(r.Cases), r.Seed, seconds(r.Duration))
	if !r.Started.IsZero() {
		fmt.Fprintf(b, "- Started: %s\n", r.Started.UTC().Format(time.RFC3339))
	}
	if r.Command != "" {
		fmt.Fprintf(b, "- Command: %s\n", code(r.Command))
	}
	if r.JUnit != "" {
		fmt.Fprintf(b, "- JUnit: %s\n", code(r.JUnit))
	}
	fmt.Fprintf(b, "- Schema: %d\n\n", r.Schema)
}

func (r *Run) mdEnvironment(b *bytes.Buffer) {
	e := r.Environment
	b.WriteString("## Environment\n\n")
	fmt.Fprintf(b, "- Go: %s on %s/%s, %d CPUs\n", text(e.GoVersion), text(e.OS), text(e.Arch), e.CPUs)
	if e.Netns != "" {
		fmt.Fprintf(b, "- Network: %s\n", text(e.Netns))
	}
	b.WriteString("\n")
	if len(e.Modules) > 0 {
		b.WriteString("| Module | Version |\n| --- | --- |\n")
		for _, m := range slices.Sorted(maps.Keys(e.Modules)) {
			fmt.Fprintf(b, "| %s | %s |\n", cell(m), cell(e.Modules[m]))
		}
		b.WriteString("\n")
	}
}

// noFamily is the row of the cases that recorded no family.
const noFamily = "(no family recorded)"

// mdFamilies counts verdicts per family; cases without one are counted
// under noFamily.
func (r *Run) mdFamilies(b *bytes.Buffer) {
	type count struct{ passed, failed, skipped int }
	counts := map[string]*count{}
	named := false
	for _, c := range r.Cases {
		f := c.Family
		if f != "" {
			named = true
		} else {
			f = noFamily
		}
		n := counts[f]
		if n == nil {
			n = &count{}
			counts[f] = n
		}
		switch c.Verdict {
		case Passed:
			n.passed++
		case Failed:
			n.failed++
		case Skipped:
			n.skipped++
		}
	}
	if !named {
		return
	}
	b.WriteString("## By family\n\n| Family | Passed | Failed | Skipped |\n| --- | --- | --- | --- |\n")
	for _, f := range slices.Sorted(maps.Keys(counts)) {
		n := counts[f]
		fmt.Fprintf(b, "| %s | %d | %d | %d |\n", cell(f), n.passed, n.failed, n.skipped)
	}
	b.WriteString("\n")
}

func (r *Run) mdFailed(b *bytes.Buffer) {
	if !slices.ContainsFunc(r.Cases, func(c Case) bool { return c.Verdict == Failed }) {
		return
	}
	b.WriteString("## Failed cases\n\n")
	n := 0
	for i := range r.Cases {
		c := &r.Cases[i]
		if c.Verdict != Failed {
			continue
		}
		n++
		fmt.Fprintf(b, "### %d. %s\n\n", n, text(c.Name))
		if cell := c.matrix(); cell != "" {
			fmt.Fprintf(b, "- %s\n", cell)
		}
		if c.Location != "" {
			fmt.Fprintf(b, "- At: %s\n", code(c.Location))
		}
		if len(c.Metrics) > 0 {
			fmt.Fprintf(b, "- Metrics: %s\n", metricList(c.Metrics))
		}
		b.WriteString("\n")
		if c.Failure != "" {
			b.WriteString(fenced("text", c.Failure))
		}
		b.WriteString("Reproduce:\n\n")
		b.WriteString(fenced("sh", c.Reproduce))
		mdTimeline(b, "Timeline", c.Clock, c.Timeline)
		for j, lr := range c.Runs {
			fmt.Fprintf(b, "Run %d of %d: %s clock", j+1, len(c.Runs), text(lr.Clock))
			if lr.Outcome != "" {
				fmt.Fprintf(b, ", outcome: %s", text(lr.Outcome))
			}
			b.WriteString(".")
			if len(lr.Metrics) > 0 {
				fmt.Fprintf(b, " Metrics: %s", metricList(lr.Metrics))
			}
			b.WriteString("\n\n")
			mdTimeline(b, fmt.Sprintf("Run %d timeline", j+1), lr.Clock, lr.Timeline)
		}
	}
}

// metricList is metrics as one code span, sorted by name.
func metricList(m map[string]float64) string {
	var ms []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		ms = append(ms, k+"="+strconv.FormatFloat(m[k], 'g', -1, 64))
	}
	return code(strings.Join(ms, " "))
}

// matrix is the case's cell of the matrix in one line: family, pair, ...
func (c *Case) matrix() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+": "+text(v))
		}
	}
	add("Family", c.Family)
	add("Pair", c.Pair)
	add("Transport", c.Transport)
	add("NATs", strings.Join(c.NATs, ", "))
	add("Clock", c.Clock)
	if len(c.Runs) > 0 {
		clocks := make([]string, len(c.Runs))
		for i, r := range c.Runs {
			clocks[i] = r.Clock
		}
		add("Clocks", strings.Join(clocks, ", then "))
	}
	add("Profile", c.Profile)
	return strings.Join(parts, "; ")
}

// mdTimeline writes the end of a timeline on clock under a heading.
func mdTimeline(b *bytes.Buffer, heading, clock string, timeline []Event) {
	if len(timeline) == 0 {
		return
	}
	events := slices.Clone(timeline)
	SortTimeline(events)
	if clock != "" {
		clock = ", " + text(clock) + " clock"
	}
	if len(events) > maxTimelineRows {
		fmt.Fprintf(b, "%s (last %d of %d events%s):\n\n", heading, maxTimelineRows, len(events), clock)
		events = events[len(events)-maxTimelineRows:]
	} else {
		fmt.Fprintf(b, "%s (%d events%s):\n\n", heading, len(events), clock)
	}
	b.WriteString("| At (s) | Source | Kind | Detail |\n| --- | --- | --- | --- |\n")
	for _, e := range events {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", strconv.FormatFloat(e.At, 'f', 3, 64), cell(e.Source), cell(e.Kind), cell(e.Detail))
	}
	b.WriteString("\n")
}

func seconds(s float64) string { return strconv.FormatFloat(s, 'f', 2, 64) }

// mdSpecial is what text escapes: enough that a name cannot open a link,
// an HTML tag, emphasis, a code span or a table column.
var mdSpecial = strings.NewReplacer(`\`, `\\`, "`", "\\`", "*", `\*`, "[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`, "|", `\|`,
	"\r\n", " ", "\n", " ", "\r", " ")

// text makes s safe as one line of Markdown text.
func text(s string) string { return mdSpecial.Replace(s) }

// cell makes s safe as a table cell; line breaks become <br>.
func cell(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = text(l)
	}
	return strings.Join(lines, "<br>")
}

// code is s as an inline code span, with a backtick run longer than any in
// s (CommonMark's rule), so s is shown verbatim.
func code(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	ticks := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return ticks + s + ticks
}

// fenced is s as a fenced code block, with a fence longer than any
// backtick run in s.
func fenced(lang, s string) string {
	fence := strings.Repeat("`", max(3, longestRun(s, '`')+1))
	return fence + lang + "\n" + strings.TrimRight(s, "\n") + "\n" + fence + "\n\n"
}

func longestRun(s string, c byte) int {
	best, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}
