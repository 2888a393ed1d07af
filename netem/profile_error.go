package netem

import (
	"errors"
	"fmt"
	"strings"
)

// ProfileError is one problem in a profile: where it is and what was
// expected. It wraps ErrInvalidProfile.
type ProfileError struct {
	File   string // "" for a profile built in code
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	Field  string // dotted path such as "up.loss.rate" or "schedule[1].start"
	Msg    string
}

func (e *ProfileError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	} else {
		b.WriteString("profile")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalidProfile) true.
func (e *ProfileError) Unwrap() error { return ErrInvalidProfile }

// maxProfileErrors bounds how many problems one parse reports.
const maxProfileErrors = 20

// problems collects ProfileErrors, with positions when they are known.
type problems struct {
	file   string
	pos    *positions
	errs   []error
	failed map[string]bool // fields with a problem already
}

// add records a problem found after decoding (by Validate). It is skipped
// when decoding already found one in the same field or a parent: a value
// that did not parse is not also "missing".
func (ps *problems) add(field string, format string, args ...any) {
	for f := field; f != ""; f = parentField(f) {
		if ps.failed[f] {
			return
		}
	}
	line, col := ps.pos.at(field)
	ps.addAt(line, col, field, fmt.Sprintf(format, args...))
}

func (ps *problems) addAt(line, col int, field, msg string) {
	if ps.failed == nil {
		ps.failed = map[string]bool{}
	}
	ps.failed[field] = true
	ps.note(line, col, field, msg)
}

// note records a problem without marking field as failed, so that the
// field's own checks still run (a key set twice: its first value is kept
// and checked).
func (ps *problems) note(line, col int, field, msg string) {
	if len(ps.errs) == maxProfileErrors {
		ps.errs = append(ps.errs, &ProfileError{File: ps.file, Msg: "too many problems; stopping here"})
	}
	if len(ps.errs) > maxProfileErrors {
		return
	}
	ps.errs = append(ps.errs, &ProfileError{File: ps.file, Line: line, Column: col, Field: field, Msg: msg})
}

func (ps *problems) err() error { return errors.Join(ps.errs...) }

// positions remembers where each field path was found in the source.
type positions struct {
	file    string
	byField map[string][2]int
}

func (p *positions) set(field string, line, col int) {
	if p.byField == nil {
		p.byField = map[string][2]int{}
	}
	p.byField[field] = [2]int{line, col}
}

// at returns the position of field, or of its nearest parent that has one.
func (p *positions) at(field string) (line, col int) {
	if p == nil {
		return 0, 0
	}
	for f := field; f != ""; f = parentField(f) {
		if lc, ok := p.byField[f]; ok {
			return lc[0], lc[1]
		}
	}
	return 0, 0
}

func parentField(f string) string {
	i := strings.LastIndexAny(f, ".[")
	if i < 0 {
		return ""
	}
	return f[:i]
}

func joinField(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "." + child
}
