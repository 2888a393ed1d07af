package netem

import (
	"fmt"
	"time"
)

// Replay decides again, on a fresh shaper made from cfg, the packets that
// events record for direction dir: each event's size, at its time since
// the epoch, in order. It returns the events the fresh shaper records,
// each with the index of the one it replays.
//
// When events come from a live shaper of the same name, seed and profile,
// begin where that profile began (Ledger.Switches) on a link that was
// perfect until then (so that no random draw, queue or reorder count
// carries over), and none is missing (Omitted is zero), the result
// equals them: a check, packet by packet, that a link applied the
// profile, where a statistical band around its rates would fail some
// seeds with nothing wrong. The rates themselves are the shaper's tests'
// to check, over many packets.
func Replay(cfg Config, dir Direction, events []Event) ([]Event, error) {
	if dir != Up && dir != Down {
		return nil, fmt.Errorf("%w: want up or down, got %d", ErrBadDirection, dir)
	}
	epoch := time.Unix(0, 0)
	s, err := New(cfg, WithEpoch(epoch), WithEvents(len(events)))
	if err != nil {
		return nil, err
	}
	for i, e := range events {
		if e.At < 0 || e.Size < 0 {
			return nil, fmt.Errorf("%w: replay event %d (index %d): time %v and size %d must not be negative", ErrBadConfig, i, e.Index, e.At, e.Size)
		}
		s.Shape(epoch.Add(e.At), e.Size, dir)
	}
	out := s.Ledger(dir).Events
	for i := range out {
		out[i].Index = events[i].Index
	}
	return out, nil
}
