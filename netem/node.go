package netem

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

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
		return nil, yamlPosError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &posError{line: extra.Line, col: extra.Column, msg: "want one YAML document, found a second"}
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
			if prev, dup := seen[k.Value]; dup {
				return nil, &posError{line: k.Line, col: k.Column, msg: fmt.Sprintf("%q is set twice (first on line %d)", k.Value, prev)}
			}
			seen[k.Value] = k.Line
			val, err := convertYAML(v, depth+1)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, &node{kind: scalarNode, scalar: k.Value, line: k.Line, col: k.Column})
			n.vals = append(n.vals, val)
		}
		return n, nil
	}
	return nil, &posError{line: y.Line, col: y.Column, msg: "unexpected YAML node"}
}

// yamlPosError turns "yaml: line 3: ..." into a positioned error.
func yamlPosError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
		if i := strings.Index(msg, ":"); i >= 0 {
			msg = strings.TrimSpace(msg[i+1:])
		}
	}
	return &posError{line: line, msg: "YAML syntax: " + msg}
}

// jsonToNode parses strict JSON, keeping positions: encoding/json's
// Decoder reports offsets, which a line index turns into line and column.
func jsonToNode(data []byte) (*node, error) {
	lines := newLineIndex(data)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := readJSON(dec, lines, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		l, c := lines.pos(dec.InputOffset())
		return nil, &posError{line: l, col: c, msg: "JSON syntax: unexpected data after the top-level value"}
	}
	return n, nil
}

func readJSON(dec *json.Decoder, lines lineIndex, depth int) (*node, error) {
	tok, err := dec.Token()
	l, c := lines.pos(dec.InputOffset())
	if err != nil {
		return nil, jsonPosError(err, lines, dec.InputOffset())
	}
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
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, jsonPosError(err, lines, dec.InputOffset())
				}
				kl, kc := lines.pos(dec.InputOffset())
				key, _ := kt.(string)
				if prev, dup := seen[key]; dup {
					return nil, &posError{line: kl, col: kc, msg: fmt.Sprintf("%q is set twice (first on line %d)", key, prev)}
				}
				seen[key] = kl
				v, err := readJSON(dec, lines, depth+1)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, &node{kind: scalarNode, scalar: key, quoted: true, line: kl, col: kc})
				n.vals = append(n.vals, v)
			}
		case '[':
			n.kind = seqNode
			for dec.More() {
				v, err := readJSON(dec, lines, depth+1)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, v)
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, jsonPosError(err, lines, dec.InputOffset())
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
