package peer

import (
	"context"
	"fmt"

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
	dc.OnOpen(func() {
		if current() {
			p.hb.AddPath(pathDataChannel, func(_ context.Context, payload []byte) error {
				return dc.Send(payload)
			})
		}
	})
	dc.OnClose(func() {
		if current() {
			p.hb.RemovePath(pathDataChannel)
		}
	})
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if current() {
			p.hb.Received(pathDataChannel, m.Data)
		}
	})
}
