package signaling

import (
	"fmt"
	"io"
	"net/http"
)

// servePost is POST /message, how SSE clients send. It answers once the
// message is written to the recipient's stream (or socket): that keeps
// an SSE client's messages in order, since it sends the next only then.
//
// Forgery: a POST has no connection of its own, so "from" is checked
// against the streams: it must be an id with an SSE stream open (403
// otherwise), and when the POST carries the stream's session token
// (X-Netlab-Session, which the lab's SSE transport always sends) it must
// be that stream's. Reference clients send no token; for them the check
// is only the first one, unless RequireSessionToken refuses a POST
// without it. A pong must have from == to (403 otherwise).
//
//	200 written  400 malformed / missing field  403 forged  404 no such
//	recipient (or it left before delivery)  413 too large  503 shutting down
func (s *Server) servePost(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.refuseHTTP(w, http.StatusMethodNotAllowed, ReasonBadRequest, "POST /message, got "+r.Method, 0)
		return
	}
	max := s.cfg.MaxMessageBytes
	if r.ContentLength > int64(max) {
		s.refuseHTTP(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("%d bytes, limit %d", r.ContentLength, max), 0)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	if err != nil {
		s.refuseHTTP(w, http.StatusBadRequest, ReasonBadRequest, fmt.Sprintf("reading the body: %v", err), 0)
		return
	}
	if len(body) > max {
		s.refuseHTTP(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("over %d bytes", max), 0)
		return
	}
	m, err := Decode(body, max)
	if err != nil {
		s.refuseHTTP(w, http.StatusBadRequest, codeOf(err), err.Error(), 0)
		return
	}
	if m.Type == TypePong && m.From != m.To {
		s.refuseHTTP(w, http.StatusForbidden, CodeForged, fmt.Sprintf("a pong must have from == to, got from %q to %q", m.From, m.To), 0)
		return
	}
	sender := s.lookup(m.From)
	if sender == nil || sender.kind != kindSSE {
		s.refuseHTTP(w, http.StatusForbidden, CodeForged, fmt.Sprintf("from %q: no SSE stream open under that id (GET /messages/<id> first)", m.From), 0)
		return
	}
	switch tok := r.Header.Get(sessionHeader); {
	case tok == "" && s.cfg.RequireSessionToken:
		s.refuseHTTP(w, http.StatusForbidden, CodeForged, fmt.Sprintf("from %q: no %s header, and this server requires the session of the sender's stream (sent with the stream's response headers)", m.From, sessionHeader), 0)
		return
	case tok != "" && tok != sender.token:
		s.refuseHTTP(w, http.StatusForbidden, CodeForged, fmt.Sprintf("from %q: %s is not the session of its stream", m.From, sessionHeader), 0)
		return
	}
	if m.Type == TypePong {
		sender.awaitingPong.Store(false)
		w.WriteHeader(http.StatusOK)
		return
	}
	rc := s.lookup(m.To)
	if rc == nil {
		s.refuseHTTP(w, http.StatusNotFound, CodeUnknownRecipient, fmt.Sprintf("no client registered under %q", m.To), 0)
		return
	}
	done := make(chan error, 1)
	if err := rc.enqueue(outMsg{raw: body, typ: m.Type, relay: true, done: done}, r.Context().Done()); err != nil {
		s.postFailed(w, m.To, err)
		return
	}
	select {
	case err = <-done:
	case <-rc.ending:
		err = errRecipientGone
	case <-s.quit:
		err = errServerQuit
	case <-r.Context().Done():
		return
	}
	if err != nil {
		// The write may have finished as the other event came.
		select {
		case err = <-done:
		default:
		}
	}
	if err != nil {
		s.postFailed(w, m.To, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) postFailed(w http.ResponseWriter, to string, err error) {
	switch err {
	case errServerQuit:
		retry := s.retryDelay()
		s.refuseHTTP(w, http.StatusServiceUnavailable, ReasonShuttingDown, fmt.Sprintf("server shutting down, retry after %v", retry), retry)
	case errSenderGone:
		// The client hung up: nobody to answer.
	default:
		s.refuseHTTP(w, http.StatusNotFound, CodeUnknownRecipient, fmt.Sprintf("%q: %v", to, err), 0)
	}
}
