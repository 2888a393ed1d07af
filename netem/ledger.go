package netem

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"time"
)

// Ledger is what one direction of one impairment point decided: counters,
// a running SHA-256 over every decision (index, size, fate, delays), and
// optionally the first events in full. Two runs with the same seed and the
// same packet sequence have the same hash; the hash covers decisions, not
// wall-clock times, so it means the same in real and virtual time.
type Ledger struct {
	Point     string   `json:"point"`
	Direction string   `json:"direction"`
	Counters  Counters `json:"counters"`
	SHA256    string   `json:"sha256"`
	Events    []Event  `json:"events,omitempty"`
	Omitted   uint64   `json:"events_omitted,omitempty"` // events past the cap
	// Switches holds, for each profile set (New's first, then each
	// SetProfile), the index of the first packet decided under it:
	// where a replay of the events begins (Replay).
	Switches []uint64 `json:"profile_switches,omitempty"`
}

// Counters sum up a ledger.
type Counters struct {
	Packets        uint64            `json:"packets"`
	Bytes          uint64            `json:"bytes"`
	Delivered      uint64            `json:"delivered"`
	DeliveredBytes uint64            `json:"delivered_bytes"`
	Dropped        uint64            `json:"dropped"`
	DroppedBy      map[string]uint64 `json:"dropped_by,omitempty"`
	Duplicated     uint64            `json:"duplicated"`
	Corrupted      uint64            `json:"corrupted"`
	Reordered      uint64            `json:"reordered"`
}

// Event is one decision, for the capped event list.
type Event struct {
	Index     uint64        `json:"index"`
	At        time.Duration `json:"at_ns"` // since the shaper's epoch
	Size      int           `json:"size"`
	Phase     int           `json:"phase"`
	Drop      string        `json:"drop,omitempty"`
	Delay     time.Duration `json:"delay_ns,omitempty"`
	Dup       bool          `json:"dup,omitempty"`
	Corrupt   bool          `json:"corrupt,omitempty"`
	Reordered bool          `json:"reordered,omitempty"`
}

// ledger is the live, unexported side of a Ledger.
type ledger struct {
	hash      hash.Hash
	counters  Counters
	droppedBy [numDrops]uint64
	events    []Event
	switches  []uint64
	eventCap  int
	omitted   uint64
	rec       [40]byte
}

func newLedger(eventCap int) *ledger {
	return &ledger{hash: sha256.New(), eventCap: eventCap}
}

func (l *ledger) record(at time.Duration, f *Fate) {
	c := &l.counters
	c.Packets++
	c.Bytes += uint64(f.Size)
	if f.Dropped() {
		c.Dropped++
		l.droppedBy[f.Drop]++
	} else {
		c.Delivered++
		c.DeliveredBytes += uint64(f.Size)
		if f.Dup {
			c.Duplicated++
		}
		if f.Corrupt {
			c.Corrupted++
		}
		if f.Reordered {
			c.Reordered++
		}
	}
	// A fixed-size binary record: index, size, drop, flags, corruption,
	// delays. Absolute times are left out on purpose.
	b := l.rec[:]
	binary.BigEndian.PutUint64(b[0:], f.Index)
	binary.BigEndian.PutUint32(b[8:], uint32(f.Size))
	b[12] = byte(f.Drop)
	b[13] = boolBit(f.Dup, 0) | boolBit(f.Corrupt, 1) | boolBit(f.Reordered, 2)
	b[14] = f.CorruptBit
	b[15] = 0
	binary.BigEndian.PutUint32(b[16:], uint32(int32(f.Phase)))
	binary.BigEndian.PutUint32(b[20:], uint32(f.CorruptByte))
	binary.BigEndian.PutUint64(b[24:], uint64(f.Delay))
	binary.BigEndian.PutUint64(b[32:], uint64(f.DupDelay))
	l.hash.Write(b)

	if len(l.events) < l.eventCap {
		e := Event{Index: f.Index, At: at, Size: f.Size, Phase: f.Phase, Delay: f.Delay, Dup: f.Dup, Corrupt: f.Corrupt, Reordered: f.Reordered}
		if f.Dropped() {
			e.Drop, e.Delay = f.Drop.String(), 0
		}
		l.events = append(l.events, e)
	} else if l.eventCap > 0 {
		l.omitted++
	}
}

func boolBit(b bool, bit uint) byte {
	if b {
		return 1 << bit
	}
	return 0
}

func (l *ledger) snapshot(point string, dir Direction) Ledger {
	c := l.counters
	for d := Drop(1); d < numDrops; d++ {
		if n := l.droppedBy[d]; n > 0 {
			if c.DroppedBy == nil {
				c.DroppedBy = map[string]uint64{}
			}
			c.DroppedBy[d.String()] = n
		}
	}
	return Ledger{
		Point:     point,
		Direction: dir.String(),
		Counters:  c,
		SHA256:    hex.EncodeToString(l.hash.Sum(nil)),
		Events:    append([]Event(nil), l.events...),
		Omitted:   l.omitted,
		Switches:  append([]uint64(nil), l.switches...),
	}
}
