package reports

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRunRoundTrip(t *testing.T) {
	r := &Run{Schema: SchemaVersion, Tool: "netlab", Seed: 7, Started: time.Unix(100, 0).UTC(),
		Cases: []Case{{Name: "a", Verdict: Passed, Reproduce: "go test ./scenarios", Metrics: map[string]float64{"loss": 0.1},
			Ledgers: []Ledger{{Point: "p", Direction: "up", Packets: 3, SHA256: "ab"}}}}}
	path := filepath.Join(t.TempDir(), "out", "run.json")
	if err := r.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seed != 7 || len(got.Cases) != 1 || got.Cases[0].Ledgers[0].SHA256 != "ab" {
		t.Errorf("round trip: %+v", got)
	}
}

func TestReadRejects(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`{"schema": 1, "cases": [`, "truncated"},
		{`{"schema": 1, "bogus": 2}`, `unknown field "bogus"`},
		{`{"schema": "one"}`, "field schema: want int, got string"},
		{`{"schema": 99}`, "schema 99, this netlab reads 1-1"},
		{`{"schema": 1,}`, "byte 14"},
	} {
		_, err := Read("run.json", strings.NewReader(c.src))
		if !errors.Is(err, ErrBadRun) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want ErrBadRun containing %q", c.src, err, c.want)
		}
	}
}
