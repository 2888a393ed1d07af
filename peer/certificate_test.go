package peer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/webrtc/v4"
)

// TestWithCertificate: every pion peer of a GoPeer uses the certificate
// it was given: its fingerprint is the one in both sides' descriptions.
func TestWithCertificate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := GenerateCertificate()
		if err != nil {
			t.Fatal(err)
		}
		fps, err := c.GetFingerprints()
		if err != nil {
			t.Fatal(err)
		}
		want := "a=fingerprint:" + fps[0].Algorithm + " " + strings.ToUpper(fps[0].Value)
		pr := newPair(t, pairOpts{seed: 3, opts: []Option{WithCertificate(c)}})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		openChannel(t, ctx, pr)
		for _, p := range []*GoPeer{pr.a, pr.b} {
			pc := p.currentPC()
			for name, d := range map[string]*webrtc.SessionDescription{"local": pc.CurrentLocalDescription(), "remote": pc.CurrentRemoteDescription()} {
				if d == nil || !strings.Contains(strings.ToUpper(d.SDP), strings.ToUpper(want)) {
					t.Errorf("%s's %s description lacks %q", p.ID(), name, want)
				}
			}
		}
	})
}

// TestWithCertificateExpired: an expired certificate is refused by New,
// not by the first pion peer it would have made.
func TestWithCertificateExpired(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	c, err := webrtc.NewCertificate(k, x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "expired"},
		NotBefore:    old,
		NotAfter:     old.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{ID: "a", RemoteID: "b", Signaling: loopClients(t, "a")[0]}, WithCertificate(*c))
	if err == nil {
		p.Close()
		t.Fatal("New accepted an expired certificate")
	}
	if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("%v; want ErrBadConfig saying the certificate expired", err)
	}
}
