package lab

import (
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/netlab/netlab/peer"
)

// certificate is the DTLS certificate of the endpoint's Go peers, made at
// its first peer and kept, as an app keeps its own: a scenario that makes
// fresh peers round after round (glare) would otherwise pay pion's
// key and signature for each. Remade when it is within a day of
// expiring (pion's last a month).
func (e *endpoint) certificate() (webrtc.Certificate, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cert == nil || e.cert.Expires().Before(time.Now().Add(24*time.Hour)) {
		c, err := peer.GenerateCertificate()
		if err != nil {
			return webrtc.Certificate{}, fmt.Errorf("lab: endpoint %q: %w", e.cfg.Name, err)
		}
		e.cert = &c
	}
	return *e.cert, nil
}
