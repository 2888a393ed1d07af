package netem

import "time"

// recordChunk records in direction dir's ledger what the TCP proxy did with
// a chunk of size bytes read at `at` under phase: its last byte left delay
// later (holds in a blackhole included). Bytes are never dropped, so every
// chunk counts as delivered.
func (s *Shaper) recordChunk(at time.Time, dir Direction, size, phase int, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &s.dirs[dir&1]
	f := Fate{Index: d.index, Size: size, Phase: phase, Delay: delay}
	d.index++
	d.ledger.record(at.Sub(s.epoch), &f)
}
