package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode: Decode never panics, and a message it accepts re-encodes to
// one it accepts again with the same from, to, type and data (data
// compared as JSON values: encoding compacts it), after which encoding is
// a fixed point.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"from":"a","to":"b","type":"offer","data":{"type":"offer","sdp":"v=0\r\n"}}`,
		`{"from":"a","to":"a","type":"ping","data":1}`,
		`{"from":"a","to":"b","type":"x","data":null}`,
		`{"from":"a","to":"b","type":"x","data":[1.50, 1e400, "<&>"]}`,
		`{"from":"\u00e9","to":"b","type":"\ud800"}`,
		`{"from":"a","from":"b","to":"c","type":"d"}`,
		`{"from":"a","to":"b","type":"x"} `,
		`{"from":"a","to":"b"}`,
		`{"from":"a/b","to":"b","type":"x"}`,
		`{"from":1}`,
		`[]`,
		``,
		"{\"from\":\"a\",\"to\":\"b\",\"type\":\"x\",\"data\":\"\xff\"}",
		"{\"from\":\"a\",\"to\":\"b\",\"type\":\"\xe2\x82\"}",
		`{"from":"mallory","From":"a","to":"b","type":"x"}`,
		`{"from":"a","to":"b","TO":"c","type":"x"}`,
		`{"from":"a","\u0066rom":"b","to":"c","type":"x"}`,
		`{"\u0066rom":"a","to":"b","type":"x"}`,
		`{"from":"a","to":"b","type":"x","data":{"from":"c","s":"\\\"}","t":[1,{"u":null}]}}`,
		` { "data" : true , "type" : "x" , "to" : "b" , "from" : "a" } `,
		`null`,
		`"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m1, err := Decode(b, 4096)
		if err != nil {
			return
		}
		if err := sameAsJSONParse(b, m1); err != nil {
			t.Fatalf("accepted %q: %v", b, err)
		}
		b2, err := m1.Encode()
		if err != nil {
			t.Fatalf("accepted %q, cannot encode it: %v", b, err)
		}
		m2, err := Decode(b2, len(b2))
		if err != nil {
			t.Fatalf("accepted %q, refused its encoding %q: %v", b, b2, err)
		}
		if m1.From != m2.From || m1.To != m2.To || m1.Type != m2.Type || !sameJSON(m1.Data, m2.Data) {
			t.Fatalf("%q decoded to %+v, re-decoded to %+v", b, m1, m2)
		}
		b3, err := m2.Encode()
		if err != nil || !bytes.Equal(b2, b3) {
			t.Fatalf("encoding is not a fixed point: %q then %q (%v)", b2, b3, err)
		}
		m3, err := Decode(b3, len(b3))
		if err != nil || !reflect.DeepEqual(m2, m3) {
			t.Fatalf("%q re-decoded to %+v, %v; want %+v", b3, m3, err, m2)
		}
	})
}

// sameAsJSONParse checks that a parser that reads keys case-sensitively
// and keeps the last duplicate (JSON.parse, which is what a browser
// recipient of the forwarded bytes uses) reads b as m, and that b is
// valid UTF-8 (a WebSocket text frame must be).
func sameAsJSONParse(b []byte, m Message) error {
	if !utf8.Valid(b) {
		return errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("not an object: %v %v", tok, err)
	}
	got := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		got[tok.(string)] = v
	}
	for k, v := range got {
		var s string
		switch k {
		case "from", "to", "type":
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("%s: %v", k, err)
			}
		}
		if k == "from" && s != m.From || k == "to" && s != m.To || k == "type" && s != m.Type ||
			k == "data" && !sameJSON(v, m.Data) && !(len(m.Data) == 0 && string(v) == "null") {
			return fmt.Errorf("JSON.parse reads %s %s, Decode %+v", k, v, m)
		}
		if k != "from" && k != "to" && k != "type" && k != "data" {
			return fmt.Errorf("key %q", k)
		}
	}
	return nil
}

// sameJSON compares two JSON texts as values (numbers as written).
func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	da := json.NewDecoder(bytes.NewReader(a))
	da.UseNumber()
	db := json.NewDecoder(bytes.NewReader(b))
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// FuzzSSEReader: the event-stream parser never panics, never returns a
// line over its limit, and every event it dispatches has data (the
// stream's data lines, so no CR and no LF beyond the joins).
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		"data: a\n\n",
		"id: 1\r\nevent: x\r\ndata: {}\r\n\r\n",
		"\xEF\xBB\xBFdata:a\rdata:b\r\r",
		": comment\nretry: 10\n\n",
		"data",
		"data: " + strings.Repeat("x", 300) + "\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := newSSEReader(bytes.NewReader(b), 256)
		for range len(b) + 1 {
			ev, err := p.next()
			if err != nil {
				return
			}
			if ev.Type == "" || strings.ContainsRune(ev.Data, '\r') || len(ev.Data) > len(b) {
				t.Fatalf("%q: event %+v", b, ev)
			}
		}
		t.Fatalf("%q: more events than bytes", b)
	})
}
