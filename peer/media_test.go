package peer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// flow measures d of steady media: it waits until both sides are
// connected and the first packets went by, then returns what each side
// counted during d.
func flow(t *testing.T, ctx context.Context, pr *pair, d time.Duration) (a, b Stats) {
	t.Helper()
	if err := pr.waitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // virtual time: past the first packets
	a0, b0 := pr.stats(t, ctx)
	time.Sleep(d) // virtual time: media flows meanwhile
	a1, b1 := pr.stats(t, ctx)
	delta := func(s1, s0 Stats) Stats {
		s1.RTPPacketsSent -= s0.RTPPacketsSent
		s1.RTPBytesSent -= s0.RTPBytesSent
		s1.RTPPacketsReceived -= s0.RTPPacketsReceived
		s1.RTPBytesReceived -= s0.RTPBytesReceived
		return s1
	}
	return delta(a1, a0), delta(b1, b0)
}

// TestMediaOneWay (seed spec 19): a sends audio; b gets the track and
// counts its packets: 50 a second at the default 20 ms frames.
func TestMediaOneWay(t *testing.T) {
	for _, sm := range signalingModes {
		t.Run(sm.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pr := newPair(t, pairOpts{delay: sm.delay, seed: 19})
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				qb := pr.b.Events()
				start := time.Now()
				if err := pr.a.AddMedia(ctx, MediaSpec{Kind: Audio}); err != nil {
					t.Fatal(err)
				}
				t.Logf("audio negotiated after %v of virtual time", time.Since(start))
				e, err := waitEvent(ctx, qb, func(e Event) bool { return e.Type == EventTrack })
				if err != nil {
					t.Fatal(err)
				}
				if e.Detail != "audio" || e.Peer != "b" {
					t.Errorf("track event %+v, want audio at b", e)
				}
				sa, sb := flow(t, ctx, pr, 2*time.Second)
				t.Logf("in 2 s: a sent %d RTP packets (%d bytes); b received %d (%d bytes), %d tracks",
					sa.RTPPacketsSent, sa.RTPBytesSent, sb.RTPPacketsReceived, sb.RTPBytesReceived, sb.TracksReceived)
				// 2 s at 50 frames/s, one packet each, on a perfect link in
				// virtual time: 100, give or take the frame on the edge.
				if sb.RTPPacketsReceived < 99 || sb.RTPPacketsReceived > 101 || sa.RTPPacketsSent < 99 || sa.RTPPacketsSent > 101 {
					t.Errorf("in 2 s a sent %d packets, b received %d; want 100 each", sa.RTPPacketsSent, sb.RTPPacketsReceived)
				}
				// 64 kbit/s at 20 ms: 160 bytes a frame.
				if sb.RTPPacketsReceived > 0 && sb.RTPBytesReceived != 160*sb.RTPPacketsReceived {
					t.Errorf("b received %d bytes in %d packets, want 160 a packet", sb.RTPBytesReceived, sb.RTPPacketsReceived)
				}
				if sb.TracksReceived != 1 || sa.TracksReceived != 0 {
					t.Errorf("tracks received: a %d, b %d; want 0 and 1", sa.TracksReceived, sb.TracksReceived)
				}
			})
		})
	}
}

// TestMediaBothWays (seed spec 20): both sides add video at the same
// instant; both tracks get negotiated and flow.
func TestMediaBothWays(t *testing.T) {
	for _, glare := range []GlareStrategy{GlareLock, GlarePerfect} {
		for _, sm := range signalingModes {
			t.Run(glare.String()+"/"+sm.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					pr := newPair(t, pairOpts{delay: sm.delay, seed: 20, config: func(c *Config) { c.Glare = glare }})
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					errs := make(chan error, 2)
					for _, p := range []*GoPeer{pr.a, pr.b} {
						go func() { errs <- p.AddMedia(ctx, MediaSpec{Kind: Video}) }()
					}
					for range 2 {
						if err := <-errs; err != nil {
							t.Fatal(err)
						}
					}
					sa, sb := flow(t, ctx, pr, 2*time.Second)
					for i, s := range []Stats{sa, sb} {
						// 500 kbit/s at 33 ms: 2,062 bytes a frame in 2
						// packets; 2 s is 60 or 61 frames.
						t.Logf("%s in 2 s: sent %d packets (%d bytes), received %d (%d bytes), tracks %d",
							[]string{"a", "b"}[i], s.RTPPacketsSent, s.RTPBytesSent, s.RTPPacketsReceived, s.RTPBytesReceived, s.TracksReceived)
						if s.TracksReceived != 1 || s.RTPPacketsReceived < 120 || s.RTPPacketsReceived > 122 {
							t.Errorf("side %d: %d tracks, %d packets received in 2 s; want 1 track, 120 to 122 packets", i, s.TracksReceived, s.RTPPacketsReceived)
						}
					}
				})
			})
		}
	}
}

// TestDataAndMedia (seed spec 21): a channel and a track at once, from
// one side.
func TestDataAndMedia(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr := newPair(t, pairOpts{delay: 100 * time.Millisecond, seed: 21})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		mediaErr := make(chan error, 1)
		go func() { mediaErr <- pr.a.AddMedia(ctx, MediaSpec{Kind: Audio}) }()
		ca, err := pr.a.CreateDataChannel(ctx, "d", ChannelOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := <-mediaErr; err != nil {
			t.Fatal(err)
		}
		cb, err := pr.b.AcceptDataChannel(ctx, "d")
		if err != nil {
			t.Fatal(err)
		}
		if err := expectMessage(ctx, ca, cb, "with media"); err != nil {
			t.Fatal(err)
		}
		_, sb := flow(t, ctx, pr, time.Second)
		if sb.RTPPacketsReceived < 49 || sb.RTPPacketsReceived > 51 {
			t.Errorf("b received %d RTP packets in 1 s, want 50", sb.RTPPacketsReceived)
		}
	})
}

func TestMediaBadSpec(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr := newPair(t, pairOpts{})
		for name, spec := range map[string]MediaSpec{
			"no kind":          {},
			"bad kind":         {Kind: "smell"},
			"negative bitrate": {Kind: Audio, Bitrate: -1},
			"tiny interval":    {Kind: Video, FrameInterval: time.Microsecond},
			"space in id":      {Kind: Audio, TrackID: "a b"},
			"under a byte":     {Kind: Audio, Bitrate: 10, FrameInterval: time.Millisecond},
		} {
			if err := pr.a.AddMedia(context.Background(), spec); !errors.Is(err, ErrBadConfig) {
				t.Errorf("%s: err = %v, want ErrBadConfig", name, err)
			}
		}
	})
}

// TestChromeHeaderExtensionOrder: pion's offer numbers the RTP header
// extensions as Chrome does (audio-level 1, abs-send-time 2,
// transport-cc 3, sdes:mid 4), which is what lets a pion offer meet a
// Chrome one in glare (FINDINGS.md).
func TestChromeHeaderExtensionOrder(t *testing.T) {
	expectLines(t, audioVideoOffer(t).SDP,
		"a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
		"a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
		"a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
		"a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
	)
}

// TestOfferedCodecs: a Go peer offers the codecs it can send (Opus, and
// VP8 with its RTX), with Chrome's payload types, not pion's two dozen.
func TestOfferedCodecs(t *testing.T) {
	expectLines(t, audioVideoOffer(t).SDP,
		"m=audio 9 UDP/TLS/RTP/SAVPF 111",
		"a=rtpmap:111 opus/48000/2",
		"m=video 9 UDP/TLS/RTP/SAVPF 96 97",
		"a=rtpmap:96 VP8/90000",
		"a=fmtp:97 apt=96",
		"a=rtcp-fb:96 nack pli",
	)
}

// expectLines fails t for each line that sdp lacks, and then shows sdp.
func expectLines(t *testing.T, sdp string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(sdp, l+"\r\n") {
			t.Errorf("offer lacks %q", l)
		}
	}
	if t.Failed() {
		t.Logf("offer:\n%s", sdp)
	}
}

// audioVideoOffer is the offer of a fresh Go peer's pion API with an
// audio and a video transceiver.
func audioVideoOffer(t *testing.T) webrtc.SessionDescription {
	t.Helper()
	gnet, err := newGuardNet(nil)
	if err != nil {
		t.Fatal(err)
	}
	api, err := newAPI(Config{NetworkTypes: []webrtc.NetworkType{webrtc.NetworkTypeUDP4}, SCTPRTOMax: time.Second,
		ICE: ICETimeouts{Disconnected: 5 * time.Second, Failed: 25 * time.Second, KeepAlive: 2 * time.Second}},
		options{logger: logging.NewDefaultLoggerFactory()}, gnet, &rtpCounter{})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(k); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer
}
