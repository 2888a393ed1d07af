package lab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// TestEndpointCertificate: an endpoint's Go peers share one certificate,
// remade when it is about to expire.
func TestEndpointCertificate(t *testing.T) {
	e := &endpoint{cfg: EndpointConfig{Name: "a"}}
	c1, err := e.certificate()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := e.certificate()
	if err != nil {
		t.Fatal(err)
	}
	if !c1.Equals(c2) {
		t.Error("the second peer got another certificate")
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	soon, err := webrtc.NewCertificate(k, x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	e.cert = soon
	c3, err := e.certificate()
	if err != nil {
		t.Fatal(err)
	}
	if c3.Equals(*soon) || !c3.Expires().After(time.Now().Add(24*time.Hour)) {
		t.Errorf("a certificate expiring at %s was kept (got one expiring at %s)", soon.Expires(), c3.Expires())
	}
}
