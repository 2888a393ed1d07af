package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// Message types of the wire protocol (PROTOCOL.md). Any other type is
// forwarded unchanged; the peer adds its own (heartbeat, bye).
const (
	TypeOffer        = "offer"
	TypeAnswer       = "answer"
	TypeICECandidate = "icecandidate"
	TypeLockRequest  = "lockRequest"
	TypeLockResponse = "lockResponse"
	// TypePing and TypePong: the server pings each SSE client with a
	// message whose from and to are both the client's id; the client
	// answers a pong with from == to.
	TypePing = "ping"
	TypePong = "pong"
	// TypeListing: sent by the server to every client on connect, data
	// Listing; also served at GET /listing.
	TypeListing = "listing"
	// TypeError: sent by the server (from == to == the client's id) before
	// it closes a WebSocket for bad input, data ErrorData.
	TypeError = "error"
)

// DefaultMaxMessageBytes is the default size limit of one encoded message.
const DefaultMaxMessageBytes = 64 << 10

// MaxIDLen bounds an id (it travels in a URL path).
const MaxIDLen = 256

// Message is one signaling message: {"from","to","type","data"}. Data is
// kept as raw JSON so a message is forwarded byte for byte.
type Message struct {
	From string          `json:"from"`
	To   string          `json:"to"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Listing is the data of a listing message: the client's address as the
// server saw it, the server version, and the ids connected.
type Listing struct {
	IP      string   `json:"ip"`
	Version string   `json:"version"`
	Peers   []string `json:"peers"`
}

// ErrorData is the data of an error message from the server.
type ErrorData struct {
	Code    string `json:"code"`    // one of the Code constants (errcodes.go)
	Message string `json:"message"` // what was wrong, for people
}

// NewMessage builds a message, encoding data as JSON (nil data is omitted).
func NewMessage(from, to, typ string, data any) (Message, error) {
	m := Message{From: from, To: to, Type: typ}
	if data != nil {
		raw, err := json.Marshal(data)
		if err != nil {
			return Message{}, fmt.Errorf("signaling: %s data: %w", typ, err)
		}
		m.Data = raw
	}
	return m, nil
}

// Encode returns the wire form.
func (m Message) Encode() ([]byte, error) {
	return json.Marshal(m)
}

// DecodeData decodes m.Data into v, naming the message in the error.
func (m Message) DecodeData(v any) error {
	if len(m.Data) == 0 {
		return fmt.Errorf("%w: %s from %q has no data", ErrMissingField, m.Type, m.From)
	}
	if err := json.Unmarshal(m.Data, v); err != nil {
		return fmt.Errorf("%w: %s from %q: data: %v", ErrMalformed, m.Type, m.From, err)
	}
	return nil
}

// Decode parses one wire message strictly: a single JSON object of valid
// UTF-8, at most max bytes (0 means DefaultMaxMessageBytes), whose keys
// are "from", "to", "type" and "data" exactly, each at most once, with
// from/to/type non-empty strings. Errors wrap ErrTooLarge, ErrMalformed
// or ErrMissingField and say what was found.
//
// The strictness is what makes relaying the original bytes safe: the
// server checks the message Decode returns but forwards b, so b must mean
// the same to the recipient's parser (a browser's JSON.parse, which is
// case-sensitive and keeps the last duplicate) as it did here, and must
// be valid UTF-8 to travel in a WebSocket text frame.
func Decode(b []byte, max int) (Message, error) {
	if max <= 0 {
		max = DefaultMaxMessageBytes
	}
	if len(b) > max {
		return Message{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), max)
	}
	if !utf8.Valid(b) {
		// encoding/json would turn the byte into U+FFFD here, but the
		// recipient gets it raw, and a browser fails a WebSocket whose
		// text frame is not UTF-8.
		i := invalidUTF8At(b)
		return Message{}, fmt.Errorf("%w: invalid UTF-8 at byte offset %d (%#02x)", ErrMalformed, i, b[i])
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Message
	if err := dec.Decode(&m); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrMalformed, describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return Message{}, fmt.Errorf("%w: trailing data after the JSON object", ErrMalformed)
	}
	if err := checkKeys(b); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := m.Validate(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// Validate checks the fields every message needs.
func (m Message) Validate() error {
	switch {
	case m.From == "":
		return fmt.Errorf("%w: from", ErrMissingField)
	case m.To == "":
		return fmt.Errorf("%w: to", ErrMissingField)
	case m.Type == "":
		return fmt.Errorf("%w: type", ErrMissingField)
	}
	if err := ValidateID(m.From); err != nil {
		return fmt.Errorf("%w: from: %v", ErrMalformed, err)
	}
	if err := ValidateID(m.To); err != nil {
		return fmt.Errorf("%w: to: %v", ErrMalformed, err)
	}
	return nil
}

// ValidateID reports whether id can be registered: non-empty, at most
// MaxIDLen bytes, no '/', '?', '#', '%' or control characters.
func ValidateID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrBadID)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrBadID, len(id), MaxIDLen)
	}
	for _, r := range id {
		if r == '/' || r == '?' || r == '#' || r == '%' || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("%w: %q holds %q", ErrBadID, id, r)
		}
	}
	return nil
}

func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == io.EOF:
		return "empty message"
	case err == io.ErrUnexpectedEOF:
		return "invalid JSON: it ends in the middle of a value"
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err)
	case errors.As(err, &te) && te.Field == "":
		return "not a JSON object: got JSON " + te.Value
	case errors.As(err, &te):
		return fmt.Sprintf("field %q: want %s, got JSON %s", te.Field, te.Type, te.Value)
	}
	return err.Error()
}

// invalidUTF8At is the offset of the first byte of b that is not part of
// a valid UTF-8 sequence, or -1.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}
