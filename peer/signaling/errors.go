package signaling

import "errors"

var (
	// ErrMalformed: a message is not a JSON object of the wire shape
	// {"from","to","type","data"} (bad JSON, not an object, invalid
	// UTF-8, a wrong field type, an unknown field, a key repeated or
	// spelt in another case).
	ErrMalformed = errors.New("signaling: malformed message")
	// ErrMissingField: a message lacks from, to or type.
	ErrMissingField = errors.New("signaling: missing field")
	// ErrTooLarge: a message is over the size limit (default 64 KiB).
	ErrTooLarge = errors.New("signaling: message too large")
	// ErrUnknownRecipient: no client is registered under the message's to.
	ErrUnknownRecipient = errors.New("signaling: unknown recipient")
	// ErrForged: a message's from is not the id of the connection it came on.
	ErrForged = errors.New("signaling: forged from")
	// ErrQueueFull: the client is down and its outgoing queue is full.
	ErrQueueFull = errors.New("signaling: outgoing queue full")
	// ErrClosed: the client, server or subscription is closed.
	ErrClosed = errors.New("signaling: closed")
	// ErrNotConnected: the session is gone (a transport's Send after the
	// connection dropped); the client queues and reconnects.
	ErrNotConnected = errors.New("signaling: not connected")
	// ErrRejected: the server refused the connection or closed it for a
	// reason that reconnecting will not fix as is (the reason is wrapped).
	ErrRejected = errors.New("signaling: rejected by server")
	// ErrBadID: an id is empty, too long, or holds '/', '?', '#' or a
	// control character (ids travel in URL paths).
	ErrBadID = errors.New("signaling: bad id")
)

// ErrVersionMismatch: the server's listing names another version than the
// client was built for (carried by EventVersionMismatch).
var ErrVersionMismatch = errors.New("signaling: version mismatch")
