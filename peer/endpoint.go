package peer

import (
	"context"
	"time"
)

// Kind is what implements an Endpoint.
type Kind string

const (
	KindGo     Kind = "go"     // this package's pion peer
	KindChrome Kind = "chrome" // a headless Chrome tab (package browsers)
)

// Endpoint is one side of a WebRTC session, as every scenario drives it:
// a Go peer or a Chrome tab, speaking the same signaling protocol
// (PROTOCOL.md) to its remote. Every signal-producing call runs under the
// pair mutex (or perfect negotiation, per GlareStrategy), so calls may
// overlap freely, from both sides.
type Endpoint interface {
	ID() string
	RemoteID() string
	Kind() Kind

	// CreateDataChannel negotiates a channel and returns once it is open.
	CreateDataChannel(ctx context.Context, label string, opts ChannelOptions) (Channel, error)
	// AcceptDataChannel returns the channel the remote opened with this
	// label, waiting for it to open.
	AcceptDataChannel(ctx context.Context, label string) (Channel, error)
	// AddMedia starts sending generated media and returns once the track
	// is negotiated.
	AddMedia(ctx context.Context, m MediaSpec) error
	// AcquireLock runs body under the pair mutex (PROTOCOL.md).
	AcquireLock(ctx context.Context, body func(context.Context) error) error
	// Restart does an ICE restart and returns once connected again.
	Restart(ctx context.Context) error
	Stats(ctx context.Context) (Stats, error)
	// Events returns a queue of every event from now on; EventHistory has
	// them all.
	Events() *EventQueue
	EventHistory() []Event
	// Close tears the session down, telling the remote (bye) unless the
	// endpoint was killed; idempotent; leaves nothing running.
	Close() error
}

// Channel is an open data channel.
type Channel interface {
	Label() string
	ID() uint16
	Options() ChannelOptions
	Send(ctx context.Context, p []byte) error
	// Recv returns the next message, waiting until ctx ends; after the
	// channel closes it returns ErrChannelClosed once drained.
	Recv(ctx context.Context) ([]byte, error)
	Close() error
}

// ChannelOptions are RTCDataChannelInit. MaxRetransmits and
// MaxPacketLifeTime are exclusive; ID is for negotiated channels.
type ChannelOptions struct {
	Unordered         bool    `json:"unordered,omitempty"`
	MaxRetransmits    *uint16 `json:"maxRetransmits,omitempty"`
	MaxPacketLifeTime *uint16 `json:"maxPacketLifeTime,omitempty"` // ms
	Negotiated        bool    `json:"negotiated,omitempty"`
	ID                *uint16 `json:"id,omitempty"`
	Protocol          string  `json:"protocol,omitempty"`
}

// Reliable reports whether every message is retransmitted until delivered.
func (o ChannelOptions) Reliable() bool { return o.MaxRetransmits == nil && o.MaxPacketLifeTime == nil }

func u16(v uint16) *uint16 { return &v }

// ReliabilityMode is a named ChannelOptions.
type ReliabilityMode struct {
	Name string
	Opts ChannelOptions
}

// ReliabilityModes are the seven configurations of seeds/002: reliable
// ordered, unordered reliable, ordered and unordered with maxRetransmits
// 3, ordered and unordered with maxPacketLifeTime 1000 ms, and unordered
// unreliable (maxRetransmits 0).
func ReliabilityModes() []ReliabilityMode {
	return []ReliabilityMode{
		{"reliable-ordered", ChannelOptions{}},
		{"reliable-unordered", ChannelOptions{Unordered: true}},
		{"ordered-rexmit3", ChannelOptions{MaxRetransmits: u16(3)}},
		{"unordered-rexmit3", ChannelOptions{Unordered: true, MaxRetransmits: u16(3)}},
		{"ordered-lifetime1000", ChannelOptions{MaxPacketLifeTime: u16(1000)}},
		{"unordered-lifetime1000", ChannelOptions{Unordered: true, MaxPacketLifeTime: u16(1000)}},
		{"unreliable-unordered", ChannelOptions{Unordered: true, MaxRetransmits: u16(0)}},
	}
}

// MediaKind is audio or video.
type MediaKind string

const (
	Audio MediaKind = "audio"
	Video MediaKind = "video"
)

// MediaSpec is the media AddMedia sends: generated frames at a bitrate.
type MediaSpec struct {
	Kind    MediaKind `json:"kind"`
	Bitrate int       `json:"bitrate"` // bits/s; default 64k audio, 500k video
	// FrameInterval is the time between frames (default 20 ms audio, 33 ms
	// video).
	FrameInterval time.Duration `json:"frameInterval,omitempty"`
	// TrackID names the track (default: kind plus a counter).
	TrackID string `json:"trackId,omitempty"`
}

// Stats is a snapshot of a session.
type Stats struct {
	At time.Time `json:"at"`
	// RTT of the selected candidate pair (zero before the first STUN
	// round trip).
	RTT             time.Duration `json:"rtt"`
	LocalCandidate  string        `json:"localCandidate"` // host, srflx, prflx, relay
	RemoteCandidate string        `json:"remoteCandidate"`
	// LocalAddress and RemoteAddress are the selected pair's ip:port. A
	// remote candidate first learned from a check is typed prflx even
	// when it is the far side's TURN relay: the address tells.
	LocalAddress    string `json:"localAddress"`
	RemoteAddress   string `json:"remoteAddress"`
	BytesSent       uint64 `json:"bytesSent"`
	BytesReceived   uint64 `json:"bytesReceived"`
	PacketsSent     uint64 `json:"packetsSent"`
	PacketsReceived uint64 `json:"packetsReceived"`
	// Media counts RTP by direction (sum over tracks).
	RTPPacketsSent     uint64 `json:"rtpPacketsSent"`
	RTPBytesSent       uint64 `json:"rtpBytesSent"`
	RTPPacketsReceived uint64 `json:"rtpPacketsReceived"`
	RTPBytesReceived   uint64 `json:"rtpBytesReceived"`
	TracksReceived     int    `json:"tracksReceived"`
	// State is the current connection, ICE and signaling state.
	ConnectionState string `json:"connectionState"`
	ICEState        string `json:"iceState"`
	SignalingState  string `json:"signalingState"`
	// History is every state change so far, in order.
	History []StateChange `json:"history"`
}

// StateChange is one transition of one state machine.
type StateChange struct {
	At      time.Time `json:"at"`
	Machine string    `json:"machine"` // connection, ice, signaling, signaling-client
	State   string    `json:"state"`
}
