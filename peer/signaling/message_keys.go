package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// wireFields are the keys of a wire message, as Message's json tags
// spell them.
var wireFields = [...]string{"from", "to", "type", "data"}

// checkKeys makes sure the top-level keys of b are wireFields exactly,
// each at most once. encoding/json matches keys case-insensitively and
// keeps the last duplicate, so without this {"from":"mallory",
// "From":"alice"} decodes as from alice, passes the forgery check on
// alice's socket, and reaches a browser (whose JSON.parse is
// case-sensitive) as from mallory; {"to":"bob","TO":"carol"} is routed
// to carol while saying bob.
//
// b must be one JSON value that encoding/json has already decoded into a
// Message (an object or null, maybe with whitespace around it): the scan
// only finds where keys and values end and does not validate, which keeps
// it to one cheap pass without allocations for the usual message.
func checkKeys(b []byte) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errors.New("not a JSON object: got null") // the only other value Decode lets through
	}
	var seen [len(wireFields)]bool
	for i = skipSpace(b, i+1); i < len(b) && b[i] == '"'; {
		end := stringEnd(b, i)
		if end < 0 {
			return errors.New("unterminated key") // not valid JSON: cannot happen after decoding
		}
		key := b[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			// "\u0066rom" is "from" to every parser.
			var s string
			if err := json.Unmarshal(b[i:end], &s); err != nil {
				return fmt.Errorf("key %s: %v", b[i:end], err)
			}
			key = []byte(s)
		}
		f := fieldIndex(key)
		if f < 0 {
			return keyError(string(key))
		}
		if seen[f] {
			return fmt.Errorf("duplicate key %q", wireFields[f])
		}
		seen[f] = true
		i = skipSpace(b, end) // at ':'
		i = skipSpace(b, valueEnd(b, skipSpace(b, i+1)))
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return nil
}

func fieldIndex(key []byte) int {
	for f, name := range wireFields {
		if string(key) == name {
			return f
		}
	}
	return -1
}

func keyError(key string) error {
	for _, name := range wireFields {
		if strings.EqualFold(key, name) {
			return fmt.Errorf("key %q: fields are case-sensitive, want %q", key, name)
		}
	}
	return fmt.Errorf("unknown field %q", key)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd is the offset just past the string that opens at b[i], or -1.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			break
		}
		j += k
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
	}
	return -1
}

// valueEnd is the offset just past the value that starts at b[i].
func valueEnd(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			end := stringEnd(b, i)
			if end < 0 {
				return len(b)
			}
			if depth == 0 {
				return end
			}
			i = end
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // a number or literal ends at its object's end
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}
