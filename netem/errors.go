package netem

import "errors"

var (
	// ErrInvalidProfile is wrapped by every profile error; the error names
	// the file, line and field, and says what was expected.
	ErrInvalidProfile = errors.New("invalid profile")
	// ErrUnknownPreset is returned for a preset name that does not exist.
	ErrUnknownPreset = errors.New("unknown preset")
	// ErrBadDirection is returned for a direction other than up or down.
	ErrBadDirection = errors.New("bad direction")
	// ErrBadConfig is returned by constructors for a config they cannot use.
	ErrBadConfig = errors.New("bad config")
	// ErrClosed is returned by adapters used after Close.
	ErrClosed = errors.New("closed")
	// ErrNotSupported is returned by a shaped conn for an operation it
	// cannot carry through netem (control messages in WriteMsgUDP) or that
	// the conn it wraps does not offer (SetReadBuffer on a vnet conn).
	ErrNotSupported = errors.New("not supported")
	// ErrNotLoopback is returned by the proxies for a listen or target
	// address that is not loopback, unless their non-loopback option
	// allows it: a lab never reaches beyond the machine by mistake.
	ErrNotLoopback = errors.New("address is not loopback")
)
