package reports

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzRead: whatever the bytes, Read returns a run or an ErrBadRun that
// names the file, never panics; and a run it accepts is one WriteFile
// writes and Read gives back unchanged (what compare and reproduce will
// rely on).
func FuzzRead(f *testing.F) {
	full, err := json.MarshalIndent(fullRun(f), "", "  ")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	f.Add([]byte(`{"schema": 1, "cases": [{"name": "x", "verdict": "passed", "metrics": {"a": 1e308}}]}`))
	f.Add([]byte(`{"schema": 2, "tables": [{"name": "t", "columns": ["a"], "rows": [["1"]]}]}`))
	f.Add([]byte(`{"schema": 4}`))
	f.Add([]byte(`{"schema": 3, "cases": [{"name": "x", "verdict": "passed", "runs": [{"clock": "real", "metrics": {}, "ledgers": [{"dropped_by": {}}]}]}]}`))
	f.Add([]byte(`{"SCHEMA": 3, "schema": 3, "schema": 2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Read("in.json", strings.NewReader(string(data)))
		if err != nil {
			if !errors.Is(err, ErrBadRun) || !strings.Contains(err.Error(), "in.json") {
				t.Fatalf("error %q does not wrap ErrBadRun and name the file", err)
			}
			return
		}
		path := filepath.Join(t.TempDir(), "run.json")
		if err := r.WriteFile(path); err != nil {
			t.Fatalf("Read accepted a run WriteFile refuses: %v", err)
		}
		again, err := ReadFile(path)
		if err != nil {
			t.Fatalf("a written run does not read back: %v", err)
		}
		if !reflect.DeepEqual(normal(r), normal(again)) {
			t.Fatalf("round trip changed the run:\n%+v\n%+v", r, again)
		}
	})
}

// normal makes empty and absent collections compare equal: omitempty
// writes neither, so a file's [] and {} read back as nil.
func normal(r *Run) *Run {
	c := *r
	c.Cases = nil
	for _, k := range r.Cases {
		if len(k.Labels) == 0 {
			k.Labels = nil
		}
		if len(k.NATs) == 0 {
			k.NATs = nil
		}
		if len(k.Metrics) == 0 {
			k.Metrics = nil
		}
		if len(k.Ledgers) == 0 {
			k.Ledgers = nil
		}
		if len(k.Timeline) == 0 {
			k.Timeline = nil
		}
		k.Ledgers = normalLedgers(k.Ledgers)
		var runs []LabRun
		for _, lr := range k.Runs {
			if len(lr.Metrics) == 0 {
				lr.Metrics = nil
			}
			if len(lr.Timeline) == 0 {
				lr.Timeline = nil
			}
			lr.Ledgers = normalLedgers(lr.Ledgers)
			runs = append(runs, lr)
		}
		k.Runs = runs
		c.Cases = append(c.Cases, k)
	}
	if len(c.Tables) == 0 {
		c.Tables = nil
	}
	var tables []Table
	for _, tb := range c.Tables {
		if len(tb.Notes) == 0 {
			tb.Notes = nil
		}
		tables = append(tables, tb)
	}
	c.Tables = tables
	if len(c.Environment.Modules) == 0 {
		c.Environment.Modules = nil
	}
	return &c
}

func normalLedgers(ls []Ledger) []Ledger {
	var out []Ledger
	for _, l := range ls {
		if len(l.DroppedBy) == 0 {
			l.DroppedBy = nil
		}
		out = append(out, l)
	}
	return out
}
