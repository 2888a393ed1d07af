package signaling

import (
	"errors"
	"strings"
	"testing"
)

// Decode refuses what another parser would read differently from it (the
// server forwards the bytes it checked), and says what it found.
func TestDecodeStrictness(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     error  // nil: accepted
		text     string // in the error
	}{
		// encoding/json keeps the last duplicate and matches any case;
		// JSON.parse keeps the last duplicate of the exact key.
		{"case of from", `{"from":"mallory","From":"alice","to":"bob","type":"x"}`, ErrMalformed, `key "From": fields are case-sensitive, want "from"`},
		{"case of to", `{"from":"alice","to":"bob","TO":"carol","type":"x"}`, ErrMalformed, `key "TO": fields are case-sensitive, want "to"`},
		{"case alone", `{"from":"alice","to":"bob","Type":"x"}`, ErrMalformed, `key "Type": fields are case-sensitive, want "type"`},
		{"case of data", `{"from":"alice","to":"bob","type":"x","dAtA":1}`, ErrMalformed, `key "dAtA"`},
		{"duplicate from", `{"from":"mallory","from":"alice","to":"bob","type":"x"}`, ErrMalformed, `duplicate key "from"`},
		{"duplicate to", `{"from":"alice","to":"bob","type":"x","to":"carol"}`, ErrMalformed, `duplicate key "to"`},
		{"duplicate data", `{"from":"a","to":"b","type":"x","data":1,"data":2}`, ErrMalformed, `duplicate key "data"`},
		{"duplicate escaped", `{"from":"alice","\u0066rom":"mallory","to":"bob","type":"x"}`, ErrMalformed, `duplicate key "from"`},
		{"escaped key", `{"\u0066rom":"a","to":"b","type":"x"}`, nil, ""},
		{"spaces", " {\n\t\"from\" : \"a\" ,\r\n \"to\":\"b\",\"type\" :\"x\" , \"data\" : [ 1 , {\"a\":\"}\"} , \"\\\\\" ] } ", nil, ""},
		{"data is opaque", `{"from":"a","to":"b","type":"x","data":{"From":1,"from":2,"s":"\"from\":"}}`, nil, ""},
		{"literals", `{"data":null,"from":"a","to":"b","type":"x"}`, nil, ""},
		{"number last", `{"from":"a","to":"b","type":"x","data":-1.5e3}`, nil, ""},
		{"unknown field", `{"from":"a","to":"b","type":"x","extra":1}`, ErrMalformed, `unknown field "extra"`},

		{"raw 0xff", "{\"from\":\"a\",\"to\":\"b\",\"type\":\"x\",\"data\":\"\xff\"}", ErrMalformed, "invalid UTF-8 at byte offset 40 (0xff)"},
		{"cut sequence", "{\"from\":\"a\",\"to\":\"b\",\"type\":\"x\",\"data\":\"\xe2\x82\"}", ErrMalformed, "invalid UTF-8 at byte offset 40 (0xe2)"},
		{"overlong", "{\"from\":\"a\",\"to\":\"b\",\"type\":\"\xc0\xaf\"}", ErrMalformed, "invalid UTF-8 at byte offset 29 (0xc0)"},
		{"surrogate", "{\"from\":\"a\",\"to\":\"b\",\"type\":\"x\",\"data\":\"\xed\xa0\x80\"}", ErrMalformed, "invalid UTF-8 at byte offset 40 (0xed)"},
		{"in a key", "{\"from\":\"a\",\"to\":\"b\",\"type\":\"x\",\"\xff\":1}", ErrMalformed, "invalid UTF-8 at byte offset 33"},
		{"valid UTF-8", `{"from":"é","to":"b","type":"x","data":"€😀"}`, nil, ""},
		{"escaped surrogate", `{"from":"a","to":"b","type":"x","data":"\ud800"}`, nil, ""}, // ASCII on the wire

		{"null", `null`, ErrMalformed, "not a JSON object: got null"},
		{"spaced null", " null\n", ErrMalformed, "not a JSON object: got null"},
		{"array", `[]`, ErrMalformed, "not a JSON object: got JSON array"},
		{"string", `"x"`, ErrMalformed, "not a JSON object: got JSON string"},
		{"number", `1`, ErrMalformed, "not a JSON object: got JSON number"},
		{"bool", `true`, ErrMalformed, "not a JSON object: got JSON bool"},
		{"not JSON", `nul`, ErrMalformed, "invalid JSON"},
		{"cut JSON", `{"from":"a"`, ErrMalformed, "invalid JSON: it ends in the middle of a value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode([]byte(tc.in), 0)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("Decode(%q): %v", tc.in, err)
			case tc.want == nil && (m.From == "" || m.To != "b" || m.Type != "x"):
				t.Fatalf("Decode(%q) = %+v", tc.in, m)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("Decode(%q) = %v, want %v", tc.in, err, tc.want)
			case tc.want != nil && !strings.Contains(err.Error(), tc.text):
				t.Fatalf("Decode(%q) = %v, want it to say %s", tc.in, err, tc.text)
			case err != nil && strings.Contains(err.Error(), "signaling.Message"):
				t.Fatalf("Decode(%q) = %v: a Go type name", tc.in, err)
			}
			if err != nil && codeOf(err) != CodeMalformed {
				t.Errorf("code %s, want %s", codeOf(err), CodeMalformed)
			}
		})
	}
}
