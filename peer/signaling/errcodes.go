package signaling

import (
	"errors"
	"fmt"
)

// ErrorData codes: what the server says (in a TypeError message, or an
// HTTP error body) when it refuses something, and the metrics reasons.
const (
	CodeMalformed        = "malformed"         // not JSON of the wire shape
	CodeMissingField     = "missing-field"     // from, to or type missing
	CodeTooLarge         = "too-large"         // over ServerConfig.MaxMessageBytes
	CodeForged           = "forged"            // from is not the sender's id
	CodeUnknownRecipient = "unknown-recipient" // nobody registered under to
	CodeReplaced         = "replaced"          // a newer connection took the id
	CodePingTimeout      = "ping-timeout"      // an SSE client missed a pong
	// Refusal reasons counted in Metrics.Refused that never travel in a
	// message: an HTTP request answered with an error status.
	ReasonBadID        = "bad-id"        // an id in a URL that ValidateID refuses
	ReasonShuttingDown = "shutting-down" // 503 while the server shuts down
	ReasonBadRequest   = "bad-request"   // wrong method, path or headers
)

// WebSocket close codes the server uses besides the standard ones:
// 1007 (malformed, missing-field), 1008 (forged), 1009 (too-large),
// 1001 (going away, no retry), 1012 (service restart, retry in the
// reason).
const (
	CloseUnknownRecipient = 4404
	CloseReplaced         = 4409
	ClosePingTimeout      = 4408
)

// codeOf names the refusal for an error from Decode or Validate.
func codeOf(err error) string {
	switch {
	case errors.Is(err, ErrTooLarge):
		return CodeTooLarge
	case errors.Is(err, ErrMissingField):
		return CodeMissingField
	case errors.Is(err, ErrForged):
		return CodeForged
	case errors.Is(err, ErrUnknownRecipient):
		return CodeUnknownRecipient
	}
	return CodeMalformed
}

// closeCodeOf is the WebSocket close code for a refusal code.
func closeCodeOf(code string) int {
	switch code {
	case CodeMalformed, CodeMissingField:
		return 1007 // invalid frame payload data
	case CodeForged:
		return 1008 // policy violation
	case CodeTooLarge:
		return 1009 // message too big
	case CodeUnknownRecipient:
		return CloseUnknownRecipient
	case CodeReplaced:
		return CloseReplaced
	case CodePingTimeout:
		return ClosePingTimeout
	}
	return 1008
}

// errorFromCode is how a client session reports the server's refusal: an
// error wrapping ErrRejected and the matching ErrXxx for bad input, or
// ErrNotConnected for a connection ended for another reason (replaced,
// ping timeout), which a reconnect fixes.
func errorFromCode(code, text string) error {
	var sentinel error
	switch code {
	case CodeMalformed:
		sentinel = ErrMalformed
	case CodeMissingField:
		sentinel = ErrMissingField
	case CodeTooLarge:
		sentinel = ErrTooLarge
	case CodeForged:
		sentinel = ErrForged
	case CodeUnknownRecipient:
		sentinel = ErrUnknownRecipient
	default:
		return fmt.Errorf("%w: server ended the session: %s: %s", ErrNotConnected, code, text)
	}
	return fmt.Errorf("%w: %w: %s", ErrRejected, sentinel, text)
}

// errorMessage is the TypeError message the server sends id before it
// closes it (from == to == id).
func errorMessage(id, code, text string) []byte {
	m, err := NewMessage(id, id, TypeError, ErrorData{Code: code, Message: text})
	if err != nil {
		return nil // ErrorData always encodes
	}
	b, _ := m.Encode()
	return b
}
