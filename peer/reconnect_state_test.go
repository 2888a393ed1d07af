package peer

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// TestRemoteRestartEnd: a side waiting for the remote's ICE restart
// stops waiting when that restart's own checks fail, not when a failure
// of the checks before it is reported late (pion reports states from a
// queue of its own, so the old failure can follow the restart offer).
func TestRemoteRestartEnd(t *testing.T) {
	const (
		checking     = webrtc.ICEConnectionStateChecking
		connected    = webrtc.ICEConnectionStateConnected
		disconnected = webrtc.ICEConnectionStateDisconnected
		failed       = webrtc.ICEConnectionStateFailed
	)
	// Every case starts connected once; "restart" is the remote's offer
	// being applied (the mark taken just before).
	cases := []struct {
		name                      string
		before, after             []webrtc.ICEConnectionState
		wantConnected, wantFailed bool
	}{
		{"the restart's checks fail", []webrtc.ICEConnectionState{disconnected}, []webrtc.ICEConnectionState{checking, failed}, false, true},
		{"the outage's failure is reported after the offer", []webrtc.ICEConnectionState{disconnected}, []webrtc.ICEConnectionState{failed, checking}, false, false},
		{"the outage's failure came first", []webrtc.ICEConnectionState{disconnected, failed}, []webrtc.ICEConnectionState{checking}, false, false},
		{"the restart connects", []webrtc.ICEConnectionState{disconnected, failed}, []webrtc.ICEConnectionState{checking, connected}, true, false},
		{"the late failure, then the restart connects", []webrtc.ICEConnectionState{disconnected}, []webrtc.ICEConnectionState{failed, checking, connected}, true, false},
		{"the restart's checks fail after a late failure", []webrtc.ICEConnectionState{disconnected}, []webrtc.ICEConnectionState{failed, checking, failed}, false, true},
		// Already checking (the restart makes no new transition): its
		// failure cannot be told from an older one, so none counts and
		// the wait runs out its bound instead.
		{"already checking", []webrtc.ICEConnectionState{disconnected, failed, checking}, []webrtc.ICEConnectionState{failed}, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rc reconnectState
			now := time.Unix(1000, 0)
			for _, s := range append([]webrtc.ICEConnectionState{checking, connected}, c.before...) {
				rc.note(s, now, time.Time{})
			}
			seq := rc.connectedSeq
			rc.remoteBegan(rc.checkingSeq)
			for _, s := range c.after {
				rc.note(s, now, time.Time{})
			}
			if rc.remoteRestartSeq != seq {
				t.Fatalf("the restart was noted at connected count %d, want %d", rc.remoteRestartSeq, seq)
			}
			gotC, gotF := rc.remoteRestartEnd(seq)
			if gotC != c.wantConnected || gotF != c.wantFailed {
				t.Errorf("after %v, then the offer, then %v: connected %v failed %v, want %v %v",
					c.before, c.after, gotC, gotF, c.wantConnected, c.wantFailed)
			}
		})
	}
}
