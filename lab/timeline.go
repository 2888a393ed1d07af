package lab

import (
	"fmt"
	"slices"
	"time"

	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/signaling"
)

// Entry is one line of a lab's timeline.
type Entry struct {
	// At is the time since the lab started, on its clock (virtual inside
	// a synctest bubble).
	At time.Duration
	// Source is what it happened to: a peer id, "link:<endpoint>",
	// "signaling", "signaling:<id>", "turn".
	Source string
	// Kind says what happened: a peer event type ("state", "heartbeat-
	// timeout", "recovered", ...), a client state, or a control ("cut",
	// "restore", "flap-down", "profile", "rebind", "signaling-drop",
	// "server-restart", "phase").
	Kind string
	// Detail adds what the kind needs (the new state, the profile, ...).
	Detail string
}

func (e Entry) String() string {
	s := fmt.Sprintf("%9.3fs %-20s %s", e.At.Seconds(), e.Source, e.Kind)
	if e.Detail != "" {
		s += " " + e.Detail
	}
	return s
}

// source is something whose events the timeline takes in: a peer or a
// signaling client, read through its event history.
type source struct {
	history func() []Entry
	cursor  int // entries already taken in
}

// watchLocked adds a source to the timeline; l.mu is held.
func (l *Lab) watchLocked(history func() []Entry) {
	l.sources = append(l.sources, &source{history: history})
}

func (l *Lab) watchPeer(p peer.Endpoint) {
	l.watchLocked(func() []Entry {
		h := p.EventHistory()
		out := make([]Entry, len(h))
		for i, ev := range h {
			out[i] = Entry{At: ev.At.Sub(l.start), Source: ev.Peer, Kind: string(ev.Type), Detail: peerDetail(ev)}
		}
		return out
	})
}

func (l *Lab) watchClient(id string, c *signaling.Client) {
	l.watchClientHistory("signaling:"+id, c.EventHistory)
}

// watchClientHistory puts a signaling client's states on the timeline
// under source; l.mu is held.
func (l *Lab) watchClientHistory(source string, history func() []signaling.ClientEvent) {
	l.watchLocked(func() []Entry {
		h := history()
		out := make([]Entry, len(h))
		for i, ev := range h {
			d := ""
			if ev.Type == signaling.EventState {
				d = ev.State.String()
			}
			if ev.Err != nil {
				d += " (" + ev.Err.Error() + ")"
			}
			out[i] = Entry{At: ev.At.Sub(l.start), Source: source, Kind: string(ev.Type), Detail: d}
		}
		return out
	})
}

// flushLocked takes in what every source recorded since the last flush.
// Called before each control is noted, it keeps the true order of a
// control and the events before it even when they share an instant (in
// virtual time they often do); l.mu is held.
func (l *Lab) flushLocked() {
	for _, s := range l.sources {
		h := s.history()
		if s.cursor < len(h) {
			l.events = append(l.events, h[s.cursor:]...)
			s.cursor = len(h)
		}
	}
}

// note records a control or server event at the current time.
func (l *Lab) note(src, kind, detail string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.noteLocked(src, kind, detail)
}

// noteLocked is note with l.mu held; it returns the entry's time.
func (l *Lab) noteLocked(src, kind, detail string) time.Duration {
	l.flushLocked()
	at := time.Since(l.start)
	l.events = append(l.events, Entry{At: at, Source: src, Kind: kind, Detail: detail})
	return at
}

// profileChange is a SetProfile: from at on, the endpoint's link follows
// schedule (the new profile's; nil for none).
type profileChange struct {
	at       time.Duration
	schedule []netem.Phase
}

// Timeline returns everything that happened so far, in time order: the
// lab's controls, every peer's events (ICE, peer connection, signaling and
// channel states, heartbeats, reconnects, glare), every signaling client's
// state changes, and the impairment phases of every endpoint's profiles
// that have begun while that profile was in force (phaseEntries). Entries
// of one instant keep the order they happened in where the lab saw it (a
// control and what came before it).
func (l *Lab) Timeline() []Entry {
	l.mu.Lock()
	l.flushLocked()
	out := slices.Clone(l.events)
	changes := make(map[string][]profileChange, len(l.profiles))
	for name, c := range l.profiles {
		changes[name] = slices.Clone(c)
	}
	l.mu.Unlock()
	now := time.Since(l.start)
	for _, name := range l.order {
		var first []netem.Phase
		if p := l.eps[name].cfg.Profile; p != nil {
			first = p.Schedule
		}
		spans := append([]profileChange{{at: 0, schedule: first}}, changes[name]...)
		for i, sp := range spans {
			until := time.Duration(-1) // in force still
			if i+1 < len(spans) {
				until = spans[i+1].at
			}
			out = append(out, phaseEntries(name, sp, until, now)...)
		}
	}
	slices.SortStableFunc(out, func(a, b Entry) int {
		switch {
		case a.At < b.At:
			return -1
		case a.At > b.At:
			return 1
		}
		return 0
	})
	return out
}

// phaseEntries are the phases of a profile in force from sp.at until
// until (-1: still) that have begun by now. A schedule counts from the
// lab's start whenever its profile was set (netem's epoch is the lab's):
// a phase that starts while its profile is in force is entered at its
// start; one that began before the profile was set and has not ended is
// in force from the set, and entered then; one that ended before, or
// starts after the profile was replaced, never is.
func phaseEntries(name string, sp profileChange, until, now time.Duration) []Entry {
	var out []Entry
	for i, ph := range sp.schedule {
		start := ph.Start.D()
		end := time.Duration(-1) // never
		switch {
		case ph.Duration > 0:
			end = start + ph.Duration.D()
		case i+1 < len(sp.schedule):
			end = sp.schedule[i+1].Start.D()
		}
		at := max(start, sp.at)
		if at > now || (until >= 0 && at >= until) || (end >= 0 && at >= end) {
			continue
		}
		label := ph.Name
		if label == "" {
			label = fmt.Sprintf("phase %d", i)
		}
		out = append(out, Entry{At: at, Source: linkSource(name), Kind: "phase", Detail: label})
	}
	return out
}

func peerDetail(ev peer.Event) string {
	var d string
	switch ev.Type {
	case peer.EventState:
		d = ev.Machine + "=" + ev.State
	case peer.EventChannelOpen, peer.EventChannelClose:
		d = ev.Label
	case peer.EventHeartbeatTimeout, peer.EventHeartbeatRecovered:
		d = ev.Path
	}
	if ev.Duration > 0 {
		d += fmt.Sprintf(" after %v", ev.Duration)
	}
	if ev.Detail != "" {
		d += " " + ev.Detail
	}
	if ev.Err != nil {
		d += " (" + ev.Err.Error() + ")"
	}
	return d
}
