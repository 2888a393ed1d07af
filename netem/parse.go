package netem

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// MaxProfileSize bounds a profile file; anything larger is refused unread.
const MaxProfileSize = 1 << 20

// ParseProfile reads a profile from YAML or JSON. The format follows the
// file name's extension (.json, .yaml, .yml); without one, a document
// starting with '{' is JSON. Parsing is strict: unknown fields, wrong types
// and out-of-range values are errors that name the file, line and field
// (see ProfileError). All problems found are returned, joined.
func ParseProfile(file string, data []byte) (*Profile, error) {
	if len(data) > MaxProfileSize {
		return nil, &ProfileError{File: file, Msg: fmt.Sprintf("larger than %d bytes", MaxProfileSize)}
	}
	if !utf8.Valid(data) {
		return nil, &ProfileError{File: file, Msg: "not UTF-8 text"}
	}
	var (
		root *node
		err  error
	)
	if isJSON(file, data) {
		root, err = jsonToNode(data)
	} else {
		root, err = yamlToNode(data)
	}
	if err != nil {
		pe, _ := err.(*posError)
		return nil, &ProfileError{File: file, Line: pe.line, Column: pe.col, Msg: pe.msg}
	}
	d := &decoder{problems: problems{file: file, pos: &positions{file: file}}}
	p := d.profile(root)
	p.pos = d.pos
	// Validate even after decoding problems, so that one run reports all.
	p.validateInto(&d.problems)
	if err := d.err(); err != nil {
		return nil, err
	}
	return p, nil
}

func isJSON(file string, data []byte) bool {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".json":
		return true
	case ".yaml", ".yml":
		return false
	}
	return bytes.HasPrefix(bytes.TrimSpace(data), []byte("{"))
}

// LoadProfile reads and parses a profile file.
func LoadProfile(path string) (*Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidProfile, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxProfileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidProfile, path, err)
	}
	return ParseProfile(path, data)
}

// LookupProfile returns the preset called nameOrPath, or else parses the
// file at that path. A name that is neither gets ErrUnknownPreset with the
// list of presets.
func LookupProfile(nameOrPath string) (*Profile, error) {
	if p, ok := Preset(nameOrPath); ok {
		return p, nil
	}
	if _, err := os.Stat(nameOrPath); err == nil || strings.ContainsAny(nameOrPath, "/.") {
		return LoadProfile(nameOrPath)
	}
	return nil, fmt.Errorf("%w %q: not a preset (%s) and not a file", ErrUnknownPreset, nameOrPath, strings.Join(PresetNames(), ", "))
}
