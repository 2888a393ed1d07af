package peer

import (
	"time"

	"github.com/netlab/netlab/internal/feed"
)

// EventType says what an Event reports.
type EventType string

const (
	EventState              EventType = "state"               // a state machine changed (Machine, State)
	EventChannelOpen        EventType = "channel-open"        // Label, ChannelID; before the channel's EventChannelClose
	EventChannelClose       EventType = "channel-close"       // Label, ChannelID; a channel closed before it opened has no EventChannelOpen
	EventTrack              EventType = "track"               // a remote track arrived (Detail: kind)
	EventHeartbeatTimeout   EventType = "heartbeat-timeout"   // nothing heard from the remote for Timeout (Path, Since)
	EventHeartbeatRecovered EventType = "heartbeat-recovered" // heard again after a timeout (Path, Duration: silence)
	EventDisconnected       EventType = "disconnected"        // detected: ICE disconnected or failed (Duration: time to detect, from the last packet heard)
	EventRestart            EventType = "restart"             // an ICE restart began (Detail: why)
	EventRecovered          EventType = "recovered"           // connected again (Duration: time to recover, from detection)
	EventVersionMismatch    EventType = "version-mismatch"    // the signaling server is another version (Detail)
	EventBye                EventType = "bye"                 // the remote closed on purpose
	EventGlare              EventType = "glare"               // an offer arrived while ours was outstanding (Detail: what was done)
	EventError              EventType = "error"               // something failed in the background (Err)
)

// Event is one thing that happened to an endpoint.
type Event struct {
	Type      EventType     `json:"type"`
	At        time.Time     `json:"at"`
	Peer      string        `json:"peer"`
	Machine   string        `json:"machine,omitempty"`
	State     string        `json:"state,omitempty"`
	Label     string        `json:"label,omitempty"`
	ChannelID uint16        `json:"channelId,omitempty"`
	Path      string        `json:"path,omitempty"` // heartbeat path: datachannel, signaling
	Since     time.Time     `json:"since,omitempty"`
	Duration  time.Duration `json:"duration,omitempty"`
	Detail    string        `json:"detail,omitempty"`
	Err       error         `json:"-"`
}

// EventQueue is an in-order, unbounded queue of events: Pop(ctx) waits.
type EventQueue = feed.Queue[Event]
