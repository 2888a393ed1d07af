package peer

import "errors"

var (
	// ErrClosed: the endpoint (or channel) is closed.
	ErrClosed = errors.New("peer: closed")
	// ErrChannelClosed: the data channel closed.
	ErrChannelClosed = errors.New("peer: data channel closed")
	// ErrLockTimeout: no lockResponse came within the lock timeout.
	ErrLockTimeout = errors.New("peer: lock request timed out")
	// ErrNegotiation: an offer/answer exchange failed (wrapped cause).
	ErrNegotiation = errors.New("peer: negotiation failed")
	// ErrBadConfig: a Config or option value is out of range.
	ErrBadConfig = errors.New("peer: bad config")
	// ErrBadSignal: a signaling message from the remote could not be used
	// (bad SDP, bad candidate, unknown type); reported as EventError.
	ErrBadSignal = errors.New("peer: bad signal")
	// ErrUnsupported: the strategy or option cannot work with this
	// endpoint (pion cannot be the polite side of perfect negotiation).
	ErrUnsupported = errors.New("peer: unsupported")
)
