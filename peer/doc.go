// Package peer is the reference WebRTC peer in Go (pion/webrtc) and the
// Endpoint interface that every scenario drives, for Go peers and Chrome
// tabs alike: data channels in the seven reliability configurations, media,
// the pair mutex and perfect negotiation against glare, heartbeats, and
// reconnect by ICE restart. Built in issue 3.
package peer
