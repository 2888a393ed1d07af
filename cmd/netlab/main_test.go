package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestImpairJSONIsRepeatable(t *testing.T) {
	args := []string{"impair", "--profile", "flaky-handover", "--packets", "20000", "--pps", "200", "--seed", "7", "--json"}
	code, a, stderr := runCLI(args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	_, b, _ := runCLI(args...)
	if a != b {
		t.Fatal("same seed, different output")
	}
	_, c, _ := runCLI(append(args[:len(args)-2], "8", "--json")...)
	if a == c {
		t.Fatal("another seed, same output")
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(a), &rep); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"sent", "delivered", "dropped", "dropped_by", "duplicated", "reordered", "corrupted", "delay_ms", "loss_burst", "throughput_bps", "ledger_sha256", "profile"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	for _, k := range []string{"min", "p50", "p90", "p99", "max", "mean"} {
		if _, ok := rep["delay_ms"].(map[string]any)[k]; !ok {
			t.Errorf("delay_ms lacks %q", k)
		}
	}
	if rep["sent"].(float64) != 20000 {
		t.Errorf("sent %v", rep["sent"])
	}
	if p := rep["profile"].(map[string]any); p["name"] != "flaky-handover" || p["schedule"] == nil {
		t.Errorf("profile is not the resolved preset: %v", p)
	}
}

// TestImpairJSONDroppedByAlways: dropped_by is there (empty) when nothing
// is dropped, as the README lists it among the keys.
func TestImpairJSONDroppedByAlways(t *testing.T) {
	code, out, stderr := runCLI("impair", "--profile", "ideal", "--packets", "10", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if by, ok := rep["dropped_by"].(map[string]any); !ok || len(by) != 0 {
		t.Errorf("dropped_by = %#v, want {}", rep["dropped_by"])
	}
}

func TestImpairText(t *testing.T) {
	code, out, _ := runCLI("impair", "--profile", "wifi-lossy", "--packets", "1000")
	if code != 0 || !strings.Contains(out, "sent        1000") || !strings.Contains(out, "by loss") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestImpairBadInputExits2(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: x\nloss:\n  rate: 140%\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"impair", "--profile", bad, "--packets", "10"}, bad + ":3:9: loss.rate: must be within 0-100%, got 140"},
		{[]string{"impair", "--profile", "5g", "--packets", "10"}, `unknown preset "5g"`},
		{[]string{"impair", "--packets", "10"}, "--profile is required"},
		{[]string{"impair", "--profile", "3g"}, "--packets must be a positive number"},
		{[]string{"impair", "--profile", "3g", "--packets", "10", "--direction", "left"}, `want "up" or "down", got "left"`},
		{[]string{"impair", "--profile", "3g", "--packets", "10", "--size", "70000"}, "size must be within"},
		{[]string{"impair", "--profile", "3g", "--packets", "x"}, "invalid value"},
		// 0 is Simulate's "default": taken as such, it printed a report
		// headed "0-byte packets at 0/s" over 1200 bytes at 1000/s.
		{[]string{"impair", "--profile", "3g", "--packets", "10", "--size", "0"}, "--size must be a positive number of bytes, got 0"},
		{[]string{"impair", "--profile", "3g", "--packets", "10", "--pps", "0"}, "--pps must be above 0 and at most 1e9, got 0"},
		{[]string{"impair", "--profile", "3g", "--packets", "10", "--pps", "NaN"}, "--pps must be above 0 and at most 1e9, got NaN"},
		// Send times past a time.Duration's range came out as nonsense.
		{[]string{"impair", "--profile", "3g", "--packets", "10", "--pps", "1e-300"}, "10 packets at 1e-300/s span 9e+300 s of virtual time"},
		{[]string{"impair", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"profiles", "show", "nope"}, `unknown preset "nope"`},
		{[]string{"profiles", "check", bad}, "loss.rate: must be within 0-100%"},
	} {
		code, _, stderr := runCLI(c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
		// A refused command says why, and nothing else first.
		if strings.Contains(stderr, "warning:") {
			t.Errorf("%v: a warning before the refusal: %q", c.args, stderr)
		}
	}
}

func TestImpairWarnsOfOverload(t *testing.T) {
	_, _, stderr := runCLI("impair", "--profile", "edge", "--packets", "10", "--pps", "1000")
	if !strings.Contains(stderr, "exceeds the up rate limit (250kbit)") {
		t.Errorf("no overload warning: %q", stderr)
	}
}

// TestImpairWarnsOfOverloadInAPhase: a phase's rate limit counts too, when
// the run reaches the phase; the warning names it.
func TestImpairWarnsOfOverloadInAPhase(t *testing.T) {
	// 100,000 packets at 50/s: 2,000 s, through call-drop's 50 kbit/s
	// phase (10 s to 26 s), where the queue fills and drops.
	_, _, stderr := runCLI("impair", "--profile", "call-drop", "--packets", "100000")
	want := "netlab impair: warning: 491200 bit/s offered exceeds the up rate limit (50kbit) in phase \"call-drop\" (schedule[0], 10s to 26s): the queue fills, then drops\n"
	if stderr != want {
		t.Errorf("stderr %q\nwant %q", stderr, want)
	}
	// 100 packets: 2 s, over before the phase starts.
	if _, _, stderr := runCLI("impair", "--profile", "call-drop", "--packets", "100"); stderr != "" {
		t.Errorf("a run that ends before the phase: stderr %q, want nothing", stderr)
	}
	// The base link is never in force: no warning for its limit.
	dir := t.TempDir()
	prof := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(prof, []byte("rate: 10kbit\nschedule:\n  - {start: 0s, rate: 1Gbit}\n  - {name: slow, start: 1h, rate: 10kbit}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, stderr := runCLI("impair", "--profile", prof, "--packets", "100"); stderr != "" {
		t.Errorf("the limit of a base link no packet meets: stderr %q, want nothing", stderr)
	}
}

// TestProfileProblemsOneALine: several problems are one report, a problem
// a line, every line with the command's prefix; and each problem once.
func TestProfileProblemsOneALine(t *testing.T) {
	dir := t.TempDir()
	multi := filepath.Join(dir, "multi.yaml")
	rate := filepath.Join(dir, "rate.yaml")
	for path, src := range map[string]string{multi: "loss: 140\ndealy: 1ms\nup: {mtu: 1}\n", rate: "loss:\n  rate: 140\n"} {
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, _, stderr := runCLI("impair", "--profile", multi, "--packets", "10")
	want := "netlab impair: " + multi + ":1:7: loss: must be within 0-100%, got 140\n" +
		"netlab impair: " + multi + ":2:1: dealy: unknown field (want one of: blackhole, corrupt, delay, description, down, duplicate, flap, loss, mtu, name, rate, reorder, schedule, source, tcp, up)\n" +
		"netlab impair: " + multi + ":3:6: up.mtu: must be 0 (no limit) or within 68-65535 bytes, got 1\n"
	if code != 2 || stderr != want {
		t.Errorf("exit %d, stderr\n%s\nwant 2 and\n%s", code, stderr, want)
	}
	code, _, stderr = runCLI("profiles", "check", multi, rate)
	want = "netlab profiles: " + multi + ":1:7: loss: must be within 0-100%, got 140\n" +
		"netlab profiles: " + multi + ":2:1: dealy: unknown field (want one of: blackhole, corrupt, delay, description, down, duplicate, flap, loss, mtu, name, rate, reorder, schedule, source, tcp, up)\n" +
		"netlab profiles: " + multi + ":3:6: up.mtu: must be 0 (no limit) or within 68-65535 bytes, got 1\n" +
		"netlab profiles: " + rate + ":2:9: loss.rate: must be within 0-100%, got 140\n" +
		"netlab profiles: 2 of 2 files are not valid profiles\n"
	if code != 2 || stderr != want {
		t.Errorf("check: exit %d, stderr\n%s\nwant 2 and\n%s", code, stderr, want)
	}
}

func TestProfiles(t *testing.T) {
	code, out, _ := runCLI("profiles")
	if code != 0 || !strings.Contains(out, "flaky-handover") || !strings.Contains(out, "wifi-lossy") {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI("profiles", "show", "3g")
	if code != 0 || !strings.Contains(out, "# UMTS") {
		t.Errorf("show: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI("profiles", "show", "3g", "--json")
	if code != 0 || !strings.Contains(out, `"distribution": "normal"`) {
		t.Errorf("show --json: exit %d\n%s", code, out)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	idle := filepath.Join(dir, "idle.json")
	for path, src := range map[string]string{good: `{"delay": "10ms", "reorder": "5%"}`, idle: `{"reorder": "5%"}`} {
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, out, stderr := runCLI("profiles", "check", good, idle)
	if code != 0 || !strings.Contains(out, "good.json: ok") || !strings.Contains(out, "idle.json: ok") {
		t.Errorf("check: exit %d\n%s%s", code, out, stderr)
	}
	if strings.Contains(stderr, "good.json: warning") || !strings.Contains(stderr, "idle.json: warning: reorder has no effect without delay") {
		t.Errorf("check warnings: %q", stderr)
	}

	// A bad file among good ones: each is reported, the exit is 2.
	truncated := filepath.Join(dir, "truncated.json")
	if err := os.WriteFile(truncated, []byte(`{"delay": "10ms"`), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	code, out, stderr = runCLI("profiles", "check", truncated, good, missing)
	if code != 2 || !strings.Contains(out, "good.json: ok") ||
		!strings.Contains(stderr, truncated+":1:17: JSON syntax") || !strings.Contains(stderr, "missing.yaml: no such file") ||
		!strings.Contains(stderr, "2 of 3 files are not valid profiles") {
		t.Errorf("check with bad files: exit %d\nstdout:\n%sstderr:\n%s", code, out, stderr)
	}
}

// BenchmarkImpair100k is the figure the README quotes: 100,000 packets
// through the 3g preset, JSON out.
func BenchmarkImpair100k(b *testing.B) {
	for b.Loop() {
		if code, _, e := runCLI("impair", "--profile", "3g", "--packets", "100000", "--json"); code != 0 {
			b.Fatal(e)
		}
	}
}
