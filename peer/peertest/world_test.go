package peertest

import (
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netlab/netlab/netem"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestWorldCutRestore: hosts reach each other; a cut host neither sends
// nor receives; Restore brings it back; the drops are counted.
func TestWorldCutRestore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, err := New()
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		a, err := w.AddHost("a")
		if err != nil {
			t.Fatal(err)
		}
		b, err := w.AddHost("b")
		if err != nil {
			t.Fatal(err)
		}
		if a.IP != "192.0.2.10" || b.IP != "192.0.2.11" {
			t.Errorf("addresses %s, %s; want 192.0.2.10 and .11", a.IP, b.IP)
		}
		ca, err := a.Net.ListenPacket("udp4", a.IP+":1000")
		if err != nil {
			t.Fatal(err)
		}
		defer ca.Close()
		cb, err := b.Net.ListenPacket("udp4", b.IP+":2000")
		if err != nil {
			t.Fatal(err)
		}
		defer cb.Close()
		got := make(chan string, 10)
		go func() {
			buf := make([]byte, 100)
			for {
				n, _, err := cb.ReadFrom(buf)
				if err != nil {
					close(got)
					return
				}
				got <- string(buf[:n])
			}
		}()
		send := func(msg string) {
			if _, err := ca.WriteTo([]byte(msg), cb.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond) // virtual time: the router delivers
			synctest.Wait()
		}
		send("one")
		if err := w.Cut("b"); err != nil {
			t.Fatal(err)
		}
		send("cut")
		if err := w.Restore("b"); err != nil {
			t.Fatal(err)
		}
		send("two")
		w.Cut()
		send("all cut")
		w.Restore()
		send("three")
		cb.Close()
		var seen []string
		for m := range got {
			seen = append(seen, m)
		}
		if len(seen) != 3 || seen[0] != "one" || seen[1] != "two" || seen[2] != "three" {
			t.Errorf("b got %q, want one, two, three", seen)
		}
		if d := w.Dropped(); d != 2 {
			t.Errorf("dropped %d, want 2", d)
		}
		if err := w.Cut("nobody"); !errors.Is(err, ErrBadConfig) {
			t.Errorf("Cut of an unknown host: %v, want ErrBadConfig", err)
		}
	})
}

// TestWorldShapedHost: a shaped host's Net hands out netem conns that
// delay as the profile says.
func TestWorldShapedHost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, err := New()
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		prof, err := netem.ParseProfile("d.yaml", []byte("up: {delay: 40ms}"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := w.AddHost("a", WithProfile(prof, 1))
		if err != nil {
			t.Fatal(err)
		}
		b, err := w.AddHost("b")
		if err != nil {
			t.Fatal(err)
		}
		if a.Shaper == nil || b.Shaper != nil {
			t.Fatalf("shapers: a %v, b %v", a.Shaper, b.Shaper)
		}
		ca, err := a.Net.ListenPacket("udp4", a.IP+":1000")
		if err != nil {
			t.Fatal(err)
		}
		defer ca.Close()
		cb, err := b.Net.ListenPacket("udp4", b.IP+":2000")
		if err != nil {
			t.Fatal(err)
		}
		defer cb.Close()
		start := time.Now()
		if _, err := ca.WriteTo([]byte("x"), cb.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		if _, from, err := cb.ReadFrom(buf); err != nil || from.(*net.UDPAddr).IP.String() != a.IP {
			t.Fatalf("ReadFrom: %v from %v", err, from)
		}
		if d := time.Since(start); d != 40*time.Millisecond {
			t.Errorf("one packet took %v, want 40ms", d)
		}
		if c := a.Shaper.Ledger(netem.Up).Counters; c.Packets != 1 {
			t.Errorf("a's up ledger saw %d packets, want 1", c.Packets)
		}
	})
}

func TestWorldBadInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, err := New()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.AddHost(""); !errors.Is(err, ErrBadConfig) {
			t.Errorf("empty name: %v", err)
		}
		if _, err := w.AddHost("a"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.AddHost("a"); !errors.Is(err, ErrBadConfig) {
			t.Errorf("duplicate name: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := w.AddHost("b"); !errors.Is(err, ErrClosed) {
			t.Errorf("AddHost after Close: %v, want ErrClosed", err)
		}
	})
	if _, err := New(nil); !errors.Is(err, ErrBadConfig) {
		t.Errorf("nil option: %v", err)
	}
}
