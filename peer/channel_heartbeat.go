package peer

import (
	"context"
	"fmt"
	"sync"

	"github.com/pion/webrtc/v4"
)

// ensureHeartbeatChannel creates the heartbeat's data channel on pc (label
// "netlab-heartbeat", negotiated id 1023, unordered, maxRetransmits 0)
// unless it exists. Both sides create it; it never reaches
// AcceptDataChannel or the channel events. Caller holds negMu.
//
// It is created before the first SCTP association starts (with the first
// channel of either side: before our first offer with a data section, and
// before applying a remote offer with one), not once a channel is open:
// pion v4.2.1 accepts an unknown incoming stream by reading a DCEP OPEN
// from it, and a first message of any other kind (a beat sent by a remote
// that created the channel a moment earlier) ends pion's accept loop for
// good (sctptransport.go acceptDataChannels, datachannel.Server). A channel
// that exists when the association starts is in pion's list of known
// channels, so that race cannot happen.
func (p *GoPeer) ensureHeartbeatChannel(pc *webrtc.PeerConnection) {
	if p.cfg.Heartbeat.Disabled {
		return
	}
	p.mu.Lock()
	have := p.hbDC != nil
	p.mu.Unlock()
	if have {
		return
	}
	ordered, rexmit, negotiated, id := false, uint16(0), true, heartbeatChannelID
	dc, err := pc.CreateDataChannel(heartbeatChannelLabel, &webrtc.DataChannelInit{
		Ordered: &ordered, MaxRetransmits: &rexmit, Negotiated: &negotiated, ID: &id,
	})
	if err != nil {
		p.emitErr(fmt.Errorf("peer %s: heartbeat channel: %w", p.cfg.ID, err))
		return
	}
	p.mu.Lock()
	p.hbDC = dc
	p.mu.Unlock()
	current := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.hbDC == dc && !p.closed
	}
	// pion runs OnOpen and OnClose each on a goroutine of its own, so a
	// channel that closes just after it opened may see its close first:
	// the path is added only while the channel has not closed, under
	// pathMu so that a close cannot slip in between.
	var pathMu sync.Mutex
	closed := false // guarded by pathMu
	dc.OnOpen(func() {
		p.channelCallback(heartbeatChannelLabel, callbackOpen, func() {
			pathMu.Lock()
			defer pathMu.Unlock()
			if !closed && current() {
				p.hb.AddPath(pathDataChannel, func(_ context.Context, payload []byte) error {
					return dc.Send(payload)
				})
			}
		})
	})
	dc.OnClose(func() {
		p.channelCallback(heartbeatChannelLabel, callbackClose, func() {
			pathMu.Lock()
			defer pathMu.Unlock()
			closed = true
			if current() {
				p.hb.RemovePath(pathDataChannel)
			}
		})
	})
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if current() {
			p.hb.Received(pathDataChannel, m.Data)
		}
	})
}
