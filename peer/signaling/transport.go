package signaling

import (
	"context"
	"fmt"
	"time"
)

// Transport connects one id to a signaling medium. Implementations: the
// WebSocket and SSE clients of the server, and the in-memory Loopback.
type Transport interface {
	// Name says which medium, for events and errors: ws, sse, loopback,
	// delayed.
	Name() string
	// Dial registers id and returns its session.
	Dial(ctx context.Context, id string) (Session, error)
}

// Session is one live registration of an id. A Client owns at most one at a
// time and dials a new one when it ends.
type Session interface {
	// Send delivers m (m.From is the session's id). It returns
	// ErrNotConnected once the session is gone, ErrUnknownRecipient when
	// the medium knows at once that nobody is registered under m.To, and
	// ErrTooLarge or ErrMalformed for a message the server refused.
	Send(ctx context.Context, m Message) error
	// Recv returns the next message for this id. It returns an error once
	// the session has ended: ErrNotConnected (dropped), a *RetryError
	// (the server is going away and says when to come back), or an error
	// wrapping ErrRejected.
	Recv(ctx context.Context) (Message, error)
	// Close ends the session; idempotent.
	Close() error
}

// RetryError is how a session ends when the server shuts down gracefully:
// it says when to try again (the SSE retry field, the WebSocket close
// reason, or an HTTP Retry-After header).
type RetryError struct {
	After  time.Duration
	Reason string
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("signaling: server going away (%s), retry after %v", e.Reason, e.After)
}

// Is makes a RetryError also an ErrNotConnected.
func (e *RetryError) Is(target error) bool { return target == ErrNotConnected }
