package reports

import (
	"cmp"
	"slices"
)

// Event is one entry of a case's timeline: what happened, where, when.
// Flat on purpose, so a timeline is easy to plot, diff and grep.
type Event struct {
	At     float64 `json:"at_s"`             // seconds since the case's start, on the case's Clock
	Source string  `json:"source"`           // endpoint name, "link:<name>", "signaling" or "lab"
	Kind   string  `json:"kind"`             // ice-state, peer-state, heartbeat-timeout, cut, restore, flap, profile, rebind, signaling-drop, server-restart, phase, ...
	Detail string  `json:"detail,omitempty"` // free text: the new state, the profile's name, ...
}

// SortTimeline sorts events by At, keeping the order in which events with
// the same At were recorded (under a virtual clock many share an instant,
// and their recorded order is the causal one).
func SortTimeline(events []Event) {
	slices.SortStableFunc(events, func(a, b Event) int { return cmp.Compare(a.At, b.At) })
}
