package netem

import yaml "go.yaml.in/yaml/v3"

func pct(v Percent) *Percent { return &v }

// resolved returns l with the defaults of its model written out, as
// tc-netem fills them: gilbert-elliott 1-h=100%, 1-k=0%; 4-state
// p31=100%-p13, p32=0%, p23=100%, p14=0%.
func (l *Loss) resolved() Loss {
	r := *l
	zero := Percent(0)
	switch l.Model {
	case Bernoulli:
		if r.Rate == nil {
			r.Rate = &zero
		}
	case GilbertElliott:
		if r.P == nil {
			r.P = &zero
		}
		if r.R == nil {
			r.R = pct(100)
		}
		if r.OneMinusH == nil {
			r.OneMinusH = pct(100)
		}
		if r.OneMinusK == nil {
			r.OneMinusK = &zero
		}
	case FourState:
		if r.P13 == nil {
			r.P13 = &zero
		}
		if r.P31 == nil {
			r.P31 = pct(100 - *r.P13)
		}
		if r.P32 == nil {
			r.P32 = &zero
		}
		if r.P23 == nil {
			r.P23 = pct(100)
		}
		if r.P14 == nil {
			r.P14 = &zero
		}
	}
	return r
}

func (q Queue) resolved() Queue {
	if q.Packets == 0 && q.Bytes == 0 {
		q.Packets = defaultQ
	}
	if q.AQM == "" {
		q.AQM = DropTail
	}
	if q.AQM == CoDel {
		if q.Target == 0 {
			q.Target = Duration(codelTgt)
		}
		if q.Interval == 0 {
			q.Interval = Duration(codelIntvl)
		}
	}
	return q
}

func (r Rate) resolved() Rate {
	if r.Overhead == nil {
		oh := defaultOH
		r.Overhead = &oh
	}
	q := Queue{}
	if r.Queue != nil {
		q = *r.Queue
	}
	q = q.resolved()
	r.Queue = &q
	return r
}

func (d Delay) resolved() Delay {
	if d.Jitter > 0 && d.Distribution == "" {
		d.Distribution = Normal
	}
	return d
}

func (r Reorder) resolved() Reorder {
	if r.Gap == 0 {
		r.Gap = 1 // as tc: every packet may be reordered
	}
	return r
}

// resolved returns a deep copy of l with every default written out.
func (l *Link) resolved() *Link {
	if l == nil {
		return nil
	}
	out := *l
	if l.Delay != nil {
		d := l.Delay.resolved()
		out.Delay = &d
	}
	if l.Loss != nil {
		ls := l.Loss.resolved()
		out.Loss = &ls
	}
	if l.Reorder != nil {
		r := l.Reorder.resolved()
		out.Reorder = &r
	}
	if l.Rate != nil {
		r := l.Rate.resolved()
		out.Rate = &r
	}
	if l.TCP != nil {
		t := *l.TCP
		if t.Slicer != nil {
			s := *t.Slicer
			t.Slicer = &s
		}
		out.TCP = &t
	}
	if l.Flap != nil {
		f := *l.Flap
		out.Flap = &f
	}
	return &out
}

// Resolved returns a deep copy of p with every default written out, so
// that what it prints is exactly what the shaper does.
func (p *Profile) Resolved() *Profile {
	out := *p
	out.Link = *p.Link.resolved()
	out.Up = p.Up.resolved()
	out.Down = p.Down.resolved()
	out.Schedule = make([]Phase, len(p.Schedule))
	for i, ph := range p.Schedule {
		ph.Link = *ph.Link.resolved()
		ph.Up = ph.Up.resolved()
		ph.Down = ph.Down.resolved()
		out.Schedule[i] = ph
	}
	if len(out.Schedule) == 0 {
		out.Schedule = nil
	}
	return &out
}

// Reversed returns a deep copy of p seen from the far end of the link:
// up and down swapped, in the schedule too. A conn wrapped at the far end
// (a server's listener for an endpoint) writes what the endpoint
// receives, so it is shaped with the endpoint's profile reversed.
func (p *Profile) Reversed() *Profile {
	out := p.Clone()
	out.Up, out.Down = out.Down, out.Up
	for i := range out.Schedule {
		ph := &out.Schedule[i]
		ph.Up, ph.Down = ph.Down, ph.Up
	}
	return out
}

// MarshalYAMLText renders p as YAML that ParseProfile reads back.
func (p *Profile) MarshalYAMLText() ([]byte, error) { return yaml.Marshal(p) }
