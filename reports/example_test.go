package reports_test

import (
	"fmt"
	"os"

	"github.com/netlab/netlab/reports"
)

// A family computes its table once per run and adds it to the run; the
// Markdown summary prints it as is.
func ExampleNewTable() {
	tb, err := reports.NewTable("reliability", "Reliability modes", "mode", "delivered", "in order")
	if err != nil {
		panic(err)
	}
	_ = tb.AddRow("reliable, ordered", "1000/1000", "yes")
	_ = tb.AddRow("unreliable, maxRetransmits=0", "941/1000", "no")
	if err := tb.AddRow("too", "short"); err != nil {
		fmt.Println(err)
	}
	tb.Notes = []string{"wifi-lossy profile, seed 7"}

	run := &reports.Run{Schema: reports.SchemaVersion}
	if err := run.AddTable(tb); err != nil {
		panic(err)
	}
	if err := run.Table("reliability").Markdown(os.Stdout); err != nil {
		panic(err)
	}
	// Output:
	// bad table: table "reliability": row 2 has 2 cells, want 3 (mode, delivered, in order)
	// ### Reliability modes
	//
	// | mode | delivered | in order |
	// | --- | --- | --- |
	// | reliable, ordered | 1000/1000 | yes |
	// | unreliable, maxRetransmits=0 | 941/1000 | no |
	//
	// - wifi-lossy profile, seed 7
}

// Events are recorded as they happen and sorted once; ties keep their
// recorded order.
func ExampleSortTimeline() {
	tl := []reports.Event{
		{At: 1.5, Source: "link:a", Kind: "restore"},
		{At: 0.5, Source: "link:a", Kind: "cut"},
		{At: 1.5, Source: "a", Kind: "ice-state", Detail: "connected"},
	}
	reports.SortTimeline(tl)
	for _, e := range tl {
		fmt.Printf("%.1f %s %s %q\n", e.At, e.Source, e.Kind, e.Detail)
	}
	// Output:
	// 0.5 link:a cut ""
	// 1.5 link:a restore ""
	// 1.5 a ice-state "connected"
}
