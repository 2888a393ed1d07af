package peer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// chromeHeaderExtensions are registered first, in Chrome's order, so that
// pion offers and accepts the same extension ids as Chrome: with pion's
// default order, a pion offer meeting a Chrome offer (glare, Chrome
// rolling back) fails with "RTP extension ID reassignment not supported"
// (FINDINGS.md).
var chromeHeaderExtensions = []struct {
	uri   string
	kinds []webrtc.RTPCodecType
}{
	{sdp.AudioLevelURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio}},
	{sdp.ABSSendTimeURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
	{sdp.TransportCCURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
	{sdp.SDESMidURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
}

// sendableCodecs are the codecs a Go peer offers and accepts: the two it
// can send (media.go), with pion's default parameters and payload types,
// which are Chrome's too. Not pion's whole default set: offering H264,
// VP9, AV1 and G.7xx that the peer cannot produce would let a remote pick
// one, and pion v4.2.1 rebuilds a section's codec map once per payload
// type when it applies a remote description (codecsFromMediaDescription),
// so the two dozen of a default video section cost a glare round a third
// of its CPU (docs/measurements.md, "Where a virtual case's time goes").
var sendableCodecs = []struct {
	params webrtc.RTPCodecParameters
	kind   webrtc.RTPCodecType
}{
	{webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}, webrtc.RTPCodecTypeAudio},
	{webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoRTCPFeedback},
		PayloadType:        96,
	}, webrtc.RTPCodecTypeVideo},
	{webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=96"},
		PayloadType:        97,
	}, webrtc.RTPCodecTypeVideo},
}

// videoRTCPFeedback is pion's default for video (RegisterDefaultCodecs).
var videoRTCPFeedback = []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}

// newAPI builds the pion API of one peer from its config.
func newAPI(cfg Config, o options, n *guardNet, counter *rtpCounter) (*webrtc.API, error) {
	se := webrtc.SettingEngine{LoggerFactory: o.logger}
	se.SetNet(n)
	// mDNS would send multicast off the host and hangs synctest bubbles.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(cfg.ICE.Disconnected, cfg.ICE.Failed, cfg.ICE.KeepAlive)
	se.SetSCTPRTOMax(cfg.SCTPRTOMax)
	// pion/dtls v3.0.9 as server takes a retransmitted ClientHello for a
	// duplicate and ignores it, and never resends its HelloVerifyRequest:
	// one lost HelloVerifyRequest stalls the handshake for good (pion/dtls
	// issue 479; seen here at 10% loss, 3 runs in 100). The cookie
	// exchange guards against spoofed floods, which ICE's connectivity
	// checks already rule out for WebRTC.
	se.SetDTLSInsecureSkipHelloVerify(true)
	se.SetNetworkTypes(cfg.NetworkTypes)
	w := cfg.CandidateWaits
	if w.Host > 0 {
		se.SetHostAcceptanceMinWait(w.Host)
	}
	if w.Srflx > 0 {
		se.SetSrflxAcceptanceMinWait(w.Srflx)
	}
	if w.Prflx > 0 {
		se.SetPrflxAcceptanceMinWait(w.Prflx)
	}
	if w.Relay > 0 {
		se.SetRelayAcceptanceMinWait(w.Relay)
	}
	if n.loopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetInterfaceFilter(func(name string) bool {
			ifc, err := net.InterfaceByName(name)
			return err == nil && ifc.Flags&net.FlagLoopback != 0
		})
	}

	m := &webrtc.MediaEngine{}
	for _, ext := range chromeHeaderExtensions {
		for _, kind := range ext.kinds {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: ext.uri}, kind); err != nil {
				return nil, fmt.Errorf("peer: header extension %s: %w", ext.uri, err)
			}
		}
	}
	for _, c := range sendableCodecs {
		if err := m.RegisterCodec(c.params, c.kind); err != nil {
			return nil, fmt.Errorf("peer: codec %s: %w", c.params.MimeType, err)
		}
	}
	ir := &interceptor.Registry{}
	if err := registerInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("peer: interceptors: %w", err)
	}
	ir.Add(counter)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir)), nil
}

// GenerateCertificate makes a DTLS certificate as pion does for each of
// its peers (ECDSA P-256, valid for a month from now), for WithCertificate.
func GenerateCertificate() (webrtc.Certificate, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return webrtc.Certificate{}, fmt.Errorf("peer: certificate key: %w", err)
	}
	c, err := webrtc.GenerateCertificate(k)
	if err != nil {
		return webrtc.Certificate{}, fmt.Errorf("peer: certificate: %w", err)
	}
	return *c, nil
}

// newPC makes a pion peer with every callback bound to it; callbacks of a
// peer that is no longer current (replaced, see swapLocked) are ignored.
func (p *GoPeer) newPC() (*webrtc.PeerConnection, error) {
	conf := webrtc.Configuration{ICEServers: p.cfg.ICEServers, Certificates: []webrtc.Certificate{*p.opts.cert}}
	if p.cfg.RelayOnly {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := p.api.NewPeerConnection(conf)
	if err != nil {
		return nil, fmt.Errorf("peer %s: new pion peer: %w", p.cfg.ID, err)
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil && p.isCurrent(pc) { // nil: gathering done; never sent (PROTOCOL.md)
			p.localCandidate(c)
		}
	})
	// The connection state is derived here from its two inputs rather
	// than taken from pion's OnConnectionStateChange, which runs each
	// change on a goroutine of its own (connTracker says why).
	ct := newConnTracker()
	recordConn := func(cs webrtc.PeerConnectionState) {
		if p.isCurrent(pc) {
			p.recordState(machineConnection, cs.String())
		}
	}
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if p.isCurrent(pc) {
			p.onICEState(s)
		}
		ct.iceChanged(s, pc.SignalingState() == webrtc.SignalingStateClosed, recordConn)
	})
	// pion calls it with the DTLS transport's lock held: the handler must
	// not call back into the transport.
	pc.SCTP().Transport().OnStateChange(func(s webrtc.DTLSTransportState) {
		ct.dtlsChanged(s, pc.SignalingState() == webrtc.SignalingStateClosed, recordConn)
	})
	pc.OnSignalingStateChange(func(webrtc.SignalingState) {
		p.noteSignaling(pc)
	})
	pc.OnNegotiationNeeded(func() {
		if p.isCurrent(pc) {
			p.kickNegotiator()
		}
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if p.isCurrent(pc) {
			p.onRemoteChannel(dc)
		}
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		if p.isCurrent(pc) {
			p.onTrack(t)
		}
	})
	return pc, nil
}

// noteSignaling records pc's signaling state if pc is current. It runs
// after every Set*Description (negotiate*.go) and from pion's
// OnSignalingStateChange, which pion starts on a goroutine of its own for
// each change, so notes of one change can run after notes of the next.
// The state is therefore read under mu, the lock that orders the
// records: a note that read it before taking mu could record it after a
// later note had recorded a newer one (seen once in ~1,200 exchanges).
// Read under mu, the notes sample pion's state in the order they record
// it, so the history is pion's sequence of states (recordState drops a
// repeat) and the last note, which comes after the last change, records
// the current state. SignalingState is an atomic load: it takes no pion
// lock, so reading it under mu cannot deadlock with pion's callbacks.
//
// pion v4.2.1's Close sets SignalingStateClosed without calling
// OnSignalingStateChange: "closed" is recorded only if someone notes it.
func (p *GoPeer) noteSignaling(pc *webrtc.PeerConnection) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pc != pc {
		return
	}
	state := pc.SignalingState().String()
	if h := testHookSignalingRead.Load(); h != nil {
		(*h)(p)
	}
	p.recordStateLocked(time.Now(), machineSignaling, state)
}

// recordStateLocked is recordState for a caller that holds mu.
func (p *GoPeer) recordStateLocked(at time.Time, machine, state string) {
	if p.states[machine] == state {
		return
	}
	p.states[machine] = state
	p.history = append(p.history, StateChange{At: at, Machine: machine, State: state})
	p.notifyLocked()
	// Published under mu so that events keep the history's order (the
	// hub calls nothing back).
	p.emit(Event{Type: EventState, At: at, Machine: machine, State: state})
}

// testHookSignalingRead, set only by tests, runs in noteSignaling between
// reading pion's signaling state and recording it (with mu held).
var testHookSignalingRead atomic.Pointer[func(*GoPeer)]

// rtpCounter is an interceptor counting the RTP packets and payload
// bytes written to the transport (pion v4.2.1 has no outbound-rtp stats).
type rtpCounter struct {
	interceptor.NoOp
	packets, bytes atomic.Uint64
}

func (c *rtpCounter) NewInterceptor(string) (interceptor.Interceptor, error) { return c, nil }

func (c *rtpCounter) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		n, err := w.Write(h, payload, a)
		if err == nil {
			c.packets.Add(1)
			c.bytes.Add(uint64(len(payload)))
		}
		return n, err
	})
}
