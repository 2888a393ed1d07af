package peer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// Media defaults (MediaSpec zero fields).
const (
	DefaultAudioBitrate  = 64_000
	DefaultVideoBitrate  = 500_000
	DefaultAudioInterval = 20 * time.Millisecond
	DefaultVideoInterval = 33 * time.Millisecond
	maxMediaBitrate      = 50_000_000
)

// mediaSender is one local track fed with generated frames.
type mediaSender struct {
	spec  MediaSpec                      // read-only
	track *webrtc.TrackLocalStaticSample // read-only
	seed  uint64                         // read-only
	mu    sync.Mutex
	rtp   *webrtc.RTPSender // guarded by mu; replaced by the polite swap
}

func (ms *mediaSender) setSender(s *webrtc.RTPSender) {
	ms.mu.Lock()
	ms.rtp = s
	ms.mu.Unlock()
}

func (ms *mediaSender) sender() *webrtc.RTPSender {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.rtp
}

// withDefaults validates m and fills its zero fields; n numbers default
// track ids.
func (m MediaSpec) withDefaults(n int) (MediaSpec, error) {
	switch m.Kind {
	case Audio:
		if m.Bitrate == 0 {
			m.Bitrate = DefaultAudioBitrate
		}
		if m.FrameInterval == 0 {
			m.FrameInterval = DefaultAudioInterval
		}
	case Video:
		if m.Bitrate == 0 {
			m.Bitrate = DefaultVideoBitrate
		}
		if m.FrameInterval == 0 {
			m.FrameInterval = DefaultVideoInterval
		}
	default:
		return m, fmt.Errorf("%w: media kind: want %q or %q, got %q", ErrBadConfig, Audio, Video, m.Kind)
	}
	if m.Bitrate < 0 || m.Bitrate > maxMediaBitrate {
		return m, fmt.Errorf("%w: media bitrate: want 1..%d bits/s (0 for the default), got %d", ErrBadConfig, maxMediaBitrate, m.Bitrate)
	}
	if m.FrameInterval < time.Millisecond || m.FrameInterval > time.Second {
		return m, fmt.Errorf("%w: media frame interval: want 1ms..1s (0 for the default), got %v", ErrBadConfig, m.FrameInterval)
	}
	if m.frameBytes() < 1 {
		return m, fmt.Errorf("%w: media: %d bits/s at one frame per %v is less than a byte a frame", ErrBadConfig, m.Bitrate, m.FrameInterval)
	}
	if m.TrackID == "" {
		m.TrackID = fmt.Sprintf("%s%d", m.Kind, n)
	}
	if strings.ContainsAny(m.TrackID, " \r\n") {
		return m, fmt.Errorf("%w: track id %q: no spaces or line breaks (it goes into the SDP)", ErrBadConfig, m.TrackID)
	}
	return m, nil
}

func (m MediaSpec) frameBytes() int {
	return int(int64(m.Bitrate) * int64(m.FrameInterval) / int64(8*time.Second))
}

func (p *GoPeer) streamID() string { return "netlab-" + p.cfg.ID }

// AddMedia adds a generated track (opus for audio, VP8 for video) and
// returns once it is negotiated; frames flow from then on, from a
// goroutine the peer owns, at the spec's bitrate and frame interval.
func (p *GoPeer) AddMedia(ctx context.Context, spec MediaSpec) error {
	p.mu.Lock()
	p.mediaSeq++
	n := p.mediaSeq
	seed := p.rng.Uint64()
	p.mu.Unlock()
	spec, err := spec.withDefaults(n)
	if err != nil {
		return err
	}
	codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	if spec.Kind == Video {
		codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	}
	track, err := webrtc.NewTrackLocalStaticSample(codec, spec.TrackID, p.streamID())
	if err != nil {
		return fmt.Errorf("peer %s: track %q: %w", p.cfg.ID, spec.TrackID, err)
	}
	ms := &mediaSender{spec: spec, track: track, seed: seed}
	create := func() error {
		p.negMu.Lock()
		defer p.negMu.Unlock()
		if p.isClosed() {
			return p.closedErr()
		}
		s, err := p.currentPC().AddTrack(track)
		if err != nil {
			return fmt.Errorf("peer %s: adding track %q: %w", p.cfg.ID, spec.TrackID, err)
		}
		ms.setSender(s)
		// AddTrack may reuse a transceiver the remote's offer made (its
		// mid is set already): only a new offer tells the remote.
		p.forceOffer = true
		p.mu.Lock()
		p.senders = append(p.senders, ms)
		p.mu.Unlock()
		return nil
	}
	if p.cfg.Glare == GlarePerfect {
		if err = create(); err == nil {
			p.kickNegotiator()
		}
	} else {
		err = p.lockedOp(ctx, create, true)
	}
	if err != nil {
		return err
	}
	msid := "a=msid:" + p.streamID() + " " + spec.TrackID
	err = p.waitFor(ctx, fmt.Sprintf("track %q to be negotiated", spec.TrackID), func() (bool, error) {
		pc := p.currentPC()
		ld := pc.CurrentLocalDescription()
		if pc.SignalingState() == webrtc.SignalingStateStable && ld != nil && strings.Contains(ld.SDP, msid) {
			return true, nil
		}
		return false, p.perfectError()
	})
	if err != nil {
		return err
	}
	p.spawn(func() { p.runMedia(ms) })
	if s := ms.sender(); s != nil {
		p.spawn(func() { drainRTCP(s) })
	}
	return nil
}

// runMedia writes one generated frame per interval until Close.
func (p *GoPeer) runMedia(ms *mediaSender) {
	rng := rand.New(rand.NewPCG(ms.seed, 0x6d65646961))
	size := ms.spec.frameBytes()
	t := time.NewTicker(ms.spec.FrameInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-p.ctx.Done():
			return
		}
		frame := make([]byte, size)
		for i := 0; i < size; i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8 && i+j < size; j++ {
				frame[i+j] = byte(v >> (8 * j))
			}
		}
		if err := ms.track.WriteSample(media.Sample{Data: frame, Duration: ms.spec.FrameInterval}); err != nil && p.ctx.Err() == nil {
			p.emitErr(fmt.Errorf("peer %s: track %q: %w", p.cfg.ID, ms.spec.TrackID, err))
			return
		}
	}
}

// drainRTCP reads a sender's RTCP so the interceptors (NACK, reports)
// see it; it ends when the peer closes.
func drainRTCP(s *webrtc.RTPSender) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := s.Read(buf); err != nil {
			return
		}
	}
}

// onTrack counts a remote track and every RTP packet read from it.
func (p *GoPeer) onTrack(t *webrtc.TrackRemote) {
	p.mu.Lock()
	p.tracksIn++
	p.mu.Unlock()
	p.emit(Event{Type: EventTrack, Detail: t.Kind().String(), Label: t.ID()})
	p.spawn(func() {
		for {
			pkt, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			p.rtpInPackets.Add(1)
			p.rtpInBytes.Add(uint64(len(pkt.Payload)))
		}
	})
}
