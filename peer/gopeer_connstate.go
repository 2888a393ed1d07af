package peer

import (
	"sync"

	"github.com/pion/webrtc/v4"
)

// connTracker derives a pion peer's RTCPeerConnectionState in step with
// the changes that make it.
//
// pion v4.2.1 calls the OnConnectionStateChange handler on a fresh
// goroutine per change (go handler(cs)), so two changes close together
// reach the handler in either order: under load "connecting" ran after
// "connected" and was lost from the timeline, or "connected" came after a
// test had already looked (seen in 2 runs of 300 of the virtual/real
// agreement spec under CPU load). The two inputs pion derives it from,
// the ICE connection state and the DTLS transport's state, reach their
// handlers synchronously and in order; the tracker applies pion's own
// rule (updateConnectionState, after the W3C algorithm) to them at once,
// so the recorded sequence is the one pion goes through.
type connTracker struct {
	mu   sync.Mutex
	ice  webrtc.ICEConnectionState  // guarded by mu
	dtls webrtc.DTLSTransportState  // guarded by mu
	last webrtc.PeerConnectionState // guarded by mu: the state last derived
}

func newConnTracker() *connTracker {
	return &connTracker{ice: webrtc.ICEConnectionStateNew, dtls: webrtc.DTLSTransportStateNew, last: webrtc.PeerConnectionStateNew}
}

// iceChanged and dtlsChanged take one input's new value; closed says
// whether the peer connection is closing (its signaling state is closed
// from the first step of Close on). Each calls record, under the
// tracker's lock so changes are recorded in the order they happened,
// when the derived state changed.
func (t *connTracker) iceChanged(s webrtc.ICEConnectionState, closed bool, record func(webrtc.PeerConnectionState)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ice = s
	t.updateLocked(closed, record)
}

func (t *connTracker) dtlsChanged(s webrtc.DTLSTransportState, closed bool, record func(webrtc.PeerConnectionState)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dtls = s
	t.updateLocked(closed, record)
}

func (t *connTracker) updateLocked(closed bool, record func(webrtc.PeerConnectionState)) {
	cs := connectionState(t.ice, t.dtls, closed)
	if cs == t.last {
		return
	}
	t.last = cs
	record(cs)
}

// connectionState is pion v4.2.1's updateConnectionState for one ICE and
// one DTLS transport (https://www.w3.org/TR/webrtc/#rtcpeerconnectionstate-enum).
func connectionState(ice webrtc.ICEConnectionState, dtls webrtc.DTLSTransportState, closed bool) webrtc.PeerConnectionState {
	switch {
	case closed:
		return webrtc.PeerConnectionStateClosed
	case ice == webrtc.ICEConnectionStateFailed || dtls == webrtc.DTLSTransportStateFailed:
		return webrtc.PeerConnectionStateFailed
	case ice == webrtc.ICEConnectionStateDisconnected:
		return webrtc.PeerConnectionStateDisconnected
	case (ice == webrtc.ICEConnectionStateNew || ice == webrtc.ICEConnectionStateClosed) &&
		(dtls == webrtc.DTLSTransportStateNew || dtls == webrtc.DTLSTransportStateClosed):
		return webrtc.PeerConnectionStateNew
	case ice == webrtc.ICEConnectionStateNew || ice == webrtc.ICEConnectionStateChecking ||
		dtls == webrtc.DTLSTransportStateNew || dtls == webrtc.DTLSTransportStateConnecting:
		return webrtc.PeerConnectionStateConnecting
	case (ice == webrtc.ICEConnectionStateConnected || ice == webrtc.ICEConnectionStateCompleted || ice == webrtc.ICEConnectionStateClosed) &&
		(dtls == webrtc.DTLSTransportStateConnected || dtls == webrtc.DTLSTransportStateClosed):
		return webrtc.PeerConnectionStateConnected
	}
	return webrtc.PeerConnectionStateNew
}
