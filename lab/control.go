package lab

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
)

// Link control during a run. Each control is recorded on the timeline;
// after Close, each returns ErrClosed. Cut, Restore, Flap and SetProfile
// return ErrUnsupported, and record nothing, for a Chrome endpoint with an
// external TURN server: its traffic does not cross the lab
// (endpoint.linkControl).

// Cut takes the named endpoints' links down (every endpoint when none is
// named): everything they send or are sent is dropped until Restore, on
// the WAN for a Go endpoint, at its TURN listener on 127.0.0.1 for a
// Chrome endpoint (bridge.go). A running Flap of an endpoint is stopped
// first. If any named endpoint cannot be cut (linkControl), none is.
func (l *Lab) Cut(names ...string) error { return l.setCut(true, names) }

// Restore brings the named endpoints' links back (every endpoint when none
// is named), stopping their flaps.
func (l *Lab) Restore(names ...string) error { return l.setCut(false, names) }

func (l *Lab) setCut(cut bool, names []string) error {
	if err := l.checkOpen(); err != nil {
		return err
	}
	eps, err := l.resolve(names)
	if err != nil {
		return err
	}
	for _, ep := range eps { // all or nothing: no control of some before refusing another
		if err := ep.linkControl(); err != nil {
			return err
		}
	}
	for _, ep := range eps {
		l.stopFlap(ep.cfg.Name)
		ep.setCut(cut)
		kind := "restore"
		if cut {
			kind = "cut"
		}
		l.note(linkSource(ep.cfg.Name), kind, "")
	}
	return nil
}

func linkSource(name string) string { return "link:" + name }

// resolve maps names to endpoints; no name means all.
func (l *Lab) resolve(names []string) ([]*endpoint, error) {
	if len(names) == 0 {
		names = l.order
	}
	out := make([]*endpoint, 0, len(names))
	for _, n := range names {
		ep, err := l.endpoint(n)
		if err != nil {
			return nil, err
		}
		out = append(out, ep)
	}
	return out, nil
}

// Flap takes an endpoint's link down and up, over and over: up for
// duty*period, then down for the rest, starting now with the up part,
// until Restore, Cut, another Flap or Close. Each transition is on the
// timeline.
func (l *Lab) Flap(name string, period time.Duration, duty float64) error {
	if err := l.checkOpen(); err != nil {
		return err
	}
	ep, err := l.endpoint(name)
	if err != nil {
		return err
	}
	if period <= 0 {
		return fmt.Errorf("%w: flap period must be positive, got %v", ErrBadTopology, period)
	}
	if duty <= 0 || duty >= 1 {
		return fmt.Errorf("%w: flap duty must be within (0, 1), got %v", ErrBadTopology, duty)
	}
	if err := ep.linkControl(); err != nil {
		return err
	}
	up := time.Duration(float64(period) * duty)
	f := &flapper{done: make(chan struct{}), stopped: make(chan struct{})}
	// One step under flapMu: the old flapper out, the new one in and
	// running, so that two Flaps of one endpoint cannot both install one.
	// Close takes l.flaps under l.mu only: a flapper installed before it
	// set closed is in what it takes, and it waits (stop) for the
	// goroutine started below; after, Flap sees closed.
	l.flapMu.Lock()
	defer l.flapMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	old := l.flaps[name]
	l.flaps[name] = f
	l.mu.Unlock()
	if old != nil {
		old.stop()
	}
	l.note(linkSource(name), "flap", fmt.Sprintf("period %v, up %v", period, up))
	ep.setCut(false)
	go f.run(up, period-up, func(cut bool) {
		ep.setCut(cut)
		kind := "flap-up"
		if cut {
			kind = "flap-down"
		}
		l.note(linkSource(name), kind, "")
	})
	return nil
}

// flapper is one running Flap; its goroutine is owned by the Lab (stop
// waits for it).
type flapper struct {
	once    sync.Once
	done    chan struct{} // closed by stop
	stopped chan struct{} // closed when run returns
}

func (f *flapper) run(up, down time.Duration, set func(cut bool)) {
	defer close(f.stopped)
	t := time.NewTimer(up)
	defer t.Stop()
	cut := false
	for {
		select {
		case <-f.done:
			return
		case <-t.C:
		}
		cut = !cut
		set(cut)
		if cut {
			t.Reset(down)
		} else {
			t.Reset(up)
		}
	}
}

func (f *flapper) stop() {
	f.once.Do(func() { close(f.done) })
	<-f.stopped
}

func (l *Lab) stopFlap(name string) {
	l.flapMu.Lock()
	defer l.flapMu.Unlock()
	l.mu.Lock()
	f := l.flaps[name]
	delete(l.flaps, name)
	l.mu.Unlock()
	if f != nil {
		f.stop()
	}
}

// SetProfile changes an endpoint's link live: packets already shaped keep
// their fate and nothing is lost to the switch (netem.Shaper.SetProfile).
// The new profile's schedule counts from the lab's start, as the first
// one's does: a phase already begun is in force at once (the timeline
// shows it from now), a later one when it starts.
func (l *Lab) SetProfile(name string, p *netem.Profile) error {
	if err := l.checkOpen(); err != nil {
		return err
	}
	ep, err := l.endpoint(name)
	if err != nil {
		return err
	}
	if err := ep.linkControl(); err != nil {
		return err
	}
	sp := p
	if ep.cfg.Kind == peer.KindChrome && p != nil {
		sp = p.Reversed() // shaped at the far end (bridge.go)
	}
	pn := "ideal"
	if p != nil && p.Name != "" {
		pn = p.Name
	} else if p != nil {
		pn = "custom"
	}
	var sched []netem.Phase
	if p != nil {
		sched = slices.Clone(p.Schedule)
	}
	// Under l.mu, so that the shaper's order of profiles and the
	// timeline's are one, and none is set after Close began.
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if err := ep.shaper.SetProfile(sp); err != nil {
		return fmt.Errorf("lab: endpoint %q: %w", name, err)
	}
	at := l.noteLocked(linkSource(name), "profile", pn)
	l.profiles[name] = append(l.profiles[name], profileChange{at: at, schedule: sched})
	return nil
}

// Profile returns an endpoint's current profile.
func (l *Lab) Profile(name string) (*netem.Profile, error) {
	ep, err := l.endpoint(name)
	if err != nil {
		return nil, err
	}
	p := ep.shaper.Profile()
	if ep.cfg.Kind == peer.KindChrome && p != nil {
		p = p.Reversed()
	}
	return p, nil
}

// RebindNAT makes an endpoint's NAT forget its mappings mid-call: the next
// packet out gets a new external port, and what the far side sends to the
// old one is lost, as when a NAT reboots or a mapping times out. vnet's
// port-translating NATs (every preset but none and 1:1) never preserve
// ports, so "expire the mappings" and "change the external port" are one
// event here. It returns how many sockets were rebound. It returns
// ErrUnsupported, and records nothing, for an endpoint with no mappings to
// lose: one without a NAT (none), one behind a 1:1 NAT (static, ports
// preserved), and a Chrome endpoint (no NAT of its own: it enters through
// TURN).
func (l *Lab) RebindNAT(name string) (int, error) {
	if err := l.checkOpen(); err != nil {
		return 0, err
	}
	ep, err := l.endpoint(name)
	if err != nil {
		return 0, err
	}
	if ep.cfg.Kind == peer.KindChrome {
		return 0, fmt.Errorf("%w: endpoint %q is a Chrome endpoint, which has no NAT of its own (it enters through TURN)", ErrUnsupported, name)
	}
	if ep.cfg.NAT == NATNone || ep.cfg.NAT == NATOneToOne {
		return 0, fmt.Errorf("%w: endpoint %q has NAT %q, which keeps no mappings to expire", ErrUnsupported, name, ep.cfg.NAT)
	}
	n, err := ep.rebind.Rebind()
	if err != nil {
		return n, fmt.Errorf("lab: rebinding %q: %w", name, err)
	}
	l.note(linkSource(name), "rebind", fmt.Sprintf("%d sockets get new mappings", n))
	return n, nil
}

// linkControl is ErrUnsupported for an endpoint whose link the lab does
// not carry: a Chrome endpoint with an external TURN server talks to that
// server directly on 127.0.0.1 (chromeICEServers), so it has no listener
// of the lab's to cut or shape and nothing of it crosses the WAN.
func (ep *endpoint) linkControl() error {
	if ep.cfg.Kind == peer.KindChrome && ep.bridge == nil {
		return fmt.Errorf("%w: endpoint %q: chrome endpoint with an external TURN server: its traffic does not cross the lab", ErrUnsupported, ep.cfg.Name)
	}
	return nil
}
