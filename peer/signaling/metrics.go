package signaling

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Metrics is a snapshot of a server's counters (Server.Metrics).
type Metrics struct {
	WSClients  int // WebSocket clients registered now
	SSEClients int // SSE clients registered now

	WSConnects  int64 // WebSocket registrations so far
	SSEConnects int64 // SSE registrations so far
	Disconnects int64 // registrations ended, for any reason
	Replaced    int64 // registrations ended by a newer one for the same id

	Relayed      int64 // messages written to their recipient
	RelayedBytes int64 // bytes of those messages

	PingsSent    int64 // ping messages written to SSE clients
	PingsDropped int64 // SSE clients dropped for not answering a ping

	// Refused counts refusals by reason: the ErrorData codes (malformed,
	// missing-field, too-large, forged, unknown-recipient) and bad-id,
	// shutting-down, bad-request.
	Refused map[string]int64
}

// RefusedTotal is the sum of Refused.
func (m Metrics) RefusedTotal() int64 {
	var n int64
	for _, v := range m.Refused {
		n += v
	}
	return n
}

// counters are the live figures behind Metrics; the hot ones are atomic
// so the relay path takes no lock for them.
type counters struct {
	wsConnects, sseConnects, disconnects, replaced atomic.Int64
	relayed, relayedBytes                          atomic.Int64
	pingsSent, pingsDropped                        atomic.Int64

	mu      sync.Mutex
	refused map[string]int64 // guarded by mu
}

func (c *counters) refuse(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refused == nil {
		c.refused = map[string]int64{}
	}
	c.refused[reason]++
}

func (c *counters) relay(bytes int) {
	c.relayed.Add(1)
	c.relayedBytes.Add(int64(bytes))
}

func (c *counters) snapshot() Metrics {
	c.mu.Lock()
	refused := maps.Clone(c.refused)
	c.mu.Unlock()
	if refused == nil {
		refused = map[string]int64{}
	}
	return Metrics{
		WSConnects:   c.wsConnects.Load(),
		SSEConnects:  c.sseConnects.Load(),
		Disconnects:  c.disconnects.Load(),
		Replaced:     c.replaced.Load(),
		Relayed:      c.relayed.Load(),
		RelayedBytes: c.relayedBytes.Load(),
		PingsSent:    c.pingsSent.Load(),
		PingsDropped: c.pingsDropped.Load(),
		Refused:      refused,
	}
}
