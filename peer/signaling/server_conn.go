package signaling

import (
	"errors"
	"sync"
	"sync/atomic"
)

type connKind int

const (
	kindWS connKind = iota
	kindSSE
)

func (k connKind) String() string {
	if k == kindWS {
		return "ws"
	}
	return "sse"
}

// outMsg is one message waiting in a client's outgoing queue.
type outMsg struct {
	raw   []byte
	typ   string
	relay bool       // a client's message (counted as relayed), not the server's own
	done  chan error // capacity 1; nil when nobody waits for the write
}

// peerConn is one registered client, WebSocket or SSE. Its single writer
// (the WebSocket write loop, or the SSE stream handler) drains out in
// order.
type peerConn struct {
	s     *Server
	id    string // read-only
	ip    string // read-only: the client's address as the server saw it
	kind  connKind
	token string // read-only; SSE: the session a POST may name
	out   chan outMsg

	ending  chan struct{} // closed by end
	endOnce sync.Once
	// Written once by end before ending is closed, read after it.
	endCode   int    // WebSocket close code; 0: no close frame (the connection is broken)
	endReason string // close reason
	endMsg    []byte // a TypeError message to write first, or nil

	awaitingPong atomic.Bool // SSE: a ping went out and no pong came back yet
}

var (
	errRecipientGone = errors.New("recipient disconnected before delivery")
	errServerQuit    = errors.New("server shutting down")
	errSenderGone    = errors.New("sender gone")
)

func newPeerConn(s *Server, kind connKind, id, ip string) *peerConn {
	return &peerConn{
		s:      s,
		id:     id,
		ip:     ip,
		kind:   kind,
		out:    make(chan outMsg, s.cfg.QueueLength),
		ending: make(chan struct{}),
	}
}

// end starts the end of the connection, once: it unregisters the id (so
// new messages for it are refused at once) and tells the writer what to
// send last.
func (c *peerConn) end(code int, reason string, msg []byte) {
	c.endOnce.Do(func() {
		c.endCode, c.endReason, c.endMsg = code, reason, msg
		c.s.unregister(c)
		close(c.ending)
	})
}

func (c *peerConn) isEnding() bool {
	select {
	case <-c.ending:
		return true
	default:
		return false
	}
}

// enqueue waits for room in c's queue; it gives up when c ends, the
// server shuts down, or cancel is closed (the sender went away).
func (c *peerConn) enqueue(m outMsg, cancel <-chan struct{}) error {
	select {
	case c.out <- m:
		return nil
	case <-c.ending:
		return errRecipientGone
	case <-c.s.quit:
		return errServerQuit
	case <-cancel:
		return errSenderGone
	}
}

// written reports a write of m to its waiter and to the metrics.
func (c *peerConn) written(m outMsg, err error) {
	if err == nil && m.relay {
		c.s.m.relay(len(m.raw))
	}
	if m.done != nil {
		m.done <- err
	}
}
