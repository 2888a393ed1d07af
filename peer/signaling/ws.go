package signaling

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/netlab/netlab/internal/feed"
)

// WSTransport reaches a server over WebSocket: one connection to
// ws://HOST/<id> per session.
type WSTransport struct {
	base   *url.URL     // read-only
	cfg    remoteConfig // read-only
	dialer websocket.Dialer
}

// NewWSTransport checks baseURL (http://HOST:PORT or ws://HOST:PORT, as
// Server.URL gives it) and that it is loopback unless AllowNonLoopback.
func NewWSTransport(baseURL string, opts ...RemoteOption) (*WSTransport, error) {
	cfg, err := newRemoteConfig(opts)
	if err != nil {
		return nil, err
	}
	u, err := parseBaseURL(baseURL, cfg.allowNonLoopback)
	if err != nil {
		return nil, err
	}
	return &WSTransport{
		base: u,
		cfg:  cfg,
		dialer: websocket.Dialer{
			NetDialContext:   loopbackDialer(cfg.dialTimeout, cfg.allowNonLoopback).DialContext,
			HandshakeTimeout: cfg.dialTimeout,
		},
	}, nil
}

// Name is "ws".
func (t *WSTransport) Name() string { return "ws" }

// Dial connects as id and returns once the server has registered it (its
// listing, the first message, has arrived; Recv returns it first).
func (t *WSTransport) Dial(ctx context.Context, id string) (Session, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	target := withScheme(t.base, true, "/"+url.PathEscape(id))
	ctx, cancel := context.WithTimeout(ctx, t.cfg.dialTimeout)
	defer cancel()
	conn, resp, err := t.dialer.DialContext(ctx, target, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: ws %s: %w", ErrNotConnected, target, ctx.Err())
		}
		return nil, dialError("ws", target, resp, err)
	}
	conn.SetReadLimit(int64(t.cfg.recvLimit()))
	s := &wsSession{
		id:    id,
		conn:  conn,
		cfg:   t.cfg,
		q:     feed.NewQueue[Message](),
		ready: make(chan struct{}),
		ended: make(chan struct{}),
		done:  make(chan struct{}),
	}
	go s.readLoop()
	select {
	case <-s.ready:
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("%w: ws %s: no listing from the server: %w", ErrNotConnected, target, ctx.Err())
	}
	if s.q.Len() == 0 {
		err := s.endErr()
		s.Close()
		return nil, err
	}
	return s, nil
}

// wsSession is one WebSocket connection: a reader goroutine feeds the
// queue Recv pops; Send writes under writeMu.
type wsSession struct {
	id   string
	conn *websocket.Conn
	cfg  remoteConfig
	q    *feed.Queue[Message]

	ready     chan struct{} // closed at the first message or the end
	readyOnce sync.Once
	ended     chan struct{} // closed by finish
	done      chan struct{} // closed when the reader has returned

	writeMu sync.Mutex // gorilla allows one writer at a time

	mu        sync.Mutex
	err       error      // guarded by mu: why the session ended
	serverErr *ErrorData // guarded by mu: the last TypeError the server sent us

	finishOnce sync.Once
	closeOnce  sync.Once
}

func (s *wsSession) readLoop() {
	defer close(s.done)
	for {
		_, b, err := s.conn.ReadMessage()
		if err != nil {
			s.finish(s.readError(err))
			return
		}
		m, err := Decode(b, s.cfg.recvLimit())
		if err != nil {
			s.finish(fmt.Errorf("%w: the server sent a bad message: %w", ErrNotConnected, err))
			return
		}
		if m.Type == TypeError && m.From == s.id && m.To == s.id {
			var e ErrorData
			if m.DecodeData(&e) == nil {
				s.mu.Lock()
				s.serverErr = &e
				s.mu.Unlock()
			}
		}
		s.q.Push(m)
		s.readyOnce.Do(func() { close(s.ready) })
	}
}

// readError says why the connection ended, from the close frame and the
// TypeError message before it.
func (s *wsSession) readError(err error) error {
	select {
	case <-s.ended:
		return nil // Close or a failed Send said first
	default:
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		return fmt.Errorf("%w: ws: %v", ErrNotConnected, err)
	}
	if ce.Code == websocket.CloseServiceRestart {
		after, _ := parseRetryReason(ce.Text)
		return &RetryError{After: after, Reason: fmt.Sprintf("ws close %d %q", ce.Code, ce.Text)}
	}
	s.mu.Lock()
	se := s.serverErr
	s.mu.Unlock()
	if se != nil {
		return errorFromCode(se.Code, se.Message)
	}
	code := map[int]string{
		websocket.CloseInvalidFramePayloadData: CodeMalformed,
		websocket.ClosePolicyViolation:         CodeForged,
		websocket.CloseMessageTooBig:           CodeTooLarge,
		CloseUnknownRecipient:                  CodeUnknownRecipient,
		CloseReplaced:                          CodeReplaced,
		ClosePingTimeout:                       CodePingTimeout,
	}[ce.Code]
	if code == "" {
		return fmt.Errorf("%w: ws closed by the server: %d %q", ErrNotConnected, ce.Code, ce.Text)
	}
	return errorFromCode(code, fmt.Sprintf("ws close %d %q", ce.Code, ce.Text))
}

// finish ends the session once with err (nil keeps an earlier reason).
func (s *wsSession) finish(err error) {
	s.finishOnce.Do(func() {
		if err == nil {
			err = fmt.Errorf("%w: ws session closed", ErrNotConnected)
		}
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.ended)
		s.q.Close()
		s.readyOnce.Do(func() { close(s.ready) })
	})
}

func (s *wsSession) endErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Send writes m; it returns once the frame is on the socket (the server
// refuses bad input by closing, which Recv reports).
func (s *wsSession) Send(ctx context.Context, m Message) error {
	b, err := encodeForSend(ctx, s.ended, s.endErr, m, s.cfg.maxMessageBytes)
	if err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	d, ok := ctx.Deadline()
	s.conn.SetWriteDeadline(s.cfg.sendDeadline(d, ok))
	if err := s.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		err = fmt.Errorf("%w: ws write: %v", ErrNotConnected, err)
		s.finish(err)
		s.conn.Close()
		return err
	}
	return nil
}

// Recv returns the next message, or why the session ended.
func (s *wsSession) Recv(ctx context.Context) (Message, error) {
	m, err := s.q.Pop(ctx)
	if errors.Is(err, feed.ErrClosed) {
		return Message{}, s.endErr()
	}
	return m, err
}

// Close sends a normal close frame, waits briefly for the server's
// reply, and closes; it waits for the reader. Idempotent.
func (s *wsSession) Close() error {
	s.closeOnce.Do(func() {
		select {
		case <-s.ended:
		default:
			s.finish(nil)
			frame := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			if s.conn.WriteControl(websocket.CloseMessage, frame, time.Now().Add(time.Second)) == nil {
				t := time.NewTimer(time.Second)
				select {
				case <-s.done: // the server's close reply
				case <-t.C:
				}
				t.Stop()
			}
		}
		s.conn.Close()
		<-s.done
	})
	return nil
}
