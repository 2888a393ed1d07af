package signaling

import (
	"encoding/json"
	"net"
	"net/http"
)

// listingMessageLocked is the listing the server sends id on connect:
// from == to == id, data Listing with every registered id (id itself
// included). Needs regMu.
func (s *Server) listingMessageLocked(id, ip string) []byte {
	m, err := NewMessage(id, id, TypeListing, s.listingLocked(ip))
	if err != nil {
		return nil // a Listing always encodes
	}
	b, _ := m.Encode()
	return b
}

func (s *Server) listingLocked(ip string) Listing {
	return Listing{IP: ip, Version: s.cfg.Version, Peers: s.peersLocked()}
}

// serveListing answers GET /listing with the Listing JSON.
func (s *Server) serveListing(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.refuseHTTP(w, http.StatusMethodNotAllowed, ReasonBadRequest, "GET /listing, got "+r.Method, 0)
		return
	}
	s.regMu.Lock()
	l := s.listingLocked(clientIP(r))
	s.regMu.Unlock()
	writeJSON(w, http.StatusOK, l)
}

// clientIP is the host part of the request's remote address.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
