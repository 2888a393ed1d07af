package signaling

import (
	"fmt"
	"slices"
)

// register makes c the client under its id, with the listing as the
// first message in its queue (so it is what the client reads first), and
// ends the connection it replaces.
func (s *Server) register(c *peerConn) {
	s.regMu.Lock()
	old := s.clients[c.id]
	s.clients[c.id] = c
	c.out <- outMsg{raw: s.listingMessageLocked(c.id, c.ip), typ: TypeListing} // fresh queue: room
	s.regMu.Unlock()
	if c.kind == kindWS {
		s.m.wsConnects.Add(1)
	} else {
		s.m.sseConnects.Add(1)
	}
	s.log.Debug("registered", "id", c.id, "transport", c.kind.String(), "ip", c.ip)
	if old != nil {
		s.m.replaced.Add(1)
		text := fmt.Sprintf("a newer %s connection registered id %q", c.kind, c.id)
		old.end(CloseReplaced, "replaced", errorMessage(c.id, CodeReplaced, text))
	}
}

// unregister removes c unless a newer connection took its id.
func (s *Server) unregister(c *peerConn) {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if s.clients[c.id] == c {
		delete(s.clients, c.id)
	}
}

// lookup returns the client registered under id, or nil.
func (s *Server) lookup(id string) *peerConn {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	return s.clients[id]
}

// peersLocked lists the registered ids, sorted.
func (s *Server) peersLocked() []string {
	ids := make([]string, 0, len(s.clients))
	for id := range s.clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
