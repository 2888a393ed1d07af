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
)
