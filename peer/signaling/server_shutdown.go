package signaling

import (
	"context"
	"fmt"
	"regexp"
	"time"
)

// Shutdown stops the server gracefully and tells every client when to
// come back: an SSE stream gets "retry: <ms>" and ends, a WebSocket a
// close frame 1012 (service restart) whose reason says "retry after
// <duration>", and a request meanwhile a 503 with Retry-After. With
// retryAfter 0 it says nothing of retrying (WebSocket close 1001).
//
// It waits for the clients to go until ctx ends, then cuts the rest, and
// returns once every goroutine of the server has ended; the error says
// whether it had to cut. Later calls wait for the first one.
func (s *Server) Shutdown(ctx context.Context, retryAfter time.Duration) error {
	s.mu.Lock()
	switch s.state {
	case stateNew:
		s.state = stateStopped
		close(s.quit)
		close(s.force)
		close(s.stopped)
		s.mu.Unlock()
		return nil
	case stateStopping, stateStopped:
		s.mu.Unlock()
		select {
		case <-s.stopped:
			return s.stopErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.state = stateStopping
	s.retryAfter = max(retryAfter, 0)
	close(s.quit)
	s.mu.Unlock()
	s.log.Info("signaling server shutting down", "retry_after", retryAfter)

	// Until the clients are gone the listener stays open, so a client
	// that redials meanwhile gets a 503 with Retry-After, not a refused
	// connection.
	idle := make(chan struct{})
	go func() {
		s.active.Wait()
		close(idle)
	}()
	var err error
	select {
	case <-idle:
	case <-ctx.Done():
		err = fmt.Errorf("signaling: shutdown cut clients still connected: %w", ctx.Err())
	}
	close(s.force) // WebSocket writers stop waiting for close replies
	if err != nil {
		s.cutHijacked()
		s.hs.Close() // cuts SSE streams and POSTs blocked in writes
	} else if e := s.hs.Shutdown(ctx); e != nil {
		s.hs.Close()
	}
	<-idle
	<-s.serveDone
	s.mu.Lock()
	s.state = stateStopped
	s.mu.Unlock()
	s.stopErr = err
	close(s.stopped)
	return err
}

// Close shuts down without a retry hint, waiting at most 2*CloseGrace for
// clients, and returns once every goroutine has ended. Idempotent.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.cfg.CloseGrace)
	defer cancel()
	s.Shutdown(ctx, 0)
	<-s.stopped
	return nil
}

// retryDelay is the delay advertised since shutdown began.
func (s *Server) retryDelay() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.retryAfter
}

// retryReason is the WebSocket close reason (and SSE comment) of a
// graceful shutdown; parseRetryReason reads it back.
func retryReason(d time.Duration) string {
	return fmt.Sprintf("server restarting, retry after %v", d)
}

var retryReasonRE = regexp.MustCompile(`retry after (\S+)`)

func parseRetryReason(reason string) (time.Duration, bool) {
	m := retryReasonRE.FindStringSubmatch(reason)
	if m == nil {
		return 0, false
	}
	d, err := time.ParseDuration(m[1])
	if err != nil || d < 0 {
		return 0, false
	}
	return d, true
}
