package reports

import (
	"errors"
	"strings"
	"testing"
)

func TestNewTableRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		cols []string
		want string
	}{
		{"", []string{"a"}, "bad table: no name"},
		{" perf", []string{"a"}, `name " perf" has surrounding`},
		{"perf", nil, `table "perf": no columns`},
	} {
		tb, err := NewTable(c.name, "", c.cols...)
		if tb != nil || !errors.Is(err, ErrBadTable) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewTable(%q, %q): got %v, %v; want ErrBadTable containing %q", c.name, c.cols, tb, err, c.want)
		}
	}
}

func TestAddRowChecksWidth(t *testing.T) {
	tb, err := NewTable("perf", "Performance", "pair", "p50_ms")
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.AddRow("go-go", "3.1"); err != nil {
		t.Fatal(err)
	}
	for _, cells := range [][]string{{"go-go"}, {"go-go", "3.1", "extra"}, nil} {
		err := tb.AddRow(cells...)
		want := `table "perf": row 1 has ` + string(rune('0'+len(cells))) + ` cells, want 2 (pair, p50_ms)`
		if !errors.Is(err, ErrBadTable) || !strings.Contains(err.Error(), want) {
			t.Errorf("AddRow(%q): got %v, want ErrBadTable containing %q", cells, err, want)
		}
	}
	if len(tb.Rows) != 1 {
		t.Errorf("refused rows were kept: %q", tb.Rows)
	}
}

func TestAddTable(t *testing.T) {
	cols := []string{"mode", "delivered"}
	tb, err := NewTable("reliability", "", cols...)
	if err != nil {
		t.Fatal(err)
	}
	cells := []string{"unordered", "100%"}
	if err := tb.AddRow(cells...); err != nil {
		t.Fatal(err)
	}
	r := &Run{Schema: SchemaVersion}
	if err := r.AddTable(tb); err != nil {
		t.Fatal(err)
	}
	// The run keeps its own copy: later changes by the caller do not leak in.
	cols[0], cells[0] = "changed", "changed"
	tb.Rows[0][1] = "changed"
	tb.Notes = append(tb.Notes, "changed")
	got := r.Table("reliability")
	if got == nil || got.Columns[0] != "mode" || got.Rows[0][0] != "unordered" || got.Rows[0][1] != "100%" || len(got.Notes) != 0 {
		t.Errorf("run's table changed with the caller's: %+v", got)
	}
	if r.Table("nope") != nil {
		t.Error("Table found a table that is not there")
	}
	if err := r.AddTable(tb); !errors.Is(err, ErrBadTable) || !strings.Contains(err.Error(), `"reliability" already in the run`) {
		t.Errorf("second AddTable of one name: %v", err)
	}
	tb2 := &Table{Name: "hand-made", Columns: []string{"a", "b"}, Rows: [][]string{{"1"}}}
	if err := r.AddTable(tb2); !errors.Is(err, ErrBadTable) || !strings.Contains(err.Error(), "row 0 has 1 cells, want 2") {
		t.Errorf("AddTable of a malformed table: %v", err)
	}
	if len(r.Tables) != 1 {
		t.Errorf("run has %d tables, want 1", len(r.Tables))
	}
}

func TestTableMarkdownEscapes(t *testing.T) {
	tb := &Table{Name: "t", Columns: []string{"a|b", "c"}, Rows: [][]string{{"x\ny", "`*[z]*`"}}, Notes: []string{"<b>n</b>"}}
	var b strings.Builder
	if err := tb.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	want := "### t\n\n| a\\|b | c |\n| --- | --- |\n| x<br>y | \\`\\*\\[z\\]\\*\\` |\n\n- \\<b\\>n\\</b\\>\n\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
	bad := &Table{Name: "t", Columns: []string{"a"}, Rows: [][]string{{}}}
	if err := bad.Markdown(&b); !errors.Is(err, ErrBadTable) {
		t.Errorf("malformed table rendered: %v", err)
	}
}
