package peer

import (
	"fmt"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"
)

// maxNacksPerPacket bounds how many times a Go peer asks for one lost RTP
// packet. pion v4.2.1's NACK generator never learns that a packet came
// back through RTX: the repaired packet is logged on the RTX stream, not
// on the media stream it repairs (pion/webrtc#3063, pion/interceptor#320).
// Unbounded, as pion sets it up, the generator asks for that packet again
// every 100 ms for as long as it stays in its 512-packet log, and the
// sender answers each time: about 170 retransmissions of every lost
// packet of a 30-frame video. Over 3g (750 kbit/s, 1.5% loss) a
// 200 kbit/s video call filled its uplink that way within some 40 s,
// after which the link's queue dropped thousands of packets and the data
// channel on the same link went silent for 11 s (the glare family's
// watch found it). 10 is libwebrtc's bound (kMaxNackRetries).
const maxNacksPerPacket = 10

// registerInterceptors is webrtc.RegisterDefaultInterceptors with the NACK
// generator bounded (maxNacksPerPacket): the same interceptors, in the
// same order, with the same feedback registered.
func registerInterceptors(m *webrtc.MediaEngine, ir *interceptor.Registry) error {
	generator, err := nack.NewGeneratorInterceptor(nack.GeneratorMaxNacksPerPacket(maxNacksPerPacket))
	if err != nil {
		return fmt.Errorf("nack generator: %w", err)
	}
	responder, err := nack.NewResponderInterceptor()
	if err != nil {
		return fmt.Errorf("nack responder: %w", err)
	}
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	ir.Add(responder)
	ir.Add(generator)
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return err
	}
	if err := webrtc.ConfigureStatsInterceptor(ir); err != nil {
		return err
	}
	return webrtc.ConfigureTWCCSender(m, ir)
}
