package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// strictCheck walks data (one syntactically valid JSON value) against the
// Go type of a run and returns the first place where json.Unmarshal would
// be lenient or vague: a top level that is not an object, a key that is
// not one of the struct's json names (encoding/json matches keys in any
// case), a key repeated in one object (encoding/json keeps the last), a
// value of the wrong kind, a number that does not fit, a time that is not
// RFC 3339. The error names the byte offset of the offending key or value
// (bytes before it) and its JSON path: cases[1].timeline[0].at_s,
// environment.modules["github.com/pion/ice/v4"].
//
// A null is accepted where any value is, as json.Unmarshal accepts it (it
// leaves the field as it was); a null run is not.
func strictCheck(data []byte, t reflect.Type) error {
	w := &walker{dec: json.NewDecoder(bytes.NewReader(data)), data: data}
	w.dec.UseNumber()
	off := w.next()
	tok, err := w.dec.Token()
	if err != nil {
		return fmt.Errorf("byte %d: %w", off, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("byte %d: not a JSON object: got %s", off, got(tok))
	}
	return w.object(t, "")
}

// walker reads tokens and knows where they start.
type walker struct {
	dec  *json.Decoder
	data []byte
}

// next is the offset where the next token starts: past the end of the
// last one, whitespace, and the ':' or ',' that json.Decoder.Token reads
// as part of the next token.
func (w *walker) next() int {
	i := int(w.dec.InputOffset())
	for i < len(w.data) && strings.IndexByte(" \t\r\n:,", w.data[i]) >= 0 {
		i++
	}
	return i
}

// value reads one value that t must be able to hold.
func (w *walker) value(t reflect.Type, path string) error {
	off := w.next()
	tok, err := w.dec.Token()
	if err != nil {
		return fmt.Errorf("byte %d: %s: %w", off, path, err)
	}
	bad := func(detail string) error {
		return fmt.Errorf("byte %d: %s: want %s, got %s%s", off, path, want(t), got(tok), detail)
	}
	if tok == nil {
		return nil
	}
	if t == timeType {
		s, ok := tok.(string)
		if !ok {
			return bad("")
		}
		var tm time.Time
		if err := tm.UnmarshalText([]byte(s)); err != nil {
			return bad("")
		}
		return nil
	}
	switch v := tok.(type) {
	case json.Delim:
		switch {
		case v == '{' && t.Kind() == reflect.Struct:
			return w.object(t, path)
		case v == '{' && t.Kind() == reflect.Map:
			return w.dict(t, path)
		case v == '[' && t.Kind() == reflect.Slice:
			for i := 0; w.dec.More(); i++ {
				if err := w.value(t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
			_, err := w.dec.Token() // ']'
			return err
		}
		return bad("")
	case string:
		if t.Kind() != reflect.String {
			return bad("")
		}
	case bool:
		if t.Kind() != reflect.Bool {
			return bad("")
		}
	case json.Number:
		var err error
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			_, err = strconv.ParseInt(string(v), 10, t.Bits())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			_, err = strconv.ParseUint(string(v), 10, t.Bits())
		case reflect.Float32, reflect.Float64:
			_, err = strconv.ParseFloat(string(v), t.Bits())
		default:
			return bad("")
		}
		if errors.Is(err, strconv.ErrRange) {
			return bad(" (out of range)")
		} else if err != nil {
			return bad("")
		}
	}
	return nil
}

// object reads the keys and values of an object, past its '{', into the
// struct type t.
func (w *walker) object(t reflect.Type, path string) error {
	fields := jsonFields(t)
	seen := map[string]int{}
	for w.dec.More() {
		key, at, off, err := w.key(path, seen, join)
		if err != nil {
			return err
		}
		ft, ok := fields[key]
		if !ok {
			for name := range fields {
				if strings.EqualFold(name, key) {
					return fmt.Errorf("byte %d: %s: unknown field; keys are case-sensitive: want %q", off, at, name)
				}
			}
			return fmt.Errorf("byte %d: %s: unknown field", off, at)
		}
		if err := w.value(ft, at); err != nil {
			return err
		}
	}
	_, err := w.dec.Token() // '}'
	return err
}

// dict reads the keys and values of an object, past its '{', into the map
// type t (string keys).
func (w *walker) dict(t reflect.Type, path string) error {
	seen := map[string]int{}
	for w.dec.More() {
		_, at, _, err := w.key(path, seen, func(path, key string) string { return fmt.Sprintf("%s[%q]", path, key) })
		if err != nil {
			return err
		}
		if err := w.value(t.Elem(), at); err != nil {
			return err
		}
	}
	_, err := w.dec.Token() // '}'
	return err
}

// key reads an object's next key: the key, its path (made by name), and
// its offset. A key already in seen (keys by offset) is an error.
func (w *walker) key(path string, seen map[string]int, name func(path, key string) string) (key, at string, off int, err error) {
	off = w.next()
	tok, err := w.dec.Token()
	if err != nil {
		return "", "", off, fmt.Errorf("byte %d: %s: %w", off, path, err)
	}
	key = tok.(string) // object keys are strings
	at = name(path, key)
	if first, dup := seen[key]; dup {
		return "", "", off, fmt.Errorf("byte %d: %s: repeated key (first at byte %d)", off, at, first)
	}
	seen[key] = off
	return key, at, off, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var timeType = reflect.TypeFor[time.Time]()

// want says in JSON's words what a value of t is.
func want(t reflect.Type) string {
	if t == timeType {
		return "a time (RFC 3339 string)"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer >= 0"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

// got says what a token is: a number or a string as written, the kind
// of anything else.
func got(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "an object"
	case string:
		const max = 40
		if len(v) > max {
			return "string " + strconv.Quote(v[:max]) + "..."
		}
		return "string " + strconv.Quote(v)
	case json.Number:
		return "number " + string(v)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	}
	return fmt.Sprint(tok)
}

var fieldsCache sync.Map // reflect.Type -> map[string]reflect.Type

// jsonFields maps the json names of struct type t to their types, as
// encoding/json names them (the tag's name, else the Go name; "-" and
// unexported fields left out). The run's types embed no structs.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldsCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldsCache.Store(t, m)
	return m
}
