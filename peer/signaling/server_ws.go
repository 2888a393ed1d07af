package signaling

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// wsServerConn is one WebSocket client: the handler goroutine reads, a
// second goroutine writes; the writer alone closes the connection.
//
//	client ──▶ readLoop ──(decode, check from, look up to)──▶ recipient queue
//	client ◀── writeLoop ◀── own queue ; pings ; last words on end
type wsServerConn struct {
	c          *peerConn
	ws         *websocket.Conn
	readerDone chan struct{}
	writerDone chan struct{}
}

// wsHardReadLimit is where the server stops reading a message at all.
// An oversize message is refused (a TypeError, then close 1009 with a
// reason) once max+1 bytes of it are in; the rest is read off the wire
// and discarded, so the client sees the close handshake, but only up to
// this limit: past it the server stops reading and drops the connection.
//
// The limit is ours, not gorilla's SetReadLimit: gorilla checks a frame's
// declared length before the payload is read and answers 1009 with an
// empty reason and no TypeError, which would leave a client that sent one
// big frame (the usual case) not knowing what the limit was.
func wsHardReadLimit(max int) int64 { return 32 * int64(max) }

// discard reads the rest of message r, at most limit bytes; it reports
// whether the message ended within them.
func discard(r io.Reader, limit int64) bool {
	n, err := io.CopyN(io.Discard, r, limit+1)
	return err == io.EOF && n <= limit
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request, id string) {
	if err := ValidateID(id); err != nil {
		s.refuseHTTP(w, http.StatusBadRequest, ReasonBadID, fmt.Sprintf("WebSocket at /<id>: %v", err), 0)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.m.refuse(ReasonBadRequest) // Upgrade answered with an error status
		return
	}
	s.trackHijacked(ws, true)
	defer s.trackHijacked(ws, false)
	wc := &wsServerConn{
		c:          newPeerConn(s, kindWS, id, clientIP(r)),
		ws:         ws,
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	s.register(wc.c)
	go wc.writeLoop()
	wc.readLoop()
	close(wc.readerDone)
	<-wc.writerDone
	s.m.disconnects.Add(1)
	s.log.Debug("disconnected", "id", id, "transport", "ws")
}

func (wc *wsServerConn) readLoop() {
	c, s := wc.c, wc.c.s
	max := s.cfg.MaxMessageBytes
	liveness := s.cfg.PingInterval * 5 / 2
	wc.ws.SetReadDeadline(time.Now().Add(liveness))
	wc.ws.SetPongHandler(func(string) error {
		if !c.isEnding() {
			wc.ws.SetReadDeadline(time.Now().Add(liveness))
		}
		return nil
	})
	for {
		_, r, err := wc.ws.NextReader()
		if err != nil {
			c.end(0, "", nil)
			return
		}
		if c.isEnding() {
			// Draining until the client's close reply (or CloseGrace):
			// what it still sends is discarded.
			if !discard(r, wsHardReadLimit(max)) {
				return
			}
			continue
		}
		b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
		if err != nil {
			c.end(0, "", nil)
			return
		}
		if len(b) > max {
			wc.refuse(CodeTooLarge, fmt.Sprintf("message over %d bytes", max))
			if !discard(r, wsHardReadLimit(max)-int64(len(b))) {
				return
			}
			continue
		}
		m, err := Decode(b, max)
		if err != nil {
			wc.refuse(codeOf(err), err.Error())
			continue
		}
		if m.From != c.id {
			wc.refuse(CodeForged, fmt.Sprintf("from %q on the connection of %q", m.From, c.id))
			continue
		}
		rc := s.lookup(m.To)
		if rc == nil {
			// The reference server closes the sender, as if it were
			// connected to the missing peer directly.
			wc.refuse(CodeUnknownRecipient, fmt.Sprintf("no client registered under %q", m.To))
			continue
		}
		if err := rc.enqueue(outMsg{raw: b, typ: m.Type, relay: true}, c.ending); errors.Is(err, errRecipientGone) {
			wc.refuse(CodeUnknownRecipient, fmt.Sprintf("%q disconnected before delivery", m.To))
			continue
		}
		wc.ws.SetReadDeadline(time.Now().Add(liveness))
	}
}

// refuse counts the refusal and ends the connection with a TypeError
// message and a close frame saying why; the reader then drains for at
// most CloseGrace.
func (wc *wsServerConn) refuse(code, text string) {
	c := wc.c
	c.s.m.refuse(code)
	c.s.log.Debug("refused", "id", c.id, "transport", "ws", "reason", code, "detail", text)
	c.end(closeCodeOf(code), closeReason(code+": "+text), errorMessage(c.id, code, text))
	wc.ws.SetReadDeadline(time.Now().Add(c.s.cfg.CloseGrace))
}

// closeReason fits a close frame (125 bytes, 2 of them the code) without
// cutting a UTF-8 sequence.
func closeReason(s string) string {
	const max = 123
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut]
}

func (wc *wsServerConn) writeLoop() {
	defer close(wc.writerDone)
	c, s := wc.c, wc.c.s
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case m := <-c.out:
			err := wc.write(m.raw)
			c.written(m, err)
			if err != nil {
				c.end(0, "", nil)
				wc.finish()
				return
			}
		case <-ping.C:
			if err := wc.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.cfg.WriteTimeout)); err != nil {
				c.end(0, "", nil)
				wc.finish()
				return
			}
		case <-c.ending:
			wc.finish()
			return
		case <-s.quit:
			if retry := s.retryDelay(); retry > 0 {
				c.end(websocket.CloseServiceRestart, retryReason(retry), nil)
			} else {
				c.end(websocket.CloseGoingAway, "server shutting down", nil)
			}
			wc.finish()
			return
		}
	}
}

func (wc *wsServerConn) write(b []byte) error {
	wc.ws.SetWriteDeadline(time.Now().Add(wc.c.s.cfg.WriteTimeout))
	return wc.ws.WriteMessage(websocket.TextMessage, b)
}

// finish writes the last words end asked for (a TypeError message, a
// close frame), waits for the client's close reply at most CloseGrace,
// and closes the connection.
func (wc *wsServerConn) finish() {
	c, s := wc.c, wc.c.s
	if c.endMsg != nil {
		wc.write(c.endMsg)
	}
	if c.endCode != 0 {
		frame := websocket.FormatCloseMessage(c.endCode, c.endReason)
		if wc.ws.WriteControl(websocket.CloseMessage, frame, time.Now().Add(s.cfg.WriteTimeout)) == nil {
			t := time.NewTimer(s.cfg.CloseGrace)
			select {
			case <-wc.readerDone:
			case <-t.C:
			case <-s.force:
			}
			t.Stop()
		}
	}
	wc.ws.Close()
}

// trackHijacked adds or removes ws from the connections a forced
// shutdown cuts; one added after the cut is cut at once.
func (s *Server) trackHijacked(ws *websocket.Conn, add bool) {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if !add {
		delete(s.hijacked, ws)
		return
	}
	select {
	case <-s.force:
		ws.Close()
	default:
		s.hijacked[ws] = struct{}{}
	}
}

// cutHijacked closes every WebSocket connection still open.
func (s *Server) cutHijacked() {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	for ws := range s.hijacked {
		ws.Close()
	}
}
