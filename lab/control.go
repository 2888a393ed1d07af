package lab

import (
	"fmt"
	"sync"
	"time"

	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
)

// Link control during a run. Each control is recorded on the timeline;
// after Close, each returns ErrClosed.

// Cut takes the named endpoints' links down (every endpoint when none is
// named): everything they send or are sent is dropped on the WAN until
// Restore. A running Flap of an endpoint is stopped first.
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
	l.stopFlap(name)
	up := time.Duration(float64(period) * duty)
	f := &flapper{done: make(chan struct{}), stopped: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.flaps[name] = f
	l.mu.Unlock()
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
func (l *Lab) SetProfile(name string, p *netem.Profile) error {
	if err := l.checkOpen(); err != nil {
		return err
	}
	ep, err := l.endpoint(name)
	if err != nil {
		return err
	}
	sp := p
	if ep.cfg.Kind == peer.KindChrome && p != nil {
		sp = p.Reversed() // shaped at the far end (bridge.go)
	}
	if err := ep.shaper.SetProfile(sp); err != nil {
		return fmt.Errorf("lab: endpoint %q: %w", name, err)
	}
	pn := "ideal"
	if p != nil && p.Name != "" {
		pn = p.Name
	} else if p != nil {
		pn = "custom"
	}
	l.note(linkSource(name), "profile", pn)
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
// old one is lost, as when a NAT reboots or a mapping times out. vnet never
// preserves ports, so "expire the mappings" and "change the external port"
// are one event here. It returns how many sockets were rebound. An
// endpoint without a NAT (none, 1:1) has no mappings to lose:
// ErrUnsupported.
func (l *Lab) RebindNAT(name string) (int, error) {
	if err := l.checkOpen(); err != nil {
		return 0, err
	}
	ep, err := l.endpoint(name)
	if err != nil {
		return 0, err
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
