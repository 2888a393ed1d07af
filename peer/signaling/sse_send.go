package signaling

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// Send POSTs m and returns once the server has written it to the
// recipient, or refused it: ErrUnknownRecipient (404), ErrTooLarge
// (413), ErrMalformed or ErrMissingField (400), a *RetryError (503).
// A 403 means the server has no stream for this id: the session ends.
func (s *sseSession) Send(ctx context.Context, m Message) error {
	b, err := encodeForSend(ctx, s.ended, s.endErr, m, s.cfg.maxMessageBytes)
	if err != nil {
		return err
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.post(ctx, b)
}

func (s *sseSession) post(ctx context.Context, b []byte) error {
	d, ok := ctx.Deadline()
	pctx, cancel := context.WithDeadline(ctx, s.cfg.sendDeadline(d, ok))
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel) // Close aborts a POST in flight
	defer stop()
	req, err := http.NewRequestWithContext(pctx, http.MethodPost, s.postURL, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("signaling: POST %s: %v", s.postURL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if s.token != "" {
		req.Header.Set(sessionHeader, s.token)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		switch {
		case s.ctx.Err() != nil:
			return s.endErr()
		case ctx.Err() != nil:
			return ctx.Err()
		}
		return fmt.Errorf("%w: POST %s: %v", ErrNotConnected, s.postURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // lets the connection be reused
		return nil
	}
	e, text := readErrorBody(resp)
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrUnknownRecipient, text)
	case http.StatusRequestEntityTooLarge:
		return fmt.Errorf("%w: %s", ErrTooLarge, text)
	case http.StatusBadRequest:
		if e.Code == CodeMissingField {
			return fmt.Errorf("%w: %s", ErrMissingField, text)
		}
		return fmt.Errorf("%w: %s", ErrMalformed, text)
	case http.StatusForbidden:
		err := fmt.Errorf("%w: %w: %s", ErrNotConnected, ErrForged, text)
		s.finish(err)
		return err
	case http.StatusServiceUnavailable:
		return &RetryError{After: retryAfterHeader(resp.Header), Reason: "POST /message: " + text}
	}
	return fmt.Errorf("%w: POST /message: %s: %s", ErrNotConnected, resp.Status, text)
}
