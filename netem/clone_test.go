package netem

import (
	"math"
	"reflect"
	"testing"
)

// richYAML sets a field of every kind a profile has: pointers, slices,
// nested links, a schedule.
const richYAML = `
name: x
description: every kind of field
delay: {time: 40ms, jitter: 5ms, distribution: pareto, correlation: 25%}
loss: {model: gilbert-elliott, p: 1%, r: 30%, 1-h: 90%}
rate: {bitrate: 2Mbit, overhead: 38, queue: {bytes: 64KiB, aqm: codel}}
up: {duplicate: 1%, corrupt: 0.1%, reorder: {probability: 5%, gap: 3}, mtu: 1400}
down: {tcp: {slicer: {average_size: 64, size_variation: 16, delay: 1ms}, slow_close: 1s, limit_data: 4096, reset_peer: 2s, timeout: 3s}}
schedule:
  - {name: out, start: 10s, duration: 3s, blackhole: true}
  - {start: 13s, flap: {period: 2s, duty: 50%}, down: {loss: 20%}}
`

func richProfile(t *testing.T) *Profile {
	t.Helper()
	return mustParse(t, richYAML)
}

// shared reports a pointer, slice or map that a and b (equal values of
// one type) both hold: a copy that shares one is not deep.
func shared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		if a.IsNil() {
			return ""
		}
		if a.Kind() != reflect.Slice || a.Len() > 0 {
			if a.UnsafePointer() == b.UnsafePointer() {
				return path
			}
		}
	}
	switch a.Kind() {
	case reflect.Pointer:
		return shared(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
					return p
				}
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range a.Len() {
			if p := shared(a.Index(i), b.Index(i), path+"[]"); p != "" {
				return p
			}
		}
	case reflect.Map:
		for it := a.MapRange(); it.Next(); {
			if p := shared(it.Value(), b.MapIndex(it.Key()), path+"{}"); p != "" {
				return p
			}
		}
	}
	return ""
}

func TestCloneIsDeepAndEqual(t *testing.T) {
	profiles := map[string]*Profile{"rich": richProfile(t)}
	for _, n := range PresetNames() {
		p, _ := Preset(n)
		profiles[n] = p
	}
	for name, p := range profiles {
		c := p.Clone()
		if !reflect.DeepEqual(c, p) {
			t.Errorf("%s: the clone differs:\n%+v\n%+v", name, c, p)
		}
		if s := shared(reflect.ValueOf(c), reflect.ValueOf(p), "profile"); s != "" {
			t.Errorf("%s: the clone shares %s with the original", name, s)
		}
	}
	// The check itself finds sharing.
	p := richProfile(t)
	c := p.Clone()
	c.Schedule[1].Down = p.Schedule[1].Down
	if s := shared(reflect.ValueOf(c), reflect.ValueOf(p), "profile"); s != "profile.Schedule[].Down" {
		t.Errorf("shared = %q, want profile.Schedule[].Down", s)
	}
}

// A profile built in code may not validate; cloning it used to panic (a
// JSON round trip, and NaN% does not parse back).
func TestCloneInvalid(t *testing.T) {
	nan := Percent(math.NaN())
	p := &Profile{Link: Link{Loss: &Loss{Model: Bernoulli, Rate: &nan}}}
	want := p.Validate()
	if want == nil {
		t.Fatal("a NaN loss rate validates")
	}
	c := p.Clone()
	if got := c.Validate(); got == nil || got.Error() != want.Error() {
		t.Errorf("the clone validates as %v, want %v", got, want)
	}
	if r := p.Reversed(); r.Validate() == nil {
		t.Error("the reversed copy validates")
	}
}
