package netem

import "time"

// Drop says why a packet was dropped; DropNone means it was delivered.
type Drop uint8

// Reasons for a drop, in the order the shaper checks them.
const (
	DropNone      Drop = iota
	DropMTU            // larger than the MTU
	DropBlackhole      // the link is down (blackhole)
	DropFlap           // the link is in the down part of a flap
	DropLoss           // the loss model
	DropQueue          // the queue was full (tail drop)
	DropAQM            // CoDel dropped it at the head of the queue
	numDrops
)

var dropNames = [numDrops]string{"none", "mtu", "blackhole", "flap", "loss", "queue", "aqm"}

func (d Drop) String() string {
	if d < numDrops {
		return dropNames[d]
	}
	return "unknown"
}

// Fate is what the shaper decided for one packet in one direction.
type Fate struct {
	Index uint64 // position in this direction's stream, from 0
	Size  int    // payload bytes
	Phase int    // schedule phase in force, -1 for the base profile
	Drop  Drop   // DropNone when delivered

	// Delay is how long after it was sent the packet is delivered (>= 0).
	Delay time.Duration
	// Dup asks for a second copy, delivered DupDelay after sending.
	Dup      bool
	DupDelay time.Duration
	// Corrupt asks to flip bit CorruptBit of byte CorruptByte.
	Corrupt     bool
	CorruptByte int
	CorruptBit  uint8
	// Reordered: sent at once by the reorder rule, overtaking delayed ones.
	Reordered bool
}

// Dropped reports whether the packet is not delivered at all.
func (f Fate) Dropped() bool { return f.Drop != DropNone }

// Apply corrupts p in place as the fate says; p must be the packet's
// payload. It is a no-op for an uncorrupted fate.
func (f Fate) Apply(p []byte) {
	if f.Corrupt && f.CorruptByte < len(p) {
		p[f.CorruptByte] ^= 1 << f.CorruptBit
	}
}
