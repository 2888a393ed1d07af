package netem

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// node is a parsed document, YAML or JSON, with the position of every value,
// so that one strict decoder serves both formats with the same errors.
type node struct {
	kind      nodeKind
	scalar    string // the text of a scalar
	quoted    bool   // a quoted string: never a number or a bool
	line, col int
	keys      []*node // mapping keys (scalars), in document order
	vals      []*node // mapping values, or sequence items
	// firstLine is set on a mapping key that repeats an earlier one: the
	// line of the first. The decoder reports it with the field's path and
	// goes on, so that one run reports every problem.
	firstLine int
}

type nodeKind uint8

const (
	nullNode nodeKind = iota
	scalarNode
	mapNode
	seqNode
)

func (n *node) describe() string {
	switch n.kind {
	case nullNode:
		return "nothing"
	case mapNode:
		return "a mapping"
	case seqNode:
		return "a list"
	}
	if n.quoted {
		return fmt.Sprintf("%q", n.scalar)
	}
	return n.scalar
}

// maxDepth bounds nesting; a profile is at most five levels deep.
const maxDepth = 32

// errEmptyProfile: a file with no document at all (empty, or only
// comments) is most likely a failed write or download, not a wish for a
// perfect link, which "{}" or a name alone still says.
var errEmptyProfile = &posError{line: 1, col: 1, msg: "empty: no profile in the file (a perfect link is the preset ideal, or a profile with only a name)"}

func yamlToNode(data []byte) (*node, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errEmptyProfile
		}
		return nil, yamlSyntaxError(data, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, &posError{line: extra.Line, col: extra.Column, msg: "want one YAML document, found a second"}
	case !errors.Is(err, io.EOF): // a second document that does not even parse
		return nil, yamlSyntaxError(data, err)
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, errEmptyProfile
		}
		return convertYAML(doc.Content[0], 0)
	}
	return convertYAML(&doc, 0)
}

func convertYAML(y *yaml.Node, depth int) (*node, error) {
	n := &node{line: y.Line, col: y.Column}
	if depth > maxDepth {
		return nil, &posError{line: y.Line, col: y.Column, msg: "nested too deeply"}
	}
	switch y.Kind {
	case yaml.AliasNode:
		return nil, &posError{line: y.Line, col: y.Column, msg: "YAML aliases are not supported in profiles"}
	case yaml.ScalarNode:
		if y.Tag == "!!null" {
			n.kind = nullNode
			return n, nil
		}
		n.kind = scalarNode
		n.scalar = y.Value
		n.quoted = y.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0
		return n, nil
	case yaml.SequenceNode:
		n.kind = seqNode
		for _, c := range y.Content {
			v, err := convertYAML(c, depth+1)
			if err != nil {
				return nil, err
			}
			n.vals = append(n.vals, v)
		}
		return n, nil
	case yaml.MappingNode:
		n.kind = mapNode
		seen := map[string]int{}
		for i := 0; i+1 < len(y.Content); i += 2 {
			k, v := y.Content[i], y.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Value == "<<" {
				return nil, &posError{line: k.Line, col: k.Column, msg: "want a plain key; merge keys and complex keys are not supported"}
			}
			key := &node{kind: scalarNode, scalar: k.Value, line: k.Line, col: k.Column}
			if prev, dup := seen[k.Value]; dup {
				key.firstLine = prev
				n.keys = append(n.keys, key)
				n.vals = append(n.vals, &node{kind: nullNode, line: v.Line, col: v.Column})
				continue
			}
			seen[k.Value] = k.Line
			val, err := convertYAML(v, depth+1)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, key)
			n.vals = append(n.vals, val)
		}
		return n, nil
	}
	return nil, &posError{line: y.Line, col: y.Column, msg: "unexpected YAML node"}
}

// yamlSyntaxError places a yaml.v3 syntax error. Its message gives a line
// only, and often not the problem's: yaml.v3 names the line where the
// enclosing construct starts (the "[" of a list never closed, the value
// before a stray tab, the start of a mapping with a key out of line),
// unless that is the first line, and it counts from 0 for parser errors,
// from 1 for scanner errors. Its marks are unexported. So the problem is
// found by parsing prefixes of the document: it is the last character of
// the shortest prefix, from the construct's line on, that fails exactly as
// the whole document does (same problem, same construct). The search
// gallops from that line, then halves: about 2 log2(distance) parses, on
// the error path only.
func yamlSyntaxError(data []byte, err error) *posError {
	msg := "YAML syntax: " + yamlProblem(err)
	want := yamlShiftedError(data)
	if want == "" { // cannot happen: a blank first line changes nothing
		return &posError{msg: msg}
	}
	fails := func(n int) bool {
		for n < len(data) && !utf8.RuneStart(data[n]) {
			n++ // a prefix ends between characters, or it fails as bad UTF-8
		}
		return yamlShiftedError(data[:n]) == want
	}
	// The construct is on the named line (parser errors, shifted by the
	// blank line) or the one before (scanner errors): start before both.
	lo, hi := 0, len(data) // data[:lo] does not fail so, data[:hi] does
	var named int
	if _, scanErr := fmt.Sscanf(strings.TrimPrefix(want, "yaml: "), "line %d:", &named); scanErr == nil {
		lo = lineStart(data, named-1)
	}
	for step := 1; lo+step < hi; step *= 2 {
		if fails(lo + step) {
			hi = lo + step
			break
		}
		lo += step
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	end := hi - 1 // the problem's first byte
	for end > 0 && !utf8.RuneStart(data[end]) {
		end--
	}
	line := 1 + bytes.Count(data[:end], []byte("\n"))
	col := 1 + utf8.RuneCount(data[bytes.LastIndexByte(data[:end], '\n')+1:end])
	return &posError{line: line, col: col, msg: msg}
}

// lineStart returns the offset of 1-based line n (0 for n < 2; len(data)
// past the end).
func lineStart(data []byte, n int) int {
	off := 0
	for ; n > 1; n-- {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return len(data)
		}
		off += i + 1
	}
	return off
}

// yamlProblem is yaml.v3's message without its prefix and line.
func yamlProblem(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
		if i := strings.Index(msg, ":"); i >= 0 {
			msg = strings.TrimSpace(msg[i+1:])
		}
	}
	return msg
}

// yamlShiftedError parses every document in data after a blank line and
// returns the error's text, or "" when there is none. The blank line puts
// every construct past yaml.v3's first line, so that the line in its
// message is always the construct's, the same for every prefix that
// fails in it.
func yamlShiftedError(data []byte) string {
	const bom = "\xef\xbb\xbf" // stays first, where it means a BOM
	shifted := make([]byte, 0, len(data)+1)
	if bytes.HasPrefix(data, []byte(bom)) {
		shifted = append(shifted, bom...)
		data = data[len(bom):]
	}
	shifted = append(append(shifted, '\n'), data...)
	dec := yaml.NewDecoder(bytes.NewReader(shifted))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return ""
			}
			return err.Error()
		}
	}
}

// jsonToNode parses strict JSON, keeping positions: encoding/json's
// Decoder reports offsets, which a line index turns into line and column.
func jsonToNode(data []byte) (*node, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errEmptyProfile
	}
	r := &jsonReader{data: data, lines: newLineIndex(data), dec: json.NewDecoder(bytes.NewReader(data))}
	r.dec.UseNumber()
	n, err := r.value(0)
	if err != nil {
		return nil, err
	}
	off := r.next()
	if _, err := r.dec.Token(); !errors.Is(err, io.EOF) {
		l, c := r.lines.pos(off)
		return nil, &posError{line: l, col: c, msg: "JSON syntax: unexpected data after the top-level value"}
	}
	return n, nil
}

// jsonReader walks a JSON document token by token.
type jsonReader struct {
	data  []byte
	lines lineIndex
	dec   *json.Decoder
}

// next returns the offset where the next token starts. The Decoder's
// InputOffset is where the previous one ended: before the white space and
// the ':' or ',' that Token consumes on its way.
func (r *jsonReader) next() int64 {
	off := r.dec.InputOffset()
	for off < int64(len(r.data)) && strings.IndexByte(" \t\r\n:,", r.data[off]) >= 0 {
		off++
	}
	return off
}

func (r *jsonReader) value(depth int) (*node, error) {
	off := r.next()
	tok, err := r.dec.Token()
	if err != nil {
		return nil, jsonPosError(err, r.lines, r.dec.InputOffset())
	}
	l, c := r.lines.pos(off)
	if depth > maxDepth {
		return nil, &posError{line: l, col: c, msg: "nested too deeply"}
	}
	n := &node{line: l, col: c}
	switch t := tok.(type) {
	case nil:
		n.kind = nullNode
	case string:
		n.kind, n.scalar, n.quoted = scalarNode, t, true
	case json.Number:
		n.kind, n.scalar = scalarNode, t.String()
	case bool:
		n.kind, n.scalar = scalarNode, fmt.Sprint(t)
	case json.Delim:
		switch t {
		case '{':
			n.kind = mapNode
			seen := map[string]int{}
			for r.dec.More() {
				koff := r.next()
				kt, err := r.dec.Token()
				if err != nil {
					return nil, jsonPosError(err, r.lines, r.dec.InputOffset())
				}
				kl, kc := r.lines.pos(koff)
				k, _ := kt.(string)
				key := &node{kind: scalarNode, scalar: k, quoted: true, line: kl, col: kc}
				if prev, dup := seen[k]; dup {
					key.firstLine = prev
				} else {
					seen[k] = kl
				}
				v, err := r.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, key)
				n.vals = append(n.vals, v)
			}
		case '[':
			n.kind = seqNode
			for r.dec.More() {
				v, err := r.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, v)
			}
		}
		if _, err := r.dec.Token(); err != nil { // the closing delimiter
			return nil, jsonPosError(err, r.lines, r.dec.InputOffset())
		}
	}
	return n, nil
}

func jsonPosError(err error, lines lineIndex, off int64) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	l, c := lines.pos(off)
	msg := err.Error()
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "unexpected end of input (truncated?)"
	}
	return &posError{line: l, col: c, msg: "JSON syntax: " + msg}
}

// lineIndex maps byte offsets to 1-based line and column.
type lineIndex []int64 // offsets of line starts

func newLineIndex(data []byte) lineIndex {
	idx := lineIndex{0}
	for i, b := range data {
		if b == '\n' {
			idx = append(idx, int64(i+1))
		}
	}
	return idx
}

func (li lineIndex) pos(off int64) (line, col int) {
	lo, hi := 0, len(li)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if li[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo + 1, int(off-li[lo]) + 1
}

// posError is a problem at a position, before the file name is known.
type posError struct {
	line, col int
	msg       string
}

func (e *posError) Error() string { return e.msg }
