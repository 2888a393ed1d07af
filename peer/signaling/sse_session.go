package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/netlab/netlab/internal/feed"
)

// sseSession is one event stream and the POSTs that go with it.
//
//	GET /messages/<id> ──▶ readLoop ──▶ queue ──▶ Recv
//	                          └─ ping ──▶ pongLoop ──▶ POST pong
//	Send ──sendMu──▶ POST /message (answered once delivered)
type sseSession struct {
	id      string
	cfg     remoteConfig
	hc      *http.Client
	postURL string
	token   string // set by Dial before the goroutines start
	ctx     context.Context
	cancel  context.CancelFunc
	q       *feed.Queue[Message]
	pings   chan json.RawMessage // capacity 1: the latest ping to answer

	ready     chan struct{} // closed at the first message or the end
	readyOnce sync.Once
	ended     chan struct{} // closed by finish
	wg        sync.WaitGroup

	sendMu sync.Mutex // one POST at a time keeps the sends in order

	mu        sync.Mutex
	err       error      // guarded by mu: why the session ended
	serverErr *ErrorData // guarded by mu: the last TypeError the server sent us

	finishOnce sync.Once
	closeOnce  sync.Once
}

func (s *sseSession) readLoop(body io.ReadCloser) {
	defer s.wg.Done()
	defer body.Close()
	limit := s.cfg.recvLimit()
	p := newSSEReader(body, limit+len("data: "))
	for {
		ev, err := p.next()
		if err != nil {
			s.finish(s.streamError(err, p))
			return
		}
		m, err := Decode([]byte(ev.Data), limit)
		if err != nil {
			s.finish(fmt.Errorf("%w: the server sent a bad event (id %q): %w", ErrNotConnected, ev.ID, err))
			return
		}
		if m.From == s.id && m.To == s.id {
			switch m.Type {
			case TypePing:
				// Answered here; the latest ping replaces an unanswered one.
				select {
				case <-s.pings:
				default:
				}
				s.pings <- m.Data
				continue
			case TypeError:
				var e ErrorData
				if m.DecodeData(&e) == nil {
					s.mu.Lock()
					s.serverErr = &e
					s.mu.Unlock()
				}
			}
		}
		s.q.Push(m)
		s.readyOnce.Do(func() { close(s.ready) })
	}
}

// streamError says why the stream ended: a *RetryError for a clean end
// after a retry field (a graceful shutdown), the server's TypeError, or
// ErrNotConnected.
func (s *sseSession) streamError(err error, p *sseReader) error {
	if s.ctx.Err() != nil {
		return nil // Close or a refused POST said first
	}
	if errors.Is(err, io.EOF) && p.retrySet {
		return &RetryError{After: p.retry, Reason: fmt.Sprintf("sse stream ended with retry: %d", p.retry.Milliseconds())}
	}
	s.mu.Lock()
	se := s.serverErr
	s.mu.Unlock()
	if se != nil {
		return errorFromCode(se.Code, se.Message)
	}
	return fmt.Errorf("%w: sse stream: %w", ErrNotConnected, err)
}

func (s *sseSession) pongLoop() {
	defer s.wg.Done()
	for {
		select {
		case data := <-s.pings:
			m := Message{From: s.id, To: s.id, Type: TypePong, Data: data}
			if b, err := m.Encode(); err == nil {
				s.post(s.ctx, b) // a failed pong: the server drops us and the stream says so
			}
		case <-s.ended:
			return
		}
	}
}

// finish ends the session once with err (nil keeps an earlier reason).
func (s *sseSession) finish(err error) {
	s.finishOnce.Do(func() {
		if err == nil {
			err = fmt.Errorf("%w: sse session closed", ErrNotConnected)
		}
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.ended)
		s.cancel()
		s.q.Close()
		s.readyOnce.Do(func() { close(s.ready) })
	})
}

func (s *sseSession) endErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Recv returns the next message (never a ping: the session answers
// those), or why the session ended.
func (s *sseSession) Recv(ctx context.Context) (Message, error) {
	m, err := s.q.Pop(ctx)
	if errors.Is(err, feed.ErrClosed) {
		return Message{}, s.endErr()
	}
	return m, err
}

// Close ends the stream and any POST in flight and waits for the
// session's goroutines. Idempotent.
func (s *sseSession) Close() error {
	s.closeOnce.Do(func() {
		s.finish(nil)
		s.wg.Wait()
		s.hc.CloseIdleConnections()
	})
	return nil
}
