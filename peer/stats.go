package peer

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"
)

// Stats is a snapshot: the selected pair's RTT, candidate types and
// packet counts (of the pair selected now: they restart with an ICE
// restart), the ICE transport's byte counts (for the whole session), RTP
// counters (sent: as written to the transport; received: as read from
// the remote tracks), the current states and the state history.
func (p *GoPeer) Stats(ctx context.Context) (Stats, error) {
	if err := ctx.Err(); err != nil {
		return Stats{}, fmt.Errorf("peer %s: stats: %w", p.cfg.ID, err)
	}
	p.mu.Lock()
	closed, pc := p.closed, p.pc
	s := Stats{
		At:              time.Now(),
		TracksReceived:  p.tracksIn,
		ConnectionState: p.states[machineConnection],
		ICEState:        p.states[machineICE],
		SignalingState:  p.states[machineSignaling],
		History:         append([]StateChange(nil), p.history...),
	}
	p.mu.Unlock()
	if closed {
		return Stats{}, p.closedErr()
	}
	s.RTPPacketsSent = p.rtpOut.packets.Load()
	s.RTPBytesSent = p.rtpOut.bytes.Load()
	s.RTPPacketsReceived = p.rtpInPackets.Load()
	s.RTPBytesReceived = p.rtpInBytes.Load()

	it := pc.SCTP().Transport().ICETransport()
	if pair, err := it.GetSelectedCandidatePair(); err == nil && pair != nil {
		s.LocalCandidate = pair.Local.Typ.String()
		s.RemoteCandidate = pair.Remote.Typ.String()
		s.LocalAddress = net.JoinHostPort(pair.Local.Address, strconv.Itoa(int(pair.Local.Port)))
		s.RemoteAddress = net.JoinHostPort(pair.Remote.Address, strconv.Itoa(int(pair.Remote.Port)))
	}
	if cp, ok := it.GetSelectedCandidatePairStats(); ok {
		s.RTT = time.Duration(cp.CurrentRoundTripTime * float64(time.Second))
		s.PacketsSent = uint64(cp.PacketsSent)
		s.PacketsReceived = uint64(cp.PacketsReceived)
	}
	for _, v := range pc.GetStats() {
		if t, ok := v.(webrtc.TransportStats); ok {
			s.BytesSent += t.BytesSent
			s.BytesReceived += t.BytesReceived
		}
	}
	return s, nil
}
