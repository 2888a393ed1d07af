package peer

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/transport/v3"

	"github.com/netlab/netlab/internal/bubble"
)

// slowCloseNet holds each UDP socket's Close for closeHold (virtual time)
// once armed: a close of the pion peer then stays in flight long enough
// to be seen.
type slowCloseNet struct {
	transport.Net
	armed *atomic.Bool
}

const closeHold = time.Second

func (n slowCloseNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return slowCloseConn{UDPConn: c, armed: n.armed}, nil
}

type slowCloseConn struct {
	transport.UDPConn
	armed *atomic.Bool
}

func (c slowCloseConn) Close() error {
	if c.armed.Load() {
		time.Sleep(closeHold) // virtual time: holds the closer, not the test
	}
	return c.UDPConn.Close()
}

// TestCloseWaitsForPionsOwnClose: a's DTLS close_notify makes pion close
// b's peer on a goroutine of its own (webrtc peerconnection.go,
// internalOnCloseHandler). b's Close while that close is in flight must
// wait for it, as Close waits for everything the peer started: with
// pion's plain Close it returned at once, and pion went on closing ICE
// after it (seen under -race when virtual runs seeded crypto/rand: a TURN
// allocation's release read it as the run's cleanup restored it).
func TestCloseWaitsForPionsOwnClose(t *testing.T) {
	// pion/dtls v3.0.9 sometimes does not send a's close_notify (its
	// Close cancels the handshake reader, which can close the conn before
	// the alert is written: 1 attempt in 100 measured here); b then only
	// finds out from ICE. That is a precondition failing, not the check:
	// try a fresh pair, up to closeAttempts times.
	const closeAttempts = 5
	for attempt := 1; attempt <= closeAttempts; attempt++ {
		var started bool
		synctest.Test(t, func(t *testing.T) {
			started = closeDuringPionsClose(t)
		})
		if started || t.Failed() {
			return
		}
		t.Logf("attempt %d: a's close_notify never reached b; again", attempt)
	}
	t.Fatalf("a's close_notify never reached b in %d attempts", closeAttempts)
}

// closeDuringPionsClose reports false if a's close_notify never reached
// b (nothing checked then).
func closeDuringPionsClose(t *testing.T) bool {
	var armed atomic.Bool
	pr := newPair(t, pairOpts{seed: 3, config: func(c *Config) {
		outageConfig(c) // ICE gives up within 3 s when no close_notify comes
		if c.ID == "b" {
			c.Net = slowCloseNet{Net: c.Net, armed: &armed}
		}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	openChannel(t, ctx, pr)
	events := pr.b.Events()
	defer events.Close()
	armed.Store(true)
	if err := pr.a.Close(); err != nil {
		t.Fatal(err)
	}
	for {
		e, err := events.Pop(ctx)
		if err != nil {
			t.Fatalf("b's events: %v", err)
		}
		if e.Type != EventState || e.Machine != machineConnection {
			continue
		}
		if e.State == "failed" {
			return false // ICE found out: no close_notify came
		}
		if e.State == "closed" {
			break
		}
	}
	// pion's own close of b runs until it holds in a socket's Close.
	synctest.Wait()
	start := time.Now()
	if err := pr.b.Close(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	defer time.Sleep(2 * closeHold) // virtual: a close left in flight ends, so a failure is reported, not a bubble deadlock
	for _, g := range bubble.Others() {
		if strings.Contains(g, "github.com/pion/ice/") || strings.Contains(g, "slowCloseConn") {
			t.Errorf("b's Close returned after %v with pion still closing ICE:\n%s", took, g)
		}
	}
	if took < closeHold {
		t.Errorf("b's Close took %v, less than the %v its sockets take to close", took, closeHold)
	}
	return true
}
