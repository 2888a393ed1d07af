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
	for _, k := range []string{"sent", "delivered", "dropped", "duplicated", "reordered", "corrupted", "delay_ms", "loss_burst", "throughput_bps", "ledger_sha256", "profile"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	for _, k := range []string{"p50", "p90", "p99", "max", "mean"} {
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
