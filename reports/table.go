package reports

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Table is a named result table that a family computes once per run: who
// needs TURN, the reliability table, the performance table. Cells are
// text, formatted by whoever fills the table, so renderers need not guess
// units or precision.
type Table struct {
	Name    string     `json:"name"`            // stable identifier, unique in a run ("who-needs-turn"); compare matches on it
	Title   string     `json:"title,omitempty"` // heading for humans
	Columns []string   `json:"columns"`         // column headings
	Rows    [][]string `json:"rows"`            // each exactly len(Columns) cells
	Notes   []string   `json:"notes,omitempty"` // lines printed under the table: units, what a cell means, caveats
}

// NewTable starts an empty table. It fails (ErrBadTable) without a name or
// without columns.
func NewTable(name, title string, columns ...string) (*Table, error) {
	t := &Table{Name: name, Title: title, Columns: slices.Clone(columns), Rows: [][]string{}}
	if err := t.checkHead(); err != nil {
		return nil, err
	}
	return t, nil
}

// AddRow appends one row. It fails (ErrBadTable), leaving the table as it
// was, when the row does not have one cell per column.
func (t *Table) AddRow(cells ...string) error {
	if len(cells) != len(t.Columns) {
		return fmt.Errorf("%w: table %q: row %d has %d cells, want %d (%s)",
			ErrBadTable, t.Name, len(t.Rows), len(cells), len(t.Columns), strings.Join(t.Columns, ", "))
	}
	t.Rows = append(t.Rows, slices.Clone(cells))
	return nil
}

// AddTable appends a copy of t to the run's tables. It fails (ErrBadTable)
// when t is malformed or its name is already taken.
func (r *Run) AddTable(t *Table) error {
	if err := t.check(); err != nil {
		return err
	}
	if r.Table(t.Name) != nil {
		return fmt.Errorf("%w: table %q already in the run", ErrBadTable, t.Name)
	}
	c := Table{Name: t.Name, Title: t.Title, Columns: slices.Clone(t.Columns), Notes: slices.Clone(t.Notes),
		Rows: make([][]string, len(t.Rows))}
	for i, row := range t.Rows {
		c.Rows[i] = slices.Clone(row)
	}
	r.Tables = append(r.Tables, c)
	return nil
}

// Table returns the run's table with that name, or nil.
func (r *Run) Table(name string) *Table {
	for i := range r.Tables {
		if r.Tables[i].Name == name {
			return &r.Tables[i]
		}
	}
	return nil
}

// Markdown writes the table as a Markdown (GFM) table: heading, table,
// notes. Cells are escaped so that a "|" or a newline cannot break it.
func (t *Table) Markdown(w io.Writer) error {
	if err := t.check(); err != nil {
		return err
	}
	var b bytes.Buffer
	t.markdown(&b, "###")
	_, err := w.Write(b.Bytes())
	return err
}

func (t *Table) markdown(b *bytes.Buffer, heading string) {
	title := t.Title
	if title == "" {
		title = t.Name
	}
	fmt.Fprintf(b, "%s %s\n\n", heading, text(title))
	row := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + cell(c) + " |")
		}
		b.WriteString("\n")
	}
	row(t.Columns)
	b.WriteString("|")
	for range t.Columns {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		row(r)
	}
	if len(t.Rows) == 0 {
		b.WriteString("\n(no rows)\n")
	}
	if len(t.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range t.Notes {
			fmt.Fprintf(b, "- %s\n", text(n))
		}
	}
	b.WriteString("\n")
}

func (t *Table) checkHead() error {
	switch {
	case t.Name == "":
		return fmt.Errorf("%w: no name", ErrBadTable)
	case strings.TrimSpace(t.Name) != t.Name || strings.ContainsAny(t.Name, "\n\r\t"):
		return fmt.Errorf("%w: name %q has surrounding or control whitespace", ErrBadTable, t.Name)
	case len(t.Columns) == 0:
		return fmt.Errorf("%w: table %q: no columns", ErrBadTable, t.Name)
	}
	return nil
}

func (t *Table) check() error {
	if err := t.checkHead(); err != nil {
		return err
	}
	for i, r := range t.Rows {
		if len(r) != len(t.Columns) {
			return fmt.Errorf("%w: table %q: row %d has %d cells, want %d (%s)",
				ErrBadTable, t.Name, i, len(r), len(t.Columns), strings.Join(t.Columns, ", "))
		}
	}
	return nil
}
