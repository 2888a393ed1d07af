package lab

import "errors"

var (
	// ErrBadTopology: a topology (or an option) is unusable; the message
	// names the field and what was expected.
	ErrBadTopology = errors.New("lab: bad topology")
	// ErrNoEndpoint: no endpoint has that name.
	ErrNoEndpoint = errors.New("lab: no such endpoint")
	// ErrUnsupported: the operation does not apply to this topology (a NAT
	// rebinding without a NAT, a server restart without a server, ...).
	ErrUnsupported = errors.New("lab: unsupported")
	// ErrClosed: the lab is closed.
	ErrClosed = errors.New("lab: closed")
)
