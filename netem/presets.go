package netem

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
)

// The presets are YAML files, each citing its source in comments, so that
// `netlab profiles show NAME` prints what a user would write.
//
//go:embed presets/*.yaml
var presetFS embed.FS

var presets = sync.OnceValue(func() map[string]*Profile {
	entries, err := presetFS.ReadDir("presets")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	m := map[string]*Profile{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".yaml")
		data, _ := presetFS.ReadFile(path.Join("presets", e.Name()))
		p, err := ParseProfile("preset "+e.Name(), data)
		if err != nil {
			// TestPresetsParse keeps this from ever shipping.
			panic(fmt.Sprintf("netem: preset %s is invalid: %v", name, err))
		}
		m[name] = p
	}
	return m
})

// Preset returns a copy of the named preset.
func Preset(name string) (*Profile, bool) {
	p, ok := presets()[name]
	if !ok {
		return nil, false
	}
	return p.Clone(), true
}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	var names []string
	for n := range presets() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PresetSource returns the preset's YAML, comments and all.
func PresetSource(name string) ([]byte, bool) {
	data, err := presetFS.ReadFile(path.Join("presets", name+".yaml"))
	return data, err == nil
}
