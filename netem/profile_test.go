package netem

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestPresetsParse(t *testing.T) {
	want := []string{"ideal", "wifi", "wifi-lossy", "4g", "3g", "poor-3g", "edge", "satellite", "call-drop", "flaky-handover"}
	names := PresetNames()
	for _, w := range want {
		p, ok := Preset(w)
		if !ok {
			t.Errorf("preset %q missing (have %v)", w, names)
			continue
		}
		if p.Name != w || p.Description == "" || p.Source == "" {
			t.Errorf("preset %q: name %q, description %q, source %q: all three are required", w, p.Name, p.Description, p.Source)
		}
		src, _ := PresetSource(w)
		if !strings.Contains(string(src), "#") {
			t.Errorf("preset %q: its YAML cites no source in a comment", w)
		}
	}
	for _, n := range names {
		p, _ := Preset(n)
		if err := p.Validate(); err != nil {
			t.Errorf("preset %s: %v", n, err)
		}
	}
}

func TestResolvedRoundTrips(t *testing.T) {
	for _, n := range PresetNames() {
		p, _ := Preset(n)
		r := p.Resolved()
		y, err := r.MarshalYAMLText()
		if err != nil {
			t.Fatalf("%s: yaml: %v", n, err)
		}
		fromYAML, err := ParseProfile(n+".yaml", y)
		if err != nil {
			t.Fatalf("%s: resolved YAML does not parse back: %v\n%s", n, err, y)
		}
		j, _ := json.Marshal(r)
		fromJSON, err := ParseProfile(n+".json", j)
		if err != nil {
			t.Fatalf("%s: resolved JSON does not parse back: %v\n%s", n, err, j)
		}
		for _, got := range []*Profile{fromYAML.Resolved(), fromJSON.Resolved()} {
			a, _ := json.Marshal(got)
			if string(a) != string(j) {
				t.Errorf("%s: round trip changed the profile:\n got %s\nwant %s", n, a, j)
			}
		}
	}
}

func TestYAMLAndJSONAgree(t *testing.T) {
	y := mustParse(t, richYAML)
	j, err := ParseProfile("x.json", []byte(`{
  "name": "x",
  "description": "every kind of field",
  "delay": {"time": "40ms", "jitter": "5ms", "distribution": "pareto", "correlation": "25%"},
  "loss": {"model": "gilbert-elliott", "p": 1, "r": "30%", "1-h": 90},
  "rate": {"bitrate": "2Mbit", "overhead": 38, "queue": {"bytes": "64KiB", "aqm": "codel"}},
  "up": {"duplicate": "1%", "corrupt": 0.1, "reorder": {"probability": 5, "gap": 3}, "mtu": 1400},
  "down": {"tcp": {"slicer": {"average_size": 64, "size_variation": 16, "delay": "1ms"}, "slow_close": "1s", "limit_data": 4096, "reset_peer": "2s", "timeout": "3s"}},
  "schedule": [
    {"name": "out", "start": "10s", "duration": "3s", "blackhole": true},
    {"start": "13s", "flap": {"period": "2s", "duty": 50}, "down": {"loss": 20}}
  ]
}`))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(y.Resolved())
	b, _ := json.Marshal(j.Resolved())
	if string(a) != string(b) {
		t.Errorf("YAML and JSON differ:\n%s\n%s", a, b)
	}
}

func TestProfileErrors(t *testing.T) {
	cases := []struct {
		file, src string
		want      []string // each must appear in the error
	}{
		{"a.yaml", "loss: 140", []string{"a.yaml:1:7: loss: must be within 0-100%, got 140"}},
		{"a.yaml", "name: x\nloss:\n  rate: 140%", []string{"a.yaml:3:9: loss.rate: must be within 0-100%, got 140"}},
		{"a.yaml", "delay: 50", []string{"a.yaml:1:8: delay: want a duration", `got "50"`}},
		{"a.yaml", "dealy: 50ms", []string{"a.yaml:1:1: dealy: unknown field (want one of:", "delay"}},
		{"a.yaml", "up:\n  rate: 2mbps", []string{"a.yaml:2:9: up.rate: ambiguous unit"}},
		{"a.yaml", "mtu: big", []string{"a.yaml:1:6: mtu: want a whole number, got big"}},
		{"a.yaml", "mtu: 20", []string{"a.yaml:1:1: mtu: must be 0 (no limit) or within 68-65535 bytes, got 20"}},
		{"a.yaml", "blackhole: yes", []string{"blackhole: want true or false, got yes"}},
		{"a.yaml", "delay: [1, 2]", []string{`a.yaml:1:8: delay: want a duration such as "50ms" or a mapping, got a list`}},
		{"a.yaml", "loss: {model: gilbert-elliott, p: 1%, r: abc}", []string{"loss.r: want a percentage"}},
		{"a.yaml", "delay: {time: 10ms, distribution: cauchy}", []string{"delay.distribution: want uniform, normal, pareto or paretonormal, got \"cauchy\""}},
		{"a.yaml", "loss: {model: gilbert-elliott, p: 1%}", []string{"loss.r: the gilbert-elliott model needs r"}},
		{"a.yaml", "loss: {model: bernoulli, rate: 1%, p: 2%}", []string{"loss.p: not a parameter of the bernoulli model"}},
		{"a.yaml", "loss: {model: markov}", []string{"loss.model: want bernoulli, gilbert-elliott or 4-state"}},
		{"a.yaml", "loss: {model: 4-state, p13: 60%, p14: 50%}", []string{"loss.p14: p13 + p14 must be at most 100%"}},
		{"a.yaml", "rate: {bitrate: 1Mbit, queue: {packets: 10, bytes: 1000}}", []string{"rate.queue: set packets or bytes, not both"}},
		{"a.yaml", "rate: {bitrate: 1Mbit, queue: {target: 1ms}}", []string{"target and interval belong to aqm: codel"}},
		{"a.yaml", "flap: {period: 0s, duty: 50%}", []string{"flap.period: must be more than 0"}},
		{"a.yaml", "tcp: {slicer: {average_size: 10, size_variation: 10}}", []string{"tcp.slicer.size_variation: must be within 0 and average_size-1"}},
		{"a.yaml", "schedule:\n  - {start: 10s, duration: 5s}\n  - {start: 12s}", []string{"a.yaml:3:6: schedule[1].start: overlaps the previous phase, which ends at 15s; got start 12s"}},
		{"a.yaml", "schedule:\n  - {start: 10s}\n  - {start: 5s}", []string{"schedule[1].start: phases must be in order of start"}},
		{"a.yaml", "schedule: {start: 1s}", []string{"schedule: want a list of phases"}},
		{"a.yaml", "delay: 10ms\ndelay: 20ms", []string{"a.yaml:2:1: delay: set twice (first on line 1)"}},
		{"a.yaml", "a: &x 1\nb: *x", []string{"aliases are not supported"}},
		{"a.yaml", "delay: [", []string{"a.yaml:1:8: YAML syntax:"}},
		{"a.yaml", "---\ndelay: 1ms\n---\nloss: 1%", []string{"want one YAML document"}},
		{"a.json", `{"loss": 140}`, []string{"a.json:1:10: loss: must be within 0-100%, got 140"}},
		{"a.json", "{\n  \"delay\": \"10ms\",\n  \"dealy\": 1\n}", []string{"a.json:3:3: dealy: unknown field"}},
		{"a.json", `{"loss": 1`, []string{"a.json:1:11: JSON syntax: unexpected end of input (truncated?)"}},
		{"a.json", `{"loss": 1,}`, []string{"a.json:1:12: JSON syntax:"}},
		{"a.json", `{"delay": "1ms", "delay": "2ms"}`, []string{"a.json:1:18: delay: set twice (first on line 1)"}},
		{"a.json", `{"x": 1} {"y": 2}`, []string{"unexpected data after the top-level value"}},
		{"a.json", `[1, 2]`, []string{"want a mapping, got a list"}},
		{"a.json", `{"mtu": 1500.5}`, []string{"mtu: want a whole number"}},
		{"a.json", `{"mtu": "1500"}`, []string{"mtu: want a whole number"}},
		{"a.json", "\xff", []string{"not UTF-8"}},
		// No document at all is a failed write, not a perfect link; "{}"
		// or a name alone still says that.
		{"a.yaml", "", []string{"a.yaml:1:1: empty: no profile in the file"}},
		{"a.yaml", "# wifi, to do\n\n", []string{"a.yaml:1:1: empty: no profile in the file"}},
		{"a.yaml", "---\n", []string{"a.yaml:2:1: want a mapping, got nothing"}},
		{"a.json", "", []string{"a.json:1:1: empty: no profile in the file"}},
		{"a.json", " \n\t", []string{"a.json:1:1: empty: no profile in the file"}},
	}
	for _, c := range cases {
		_, err := ParseProfile(c.file, []byte(c.src))
		if err == nil {
			t.Errorf("%s %q: no error", c.file, c.src)
			continue
		}
		if !errors.Is(err, ErrInvalidProfile) {
			t.Errorf("%s %q: error %v does not wrap ErrInvalidProfile", c.file, c.src, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %q:\n got %v\nwant it to contain %q", c.file, c.src, err, w)
			}
		}
	}
}

// TestProfileErrorsExact pins whole reports: every problem, each once, at
// the line and column where it is, and nothing else.
func TestProfileErrorsExact(t *testing.T) {
	const fields = "(want one of: blackhole, corrupt, delay, description, down, duplicate, flap, loss, mtu, name, rate, reorder, schedule, source, tcp, up)"
	cases := []struct {
		file, src string
		want      []string // the report's lines
	}{
		// A rate that does not parse still says the model: one problem,
		// not also `loss.model: want bernoulli, ..., got ""`.
		{"a.yaml", "loss:\n  rate: 140", []string{"a.yaml:2:9: loss.rate: must be within 0-100%, got 140"}},
		{"a.yaml", "loss: {rate: lots}", []string{`a.yaml:1:14: loss.rate: want a percentage such as "10%" or 10, got "lots"`}},
		{"a.json", `{"loss": {"rate": "140%"}}`, []string{"a.json:1:19: loss.rate: must be within 0-100%, got 140"}},

		// A key set twice names its field and does not stop the parse;
		// the first value is kept and checked.
		{"a.yaml", "up:\n  delay: 5ms\n  delay: 6ms\nloss: 140", []string{
			"a.yaml:3:3: up.delay: set twice (first on line 2)",
			"a.yaml:4:7: loss: must be within 0-100%, got 140"}},
		{"a.yaml", "loss: 140\nloss: 1%\nmtu: 1", []string{
			"a.yaml:1:7: loss: must be within 0-100%, got 140",
			"a.yaml:2:1: loss: set twice (first on line 1)",
			"a.yaml:3:1: mtu: must be 0 (no limit) or within 68-65535 bytes, got 1"}},
		{"a.yaml", "schedule:\n  - {start: 1s, start: 2s}\n  - {start: 1s, up: {loss: 1%, loss: 2%}}", []string{
			"a.yaml:2:17: schedule[0].start: set twice (first on line 2)",
			"a.yaml:3:32: schedule[1].up.loss: set twice (first on line 3)",
			"a.yaml:3:6: schedule[1].start: phases must be in order of start: 1s is not after the previous phase's start 1s"}},
		{"a.json", "{\"up\": {\"delay\": \"5ms\",\n  \"delay\": \"6ms\"}, \"loss\": 140}", []string{
			"a.json:2:3: up.delay: set twice (first on line 1)",
			"a.json:2:28: loss: must be within 0-100%, got 140"}},

		// YAML syntax errors where they are: yaml.v3's own line is the
		// enclosing construct's, and one too low for parser errors.
		{"a.yaml", "up:\n  delay: 5ms\n  loss: [1%", []string{"a.yaml:3:10: YAML syntax: did not find expected ',' or ']'"}},
		{"a.yaml", "up:\n  delay: 5ms\n  loss: [1%\n", []string{"a.yaml:3:10: YAML syntax: did not find expected ',' or ']'"}},
		{"a.yaml", "name: x\ndelay: 5ms\nloss: 1%\nmtu: 1400\n\tcorrupt: 1%\n", []string{"a.yaml:5:1: YAML syntax: found a tab character that violates indentation"}},
		{"a.yaml", "up:\n  delay: 5ms\n loss: 1%\n", []string{"a.yaml:3:2: YAML syntax: did not find expected key"}},
		{"a.yaml", "up:\n  delay: 5ms\n    loss: 1%\n", []string{"a.yaml:3:9: YAML syntax: mapping values are not allowed in this context"}},
		{"a.yaml", "delay: \"5ms\nloss: 1%\n", []string{"a.yaml:1:8: YAML syntax: found unexpected end of stream"}},
		{"a.yaml", "loss: {rate: 1%\n", []string{"a.yaml:1:8: YAML syntax: did not find expected ',' or '}'"}},
		{"a.yaml", "delay: 5ms\n@x: 1\n", []string{"a.yaml:2:1: YAML syntax: found character that cannot start any token"}},
		{"a.yaml", "delay: 5ms\nloss\nrate: 1\n", []string{"a.yaml:2:1: YAML syntax: could not find expected ':'"}},
		{"a.yaml", "delay: \x01\n", []string{"a.yaml:1:8: YAML syntax: control characters are not allowed"}},
		{"a.yaml", "\xef\xbb\xbfdelay: 5ms\n\tloss: 1%\n", []string{"a.yaml:2:1: YAML syntax: found a tab character that violates indentation"}},
		{"a.yaml", "name: é\nloss: {rate: \"é\n", []string{"a.yaml:2:14: YAML syntax: found unexpected end of stream"}},
		// A second document that does not parse was taken for no second
		// document, and the file accepted.
		{"a.yaml", "delay: 1ms\n---\nloss: [\n", []string{"a.yaml:3:7: YAML syntax: did not find expected node content"}},

		// JSON positions are where the token starts.
		{"a.json", "{\n  \"loss\": \"140%\"\n}", []string{"a.json:2:11: loss: must be within 0-100%, got 140"}},
		{"a.json", "{\n  \"bogus\": 1\n}", []string{"a.json:2:3: bogus: unknown field " + fields}},
		{"a.json", "{\"delay\":\"1ms\" ,\r\n\t\"delay\" : \"2ms\"}", []string{"a.json:2:2: delay: set twice (first on line 1)"}},
		{"a.json", "{\"rate\": {\"bitrate\": \"1Mbit\", \"queue\": {\"packets\": 0}}}", []string{"a.json:1:52: rate.queue.packets: must be within 1-2147483647, got 0"}},
		{"a.json", `{"x": 1}  {"y": 2}`, []string{"a.json:1:11: JSON syntax: unexpected data after the top-level value"}},

		// No profile at all, in either format.
		{"a.json", "", []string{"a.json:1:1: empty: no profile in the file (a perfect link is the preset ideal, or a profile with only a name)"}},
		{"a.json", " \r\n\t\n", []string{"a.json:1:1: empty: no profile in the file (a perfect link is the preset ideal, or a profile with only a name)"}},
		{"a.yaml", "", []string{"a.yaml:1:1: empty: no profile in the file (a perfect link is the preset ideal, or a profile with only a name)"}},
	}
	for _, c := range cases {
		_, err := ParseProfile(c.file, []byte(c.src))
		if err == nil {
			t.Errorf("%s %q: no error", c.file, c.src)
			continue
		}
		if got, want := err.Error(), strings.Join(c.want, "\n"); got != want {
			t.Errorf("%s %q:\n got %s\nwant %s", c.file, c.src, got, want)
		}
	}
}

// An explicitly empty profile is a perfect link.
func TestEmptyMappingIsIdeal(t *testing.T) {
	for _, c := range []struct{ file, src string }{{"a.json", "{}"}, {"a.yaml", "{}"}, {"a.yaml", "name: clean\n"}} {
		p, err := ParseProfile(c.file, []byte(c.src))
		if err != nil {
			t.Errorf("%s %q: %v", c.file, c.src, err)
			continue
		}
		if l := p.Effective(Up, 0); l.Delay != nil || l.Loss != nil || l.Rate != nil {
			t.Errorf("%s %q: up link %+v, want no impairment", c.file, c.src, l)
		}
	}
}

func TestProfileErrorsAllReported(t *testing.T) {
	_, err := ParseProfile("a.yaml", []byte("loss: 140\ndealy: 1ms\nup: {mtu: 1}"))
	var pes []*ProfileError
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var pe *ProfileError
		if errors.As(e, &pe) {
			pes = append(pes, pe)
		}
	}
	if len(pes) != 3 {
		t.Fatalf("want 3 problems, got %d: %v", len(pes), err)
	}
	if pes[0].Line != 1 || pes[1].Line != 2 || pes[2].Field != "up.mtu" {
		t.Errorf("problems out of place: %+v %+v %+v", pes[0], pes[1], pes[2])
	}
}

func TestValidateCodeBuilt(t *testing.T) {
	p := &Profile{Link: Link{Loss: &Loss{Model: Bernoulli, Rate: pct(140)}}}
	err := p.Validate()
	if err == nil || !strings.Contains(err.Error(), "profile: loss.rate: must be within 0-100%, got 140") {
		t.Errorf("got %v", err)
	}
	if _, err := New(Config{Name: "x", Profile: p}); !errors.Is(err, ErrInvalidProfile) {
		t.Errorf("New accepted an invalid profile: %v", err)
	}
}

func TestLookupProfile(t *testing.T) {
	if p, err := LookupProfile("3g"); err != nil || p.Name != "3g" {
		t.Fatalf("3g: %v %v", p, err)
	}
	_, err := LookupProfile("5g")
	if !errors.Is(err, ErrUnknownPreset) || !strings.Contains(err.Error(), "wifi-lossy") {
		t.Errorf("unknown preset: %v (want ErrUnknownPreset listing the presets)", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "mine.yaml")
	if err := os.WriteFile(path, []byte("delay: 5ms\nloss: 200"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LookupProfile(path)
	if !errors.Is(err, ErrInvalidProfile) || !strings.Contains(err.Error(), path+":2:7: loss: must be within") {
		t.Errorf("bad file: %v", err)
	}
	if _, err := LookupProfile(filepath.Join(dir, "missing.yaml")); !errors.Is(err, ErrInvalidProfile) {
		t.Errorf("missing file: %v", err)
	}
}

func TestEffectiveMerging(t *testing.T) {
	p := mustParse(t, `
delay: {time: 10ms, jitter: 2ms}
loss: 1%
up: {delay: 30ms}
schedule:
  - {start: 5s, loss: 50%, down: {delay: 99ms}}
`)
	up := p.Effective(Up, -1)
	if up.Delay.Time.D().Milliseconds() != 30 || up.Delay.Jitter != 0 || *up.Loss.Rate != 1 {
		t.Errorf("up base: %+v %+v", up.Delay, up.Loss)
	}
	down := p.Effective(Down, 0)
	if down.Delay.Time.D().Milliseconds() != 99 || *down.Loss.Rate != 50 {
		t.Errorf("down phase 0: %+v %+v", down.Delay, down.Loss)
	}
	upPh := p.Effective(Up, 0)
	if upPh.Delay.Time.D().Milliseconds() != 30 || *upPh.Loss.Rate != 50 {
		t.Errorf("up phase 0: %+v %+v", upPh.Delay, upPh.Loss)
	}
	if !reflect.DeepEqual(p.Effective(Down, -1).Delay, p.Delay) {
		t.Error("down base should inherit the top-level delay")
	}
}
