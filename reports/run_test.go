package reports

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fullRun sets every field of schema 3, so a round trip or a truncation
// exercises all of them.
func fullRun(t testing.TB) *Run {
	t.Helper()
	r := &Run{Schema: SchemaVersion, Tool: "netlab", Command: "go test ./scenarios -args -netlab.seed=7",
		Environment: Environment{GoVersion: "go1.26.8", OS: "linux", Arch: "amd64", CPUs: 2,
			Modules: map[string]string{"github.com/pion/webrtc/v4": "v4.2.1"}, Netns: "unshare -n"},
		Seed: 7, Started: time.Unix(100, 0).UTC(), Duration: 1.5, Passed: 1, Failed: 1, JUnit: "junit.xml",
		Cases: []Case{
			{Name: "nat a", Labels: []string{"nat"}, Family: "nat", Pair: "go-go", Transport: "ws",
				NATs: []string{"symmetric", "full-cone"}, Clock: ClockVirtual, Verdict: Passed, Duration: 0.5,
				Profile: "wifi-lossy", Metrics: map[string]float64{"loss": 0.1},
				Ledgers:   []Ledger{{Point: "p", Direction: "up", Packets: 3, Delivered: 2, Dropped: 1, DroppedBy: map[string]uint64{"gilbert": 1}, SHA256: "ab"}},
				Timeline:  []Event{{At: 0, Source: "a", Kind: "ice-state", Detail: "checking"}, {At: 1.25, Source: "link:a", Kind: "cut"}},
				Reproduce: "go test ./scenarios -run x"},
			{Name: "glare b", Family: "glare", Clock: ClockReal, Verdict: Failed, Failure: "boom", Location: "glare_test.go:12",
				Reproduce: "go test ./scenarios -run y"},
			{Name: "agreement c", Family: "agreement", Pair: "go-go", Transport: "loopback", NATs: []string{"none", "none"},
				Verdict: Passed, Duration: 2, Metrics: map[string]float64{"late_ms": 3},
				Runs: []LabRun{
					{Clock: ClockVirtual, Outcome: "ok", Metrics: map[string]float64{"wall_s": 0.1},
						Ledgers:  []Ledger{{Point: "alice", Direction: "up", Packets: 1, Delivered: 1, SHA256: "cd"}},
						Timeline: []Event{{At: 0.2, Source: "alice", Kind: "state", Detail: "ice=connected"}}},
					{Clock: ClockReal, Outcome: "ok", Timeline: []Event{{At: 0.21, Source: "alice", Kind: "state", Detail: "ice=connected"}}},
				},
				Reproduce: "go test ./scenarios -run z"},
		}}
	tb, err := NewTable("who-needs-turn", "Who needs TURN", "a \\ b", "full-cone", "symmetric")
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.AddRow("symmetric", "direct", "relay"); err != nil {
		t.Fatal(err)
	}
	tb.Notes = []string{"relay: only a TURN candidate pair connected"}
	if err := r.AddTable(tb); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunRoundTrip(t *testing.T) {
	r := fullRun(t)
	path := filepath.Join(t.TempDir(), "out", "run.json")
	if err := r.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip changed the run:\n got %+v\nwant %+v", got, r)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The tags are the format: check a few of the new ones by name.
	for _, key := range []string{`"schema": 3`, `"command":`, `"junit":`, `"tables":`, `"nats":`, `"at_s": 1.25`, `"transport": "ws"`, `"clock": "virtual"`,
		`"runs": [`, `"outcome": "ok"`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("run.json lacks %s", key)
		}
	}
}

// schema1 is a run.json as netlab wrote it before schema 2 (trimmed from
// reports/out/run.json of that time).
const schema1 = `{
  "schema": 1,
  "tool": "netlab",
  "environment": {
    "go_version": "go1.26.8",
    "os": "linux",
    "arch": "amd64",
    "cpus": 2,
    "modules": {
      "github.com/pion/webrtc/v4": "v4.2.1"
    },
    "netns": "unshare -n (loopback only)"
  },
  "seed": 1,
  "started": "2026-11-21T23:32:04.20236932Z",
  "duration_s": 0.785729888,
  "passed": 1,
  "failed": 0,
  "skipped": 0,
  "cases": [
    {
      "name": "netem proxies on loopback carries UDP through wifi-lossy",
      "labels": [
        "netem",
        "udp"
      ],
      "verdict": "passed",
      "duration_s": 0.333723226,
      "profile": "wifi-lossy",
      "metrics": {
        "min_delay_ms": 20.273,
        "received": 1907
      },
      "ledgers": [
        {
          "point": "udp-proxy",
          "direction": "up",
          "packets": 2000,
          "delivered": 1907,
          "dropped": 93,
          "dropped_by": {
            "gilbert": 93
          },
          "sha256": "0f1e"
        }
      ],
      "reproduce": "go test ./scenarios -run TestScenarios -count=1"
    }
  ]
}
`

func TestReadSchema1(t *testing.T) {
	r, err := Read("old.json", strings.NewReader(schema1))
	if err != nil {
		t.Fatal(err)
	}
	if r.Schema != 1 || r.Seed != 1 || r.Environment.Modules["github.com/pion/webrtc/v4"] != "v4.2.1" {
		t.Errorf("run fields: %+v", r)
	}
	c := r.Cases[0]
	if c.Verdict != Passed || c.Profile != "wifi-lossy" || c.Metrics["received"] != 1907 ||
		c.Ledgers[0].DroppedBy["gilbert"] != 93 || c.Ledgers[0].SHA256 != "0f1e" {
		t.Errorf("case fields: %+v", c)
	}
	// What schemas 2 and 3 added is empty.
	if r.Command != "" || r.JUnit != "" || r.Tables != nil || c.Family != "" || c.Pair != "" ||
		c.Transport != "" || c.NATs != nil || c.Clock != "" || c.Timeline != nil || c.Runs != nil {
		t.Errorf("schema 2 or 3 fields set from a schema 1 file: %+v", r)
	}
}

// schema2 is a run.json as netlab wrote it before schema 3 (trimmed from
// reports/out/run.json of that time): an agreement case that kept only
// its real run.
const schema2 = `{
  "schema": 2,
  "tool": "netlab",
  "command": "go test ./scenarios -run TestScenarios -args -ginkgo.label-filter=agreement",
  "environment": {"go_version": "go1.26.8", "os": "linux", "arch": "amd64", "cpus": 2},
  "seed": 1,
  "started": "2026-12-04T10:00:00Z",
  "duration_s": 3.5,
  "passed": 1,
  "failed": 0,
  "skipped": 0,
  "cases": [
    {
      "name": "virtual and real time agree a symmetric pair without TURN fails",
      "labels": ["agreement", "go-go", "loopback"],
      "family": "agreement",
      "pair": "go-go",
      "transport": "loopback",
      "nats": ["symmetric", "symmetric"],
      "clock": "real",
      "verdict": "passed",
      "duration_s": 3.2,
      "metrics": {"wall_s": 2.4},
      "timeline": [{"at_s": 2.21, "source": "alice", "kind": "state", "detail": "ice=failed"}],
      "reproduce": "go test ./scenarios -run TestScenarios -count=1 -args -ginkgo.focus='^x$' -netlab.seed=1"
    }
  ]
}
`

func TestReadSchema2(t *testing.T) {
	r, err := Read("old.json", strings.NewReader(schema2))
	if err != nil {
		t.Fatal(err)
	}
	c := r.Cases[0]
	if r.Schema != 2 || c.Clock != ClockReal || c.Family != "agreement" || len(c.Timeline) != 1 || c.Metrics["wall_s"] != 2.4 {
		t.Errorf("case fields: %+v", c)
	}
	if c.Runs != nil {
		t.Errorf("schema 3 runs from a schema 2 file: %+v", c.Runs)
	}
}

func TestReadRejects(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`{"schema": 1, "cases": [`, "truncated"},
		{``, "truncated after 0 bytes"},
		{`{"schema": 1, "bogus": 2}`, `byte 14: bogus: unknown field`},
		{`{"schema": "one"}`, `byte 11: schema: want an integer, got string "one"`},
		{`{"schema": 99}`, "schema 99, this netlab reads 1-3"},
		{`{"schema": 0}`, "schema 0, this netlab reads 1-3"},
		// A newer file says so even when it has fields this reader lacks.
		{`{"schema": 4, "flux": {}}`, "schema 4, this netlab reads 1-3"},
		{`{"schema": 1,}`, "byte 14"},
		{`{"schema": 2} {"schema": 2}`, "byte 14: data after the run"},
		{`{"schema": 2, "cases": [{"name": "x", "verdict": "won"}]}`, `cases[0] "x": verdict "won", want passed, failed or skipped`},
		{`{"schema": 2, "cases": [{"name": "x", "verdict": "passed", "clock": "wall"}]}`, `cases[0] "x": clock "wall", want virtual or real`},
		{`{"schema": 2, "cases": [{"name": "x", "verdict": "passed", "timeline": [{"at_s": 1, "source": "a"}]}]}`, `cases[0] "x": timeline[0]: no kind`},
		{`{"schema": 2, "cases": [{"name": "x", "verdict": "passed", "timeline": [{"at_s": 1, "kind": "cut"}]}]}`, `timeline[0]: no source`},
		{`{"schema": 2, "cases": [{"name": "x", "verdict": "passed", "timeline": [{"at_s": -1, "source": "a", "kind": "cut"}]}]}`, `timeline[0]: at_s -1`},
		{`{"schema": 2, "duration_s": -2}`, `duration_s -2, want a length of time`},
		{`{"schema": 2, "cases": [{"name": "x", "verdict": "passed", "duration_s": -0.5}]}`, `cases[0] "x": duration_s -0.5, want a length of time`},
		{`{"schema": 2, "tables": [{"name": "t", "columns": ["a", "b"], "rows": [["1", "2"], ["3"]]}]}`, `tables[0]: bad table: table "t": row 1 has 1 cells, want 2 (a, b)`},
		{`{"schema": 2, "tables": [{"name": "t", "columns": []}]}`, `tables[0]: bad table: table "t": no columns`},
		{`{"schema": 2, "tables": [{"name": "t", "columns": ["a"]}, {"name": "t", "columns": ["b"]}]}`, `tables[1]: bad table: name "t" already used by tables[0]`},
		{`{"schema": 3, "cases": [{"name": "x", "verdict": "passed", "runs": [{"clock": ""}]}]}`, `cases[0] "x": runs[0]: clock "", want virtual or real`},
		{`{"schema": 3, "cases": [{"name": "x", "verdict": "passed", "clock": "real", "runs": [{"clock": "real"}]}]}`, `cases[0] "x": clock "real" beside runs`},
		{`{"schema": 3, "cases": [{"name": "x", "verdict": "passed", "runs": [{"clock": "real", "timeline": [{"at_s": 1, "kind": "cut"}]}]}]}`, `cases[0] "x": runs[0]: timeline[0]: no source`},
	} {
		_, err := Read("run.json", strings.NewReader(c.src))
		if !errors.Is(err, ErrBadRun) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "run.json: ") {
			t.Errorf("%s: got %v, want ErrBadRun naming run.json and containing %q", c.src, err, c.want)
		}
		if strings.Contains(c.want, "bad table") && !errors.Is(err, ErrBadTable) {
			t.Errorf("%s: %v does not wrap ErrBadTable", c.src, err)
		}
	}
}

// TestReadTruncatedSchema2 cuts a full schema 2 file at every byte: each
// prefix must be refused as truncated, never read as a shorter run.
func TestReadTruncatedSchema2(t *testing.T) {
	data, err := json.MarshalIndent(fullRun(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Read("run.json", strings.NewReader(string(data))); err != nil {
		t.Fatalf("whole file: %v", err)
	}
	for n := range len(data) {
		_, err := Read("run.json", strings.NewReader(string(data[:n])))
		if !errors.Is(err, ErrBadRun) || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("cut at %d of %d bytes: got %v, want ErrBadRun ... truncated", n, len(data), err)
		}
	}
}

func TestWriteFileRefusesInvalid(t *testing.T) {
	r := fullRun(t)
	r.Tables[0].Rows = append(r.Tables[0].Rows, []string{"only one"})
	path := filepath.Join(t.TempDir(), "run.json")
	err := r.WriteFile(path)
	if !errors.Is(err, ErrBadRun) || !errors.Is(err, ErrBadTable) || !strings.Contains(err.Error(), "row 1 has 1 cells, want 3") {
		t.Fatalf("got %v, want ErrBadRun and ErrBadTable about row 1", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a refused run left a file: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
		t.Errorf("a refused run left %d files behind", len(entries))
	}
}

// TestWriteFileRefusesNonFinite: JSON has no NaN or infinity, so one such
// figure made json.Marshal fail on the whole run with a message that named
// neither the case nor the figure. The check names both, and leaves no file.
func TestWriteFileRefusesNonFinite(t *testing.T) {
	for _, c := range []struct {
		name  string
		spoil func(*Run)
		want  string
	}{
		{"nan metric", func(r *Run) { r.Cases[0].Metrics["p99_ms"] = math.NaN() }, `cases[0] "nat a": metrics["p99_ms"]: NaN, want a finite number`},
		{"inf metric", func(r *Run) { r.Cases[1].Metrics = map[string]float64{"rate": math.Inf(1)} }, `cases[1] "glare b": metrics["rate"]: +Inf`},
		{"nan case duration", func(r *Run) { r.Cases[1].Duration = math.NaN() }, `cases[1] "glare b": duration_s NaN`},
		{"inf run duration", func(r *Run) { r.Duration = math.Inf(1) }, `duration_s +Inf`},
		{"nan event time", func(r *Run) { r.Cases[0].Timeline[1].At = math.NaN() }, `cases[0] "nat a": timeline[1]: at_s NaN`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := fullRun(t)
			c.spoil(r)
			if err := r.Validate(); !errors.Is(err, ErrBadRun) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Validate: got %v, want ErrBadRun containing %q", err, c.want)
			}
			path := filepath.Join(t.TempDir(), "run.json")
			if err := r.WriteFile(path); !errors.Is(err, ErrBadRun) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("WriteFile: got %v, want ErrBadRun containing %q", err, c.want)
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
				t.Errorf("a refused run left %d files behind", len(entries))
			}
		})
	}
}

// TestReadSaysWhere: every error of the decoding names the byte offset
// (bytes before the offending key or value) and the JSON path, with
// indexes. encoding/json alone said `json: unknown field "colour"` with
// neither, `parsing time "yesterday"...` naming no field, `field
// cases.duration_s` with no index, and `field : want reports.Run, got
// array` for a top-level array; and it took keys in any case and kept the
// last of repeated keys.
func TestReadSaysWhere(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`{"schema": 3, "cases": [{"name": "a", "verdict": "passed"}, {"name": "b", "verdict": "passed", "colour": "red"}]}`,
			`byte 95: cases[1].colour: unknown field`},
		{`{"schema": 3, "started": "yesterday"}`,
			`byte 25: started: want a time (RFC 3339 string), got string "yesterday"`},
		{`{"schema": 3, "cases": [{"name": "a", "verdict": "passed"}, {"name": "b", "verdict": "passed", "duration_s": "long"}]}`,
			`byte 109: cases[1].duration_s: want a number, got string "long"`},
		{`[{"schema": 3}]`, `byte 0: not a JSON object: got an array`},
		{` "run"`, `byte 1: not a JSON object: got string "run"`},
		{`null`, `byte 0: not a JSON object: got null`},
		{`{"SCHEMA": 2, "tool": "netlab"}`, `byte 1: SCHEMA: unknown field; keys are case-sensitive: want "schema"`},
		{`{"schema": 3, "cases": [{"name": "a", "verdict": "passed", "Verdict": "failed"}]}`,
			`byte 59: cases[0].Verdict: unknown field; keys are case-sensitive: want "verdict"`},
		{`{"schema": 3, "tool": "a", "tool": "b"}`, `byte 27: tool: repeated key (first at byte 14)`},
		{`{"schema": 3, "cases": [{"name": "a", "verdict": "passed", "metrics": {"x": 1, "x": 2}}]}`,
			`byte 79: cases[0].metrics["x"]: repeated key (first at byte 71)`},
		{`{"schema": 3, "seed": -1}`, `byte 22: seed: want an integer >= 0, got number -1`},
		{`{"schema": 3, "passed": 1.5}`, `byte 24: passed: want an integer, got number 1.5`},
		{`{"schema": 3, "duration_s": 1e400}`, `byte 28: duration_s: want a number, got number 1e400 (out of range)`},
		{`{"schema": 3, "environment": {"modules": {"m": 1}}}`, `byte 47: environment.modules["m"]: want a string, got number 1`},
		{`{"schema": 3, "tables": [{"name": "t", "columns": ["a"], "rows": [["1"], [2]]}]}`,
			`byte 74: tables[0].rows[1][0]: want a string, got number 2`},
		{`{"schema": 3, "cases": [{"name": "a", "verdict": "passed", "runs": [{"clock": "real", "timeline": [{"at_s": "0"}]}]}]}`,
			`byte 108: cases[0].runs[0].timeline[0].at_s: want a number, got string "0"`},
		{`{"schema": 3, "cases": {}}`, `byte 23: cases: want an array, got an object`},
	} {
		_, err := Read("run.json", strings.NewReader(c.src))
		if want := "bad run file: run.json: " + c.want; err == nil || err.Error() != want || !errors.Is(err, ErrBadRun) {
			t.Errorf("%s:\n got %v\nwant %s", c.src, err, want)
		}
	}
}

// TestStrictCoversRun: strictCheck knows every kind the run's types are
// made of, and every map has string keys; a new field of another kind
// would otherwise be checked wrongly.
func TestStrictCoversRun(t *testing.T) {
	var walk func(reflect.Type, string)
	seen := map[reflect.Type]bool{}
	walk = func(ty reflect.Type, path string) {
		if seen[ty] || ty == timeType {
			return
		}
		seen[ty] = true
		switch ty.Kind() {
		case reflect.Struct:
			for name, ft := range jsonFields(ty) {
				walk(ft, path+"."+name)
			}
		case reflect.Map:
			if ty.Key().Kind() != reflect.String {
				t.Errorf("%s: map keys of kind %v", path, ty.Key().Kind())
			}
			walk(ty.Elem(), path+"[k]")
		case reflect.Slice:
			walk(ty.Elem(), path+"[i]")
		case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Uint64, reflect.Float64:
		default:
			t.Errorf("%s: kind %v that strictCheck does not check", path, ty.Kind())
		}
		if ty.Implements(reflect.TypeFor[json.Unmarshaler]()) || reflect.PointerTo(ty).Implements(reflect.TypeFor[json.Unmarshaler]()) {
			t.Errorf("%s: %v decodes itself; strictCheck checks it by kind", path, ty)
		}
	}
	walk(reflect.TypeFor[Run](), "run")
}
