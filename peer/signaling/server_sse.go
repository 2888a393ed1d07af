package signaling

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sessionHeader carries an SSE stream's session token: the server sends
// it with the stream's response headers; a POST that names it must
// match the stream of its from (a POST without it, as the reference
// clients send, is only checked against the registered SSE ids, unless
// ServerConfig.RequireSessionToken refuses it).
const sessionHeader = "X-Netlab-Session"

// sseStream is one SSE client: its GET handler is the only writer of
// its stream.
//
//	queue ──▶ "id: N\nevent: TYPE\ndata: JSON\n\n" ──▶ client
//	ticker ──▶ ping (from == to == id) ; no pong since the last one: drop
//	shutdown ──▶ "retry: MS\n\n", end of stream
type sseStream struct {
	c   *peerConn
	w   http.ResponseWriter
	rc  *http.ResponseController
	seq int64 // event id of the last event written
}

func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodGet {
		s.refuseHTTP(w, http.StatusMethodNotAllowed, ReasonBadRequest, "GET /messages/<id>, got "+r.Method, 0)
		return
	}
	if err := ValidateID(id); err != nil {
		s.refuseHTTP(w, http.StatusBadRequest, ReasonBadID, fmt.Sprintf("GET /messages/<id>: %v", err), 0)
		return
	}
	c := newPeerConn(s, kindSSE, id, clientIP(r))
	c.token = rand.Text()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // a proxy in between must not buffer the stream
	h.Set(sessionHeader, c.token)
	h.Set("Access-Control-Expose-Headers", sessionHeader)
	w.WriteHeader(http.StatusOK)
	s.register(c)
	st := &sseStream{c: c, w: w, rc: http.NewResponseController(w)}
	st.run(r)
	s.m.disconnects.Add(1)
	s.log.Debug("disconnected", "id", id, "transport", "sse")
}

func (st *sseStream) run(r *http.Request) {
	c, s := st.c, st.c.s
	defer c.end(0, "", nil)
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	var pings int64
	for {
		select {
		case m := <-c.out:
			err := st.event(m.typ, m.raw)
			c.written(m, err)
			if err != nil {
				return
			}
		case <-ping.C:
			if c.awaitingPong.Load() {
				s.m.pingsDropped.Add(1)
				text := fmt.Sprintf("no pong to the ping of %v ago", s.cfg.PingInterval)
				s.log.Debug("dropped", "id", c.id, "transport", "sse", "reason", CodePingTimeout)
				st.event(TypeError, errorMessage(c.id, CodePingTimeout, text))
				return
			}
			pings++
			c.awaitingPong.Store(true) // before the write: the pong may come back at once
			if err := st.event(TypePing, pingMessage(c.id, pings)); err != nil {
				return
			}
			s.m.pingsSent.Add(1)
		case <-c.ending:
			if c.endMsg != nil {
				st.event(TypeError, c.endMsg)
			}
			return
		case <-s.quit:
			if retry := s.retryDelay(); retry > 0 {
				st.write(fmt.Appendf(nil, ": %s\nretry: %d\n\n", retryReason(retry), retry.Milliseconds()))
			} else {
				st.write([]byte(": server shutting down\n\n"))
			}
			return
		case <-r.Context().Done():
			return
		}
	}
}

func pingMessage(id string, n int64) []byte {
	m := Message{From: id, To: id, Type: TypePing, Data: json.RawMessage(strconv.FormatInt(n, 10))}
	b, _ := m.Encode()
	return b
}

// event writes one event: the message type as the event name (left out
// when it could break the stream), the whole message as one data line.
func (st *sseStream) event(typ string, raw []byte) error {
	st.seq++
	b := make([]byte, 0, len(raw)+len(typ)+32)
	b = fmt.Appendf(b, "id: %d\n", st.seq)
	if typ != "" && !strings.ContainsAny(typ, "\r\n\x00") {
		b = append(b, "event: "...)
		b = append(b, typ...)
		b = append(b, '\n')
	}
	b = append(b, "data: "...)
	b = appendOneLine(b, raw)
	b = append(b, "\n\n"...)
	return st.write(b)
}

// appendOneLine appends raw, compacted when it spans lines (a POST body
// may be indented JSON; whitespace is all a compaction removes).
func appendOneLine(b, raw []byte) []byte {
	if !bytes.ContainsAny(raw, "\r\n") {
		return append(b, raw...)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		// Never: raw was decoded. Keep the stream intact anyway.
		return append(b, strings.NewReplacer("\r", "", "\n", "").Replace(string(raw))...)
	}
	return append(b, buf.Bytes()...)
}

func (st *sseStream) write(b []byte) error {
	st.rc.SetWriteDeadline(time.Now().Add(st.c.s.cfg.WriteTimeout))
	if _, err := st.w.Write(b); err != nil {
		return err
	}
	return st.rc.Flush()
}
