package peer

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/transport/v3/vnet"

	"github.com/netlab/netlab/netem"
)

// The Go peer's video payload types (sendableCodecs).
const (
	vp8PT    = 96
	vp8RTXPT = 97
)

// rtpTally counts, from one address, the media packets (by sequence
// number) and the RTX packets that cross the world's router. SRTP leaves
// the RTP header in the clear, so the payload type and sequence number
// are readable there.
type rtpTally struct {
	from string // IP

	mu      sync.Mutex
	seen    map[int64]bool // guarded by mu: media sequence numbers, unwrapped
	started bool           // guarded by mu
	last    uint16         // guarded by mu: the last sequence number seen
	lastExt int64          // guarded by mu: last, unwrapped
	rtx     int            // guarded by mu
}

func (r *rtpTally) filter(c vnet.Chunk) bool {
	b := c.UserData()
	src, ok := c.SourceAddr().(*net.UDPAddr)
	if !ok || src.IP.String() != r.from || len(b) < 12 || b[0]>>6 != 2 {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch b[1] & 0x7f {
	case vp8PT:
		s := binary.BigEndian.Uint16(b[2:4])
		if r.started {
			// Nothing is reordered on this link, and a gap is far
			// below 32,768: the signed difference unwraps.
			r.lastExt += int64(int16(s - r.last))
		}
		r.started, r.last = true, s
		r.seen[r.lastExt] = true
	case vp8RTXPT:
		r.rtx++
	}
	return true
}

// counts is how many media sequence numbers between the lowest and the
// highest that crossed did not cross, how many did, and how many RTX
// packets crossed.
func (r *rtpTally) counts() (lost, crossed, rtx int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var lo, hi int64
	first := true
	for s := range r.seen {
		if first || s < lo {
			lo = s
		}
		if first || s > hi {
			hi = s
		}
		first = false
	}
	if first {
		return 0, 0, r.rtx
	}
	return int(hi-lo) + 1 - len(r.seen), len(r.seen), r.rtx
}

// TestNACKsPerLostPacketBounded: over a lossy 750 kbit/s link (3g
// without its jitter, so nothing is reordered and every gap is a loss), a
// 200 kbit/s video sees each lost packet sent again at most
// maxNacksPerPacket times, and never congests its own link. Without the
// bound, pion repeats every lost packet for as long as it stays in its
// NACK log (gopeer_nack.go): about 170 times at 30 frames a second.
func TestNACKsPerLostPacketBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prof, err := netem.ParseProfile("3g-no-jitter.yaml", []byte("delay: 125ms\nloss: 1.5%\nrate: 750kbit\n"))
		if err != nil {
			t.Fatal(err)
		}
		pr := newPair(t, pairOpts{seed: 3, shapeA: prof})
		tally := &rtpTally{from: pr.ha.IP, seen: map[int64]bool{}}
		pr.world.AddFilter(tally.filter)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := pr.a.AddMedia(ctx, MediaSpec{Kind: Video, Bitrate: 200_000}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute) // virtual time: the call, measured
		lost, crossed, rtx := tally.counts()
		t.Logf("in a minute: %d media packets crossed, %d lost, %d retransmissions (RTX) crossed", crossed, lost, rtx)
		if crossed < 1500 {
			t.Fatalf("only %d media packets crossed in a minute of 30 frames a second", crossed)
		}
		// Each lost packet is asked for at most maxNacksPerPacket times
		// and each request is answered once; RTX that crossed are fewer
		// still (some are lost).
		if rtx > maxNacksPerPacket*lost {
			t.Errorf("%d retransmissions crossed for %d lost packets: more than %d each", rtx, lost, maxNacksPerPacket)
		}
		// And the repair works: at 1.5% loss each way, all ten requests
		// and answers for one packet fail with p < 1e-15.
		if lost > 0 && rtx < lost {
			t.Errorf("%d retransmissions crossed for %d lost packets: some were never repaired", rtx, lost)
		}
		if q := pr.ha.Shaper.Ledger(netem.Up).Counters.DroppedBy["queue"]; q != 0 {
			t.Errorf("a's uplink queue dropped %d packets: the call congested its own 750 kbit/s link", q)
		}
	})
}
