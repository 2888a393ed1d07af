package peer

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/webrtc/v4"
)

// TestConnectionStateRule checks the tracker's rule against the cases of
// pion v4.2.1's own TestPeerConnectionState.
func TestConnectionStateRule(t *testing.T) {
	for _, c := range []struct {
		ice    webrtc.ICEConnectionState
		dtls   webrtc.DTLSTransportState
		closed bool
		want   webrtc.PeerConnectionState
	}{
		{webrtc.ICEConnectionStateNew, webrtc.DTLSTransportStateNew, false, webrtc.PeerConnectionStateNew},
		{webrtc.ICEConnectionStateChecking, webrtc.DTLSTransportStateNew, false, webrtc.PeerConnectionStateConnecting},
		{webrtc.ICEConnectionStateConnected, webrtc.DTLSTransportStateNew, false, webrtc.PeerConnectionStateConnecting},
		{webrtc.ICEConnectionStateConnected, webrtc.DTLSTransportStateConnecting, false, webrtc.PeerConnectionStateConnecting},
		{webrtc.ICEConnectionStateConnected, webrtc.DTLSTransportStateConnected, false, webrtc.PeerConnectionStateConnected},
		{webrtc.ICEConnectionStateCompleted, webrtc.DTLSTransportStateConnected, false, webrtc.PeerConnectionStateConnected},
		{webrtc.ICEConnectionStateConnected, webrtc.DTLSTransportStateClosed, false, webrtc.PeerConnectionStateConnected},
		{webrtc.ICEConnectionStateDisconnected, webrtc.DTLSTransportStateConnected, false, webrtc.PeerConnectionStateDisconnected},
		{webrtc.ICEConnectionStateFailed, webrtc.DTLSTransportStateConnected, false, webrtc.PeerConnectionStateFailed},
		{webrtc.ICEConnectionStateConnected, webrtc.DTLSTransportStateFailed, false, webrtc.PeerConnectionStateFailed},
		{webrtc.ICEConnectionStateConnected, webrtc.DTLSTransportStateConnected, true, webrtc.PeerConnectionStateClosed},
	} {
		if got := connectionState(c.ice, c.dtls, c.closed); got != c.want {
			t.Errorf("ice %s, dtls %s, closed %v: %s, want %s", c.ice, c.dtls, c.closed, got, c.want)
		}
	}
}

// TestConnectionStateSequence: a connecting pair records every
// connection state pion goes through, in order, and ends where pion is.
func TestConnectionStateSequence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr := newPair(t, pairOpts{seed: 7})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ch, in := openChannel(t, ctx, pr)
		if err := expectMessage(ctx, ch, in, "x"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		for _, p := range []*GoPeer{pr.a, pr.b} {
			var seq []string
			for _, e := range p.EventHistory() {
				if e.Type == EventState && e.Machine == machineConnection {
					seq = append(seq, e.State)
				}
			}
			if want := []string{"new", "connecting", "connected"}; !slices.Equal(seq, want) {
				t.Errorf("%s: connection states %v, want %v", p.ID(), seq, want)
			}
			p.mu.Lock()
			pion := p.pc.ConnectionState().String()
			p.mu.Unlock()
			if pion != "connected" {
				t.Errorf("%s: pion's connection state is %s", p.ID(), pion)
			}
		}
	})
}
