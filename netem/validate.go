package netem

import (
	"fmt"
	"strings"
	"time"
)

// Limits on profile values: beyond them a value is a typo, not a network.
const (
	maxDelay   = time.Hour
	minMTU     = 68 // IPv4's minimum MTU
	maxMTU     = 65535
	maxPhases  = 10000
	defaultOH  = 28 // IPv4 + UDP headers
	defaultQ   = 1000
	codelTgt   = 5 * time.Millisecond
	codelIntvl = 100 * time.Millisecond
)

// Validate checks the semantic rules of a profile, parsed or built in code.
// Errors wrap ErrInvalidProfile and name the field (and, for a parsed
// profile, the file and line).
func (p *Profile) Validate() error {
	ps := &problems{pos: p.pos}
	if p.pos != nil {
		ps.file = p.pos.file
	}
	p.validateInto(ps)
	return ps.err()
}

func (p *Profile) validateInto(ps *problems) {
	validateLink(ps, "", &p.Link)
	validateLink(ps, "up", p.Up)
	validateLink(ps, "down", p.Down)
	if len(p.Schedule) > maxPhases {
		ps.add("schedule", "at most %d phases, got %d", maxPhases, len(p.Schedule))
		return
	}
	var prevEnd time.Duration
	prevOpen := false // the previous phase lasts until this one starts
	for i := range p.Schedule {
		ph := &p.Schedule[i]
		f := fmt.Sprintf("schedule[%d]", i)
		validateLink(ps, f, &ph.Link)
		validateLink(ps, f+".up", ph.Up)
		validateLink(ps, f+".down", ph.Down)
		checkDuration(ps, f+".start", ph.Start, 1000*maxDelay)
		checkDuration(ps, f+".duration", ph.Duration, 1000*maxDelay)
		start := ph.Start.D()
		if i > 0 {
			switch {
			case prevOpen && start <= p.Schedule[i-1].Start.D():
				ps.add(f+".start", "phases must be in order of start: %s is not after the previous phase's start %s", ph.Start, p.Schedule[i-1].Start)
			case !prevOpen && start < prevEnd:
				ps.add(f+".start", "overlaps the previous phase, which ends at %s; got start %s", Duration(prevEnd), ph.Start)
			}
		}
		prevEnd, prevOpen = start+ph.Duration.D(), ph.Duration == 0
	}
}

// Warnings lists combinations that are valid but do nothing, such as
// reorder without delay.
func (p *Profile) Warnings() []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for ph := -1; ph < len(p.Schedule); ph++ {
		where := "the base profile"
		if ph >= 0 {
			where = fmt.Sprintf("schedule[%d]", ph)
		}
		for _, dir := range Directions {
			l := p.Effective(dir, ph)
			if l.Reorder != nil && l.Reorder.Probability > 0 && (l.Delay == nil || (l.Delay.Time == 0 && l.Delay.Jitter == 0)) {
				add(fmt.Sprintf("reorder has no effect without delay (%s, %s): nothing is there to overtake", where, dir))
			}
		}
	}
	return out
}

func checkPercent(ps *problems, field string, v Percent) {
	if v < 0 || v > 100 || v != v {
		ps.add(field, "must be within 0-100%%, got %v", float64(v))
	}
}

func checkPercentPtr(ps *problems, field string, v *Percent) {
	if v != nil {
		checkPercent(ps, field, *v)
	}
}

func checkDuration(ps *problems, field string, v Duration, max time.Duration) {
	if v < 0 || v.D() > max {
		ps.add(field, "must be within 0-%s, got %s", max, v)
	}
}

func validateLink(ps *problems, f string, l *Link) {
	if l == nil {
		return
	}
	if d := l.Delay; d != nil {
		checkDuration(ps, joinField(f, "delay.time"), d.Time, maxDelay)
		checkDuration(ps, joinField(f, "delay.jitter"), d.Jitter, maxDelay)
		switch d.Distribution {
		case "", Uniform, Normal, Pareto, ParetoNormal:
		default:
			ps.add(joinField(f, "delay.distribution"), "want uniform, normal, pareto or paretonormal, got %q", d.Distribution)
		}
		if d.Correlation < 0 || d.Correlation >= 100 || d.Correlation != d.Correlation {
			ps.add(joinField(f, "delay.correlation"), "must be within 0-100%% (100 excluded), got %v", float64(d.Correlation))
		}
	}
	if l.Loss != nil {
		validateLoss(ps, joinField(f, "loss"), l.Loss)
	}
	checkPercentPtr(ps, joinField(f, "duplicate"), l.Duplicate)
	checkPercentPtr(ps, joinField(f, "corrupt"), l.Corrupt)
	if r := l.Reorder; r != nil {
		checkPercent(ps, joinField(f, "reorder.probability"), r.Probability)
		if r.Gap < 0 {
			ps.add(joinField(f, "reorder.gap"), "must not be negative, got %d", r.Gap)
		}
	}
	if r := l.Rate; r != nil {
		if r.Overhead != nil && (*r.Overhead < 0 || *r.Overhead > 65535) {
			ps.add(joinField(f, "rate.overhead"), "must be within 0-65535 bytes, got %d", *r.Overhead)
		}
		if r.Queue != nil {
			validateQueue(ps, joinField(f, "rate.queue"), r.Queue)
		}
	}
	if l.MTU != nil && *l.MTU != 0 && (*l.MTU < minMTU || *l.MTU > maxMTU) {
		ps.add(joinField(f, "mtu"), "must be 0 (no limit) or within %d-%d bytes, got %d", minMTU, maxMTU, *l.MTU)
	}
	if fl := l.Flap; fl != nil {
		if fl.Period < 0 || (fl.Period == 0 && fl.Duty != 0) {
			ps.add(joinField(f, "flap.period"), "must be more than 0, got %s", fl.Period)
		}
		checkPercent(ps, joinField(f, "flap.duty"), fl.Duty)
	}
	if t := l.TCP; t != nil {
		validateTCP(ps, joinField(f, "tcp"), t)
	}
}

func validateLoss(ps *problems, f string, l *Loss) {
	type param struct {
		name string
		v    *Percent
	}
	all := []param{{"rate", l.Rate}, {"p", l.P}, {"r", l.R}, {"1-h", l.OneMinusH}, {"1-k", l.OneMinusK},
		{"p13", l.P13}, {"p31", l.P31}, {"p32", l.P32}, {"p23", l.P23}, {"p14", l.P14}}
	own := map[LossModel][]string{
		Bernoulli:      {"rate"},
		GilbertElliott: {"p", "r", "1-h", "1-k"},
		FourState:      {"p13", "p31", "p32", "p23", "p14"},
	}
	required := map[LossModel][]string{Bernoulli: {"rate"}, GilbertElliott: {"p", "r"}, FourState: {"p13"}}
	names, ok := own[l.Model]
	if !ok {
		ps.add(joinField(f, "model"), "want bernoulli, gilbert-elliott or 4-state, got %q", l.Model)
		return
	}
	mine := map[string]bool{}
	for _, n := range names {
		mine[n] = true
	}
	for _, p := range all {
		if p.v == nil {
			continue
		}
		if !mine[p.name] {
			ps.add(joinField(f, p.name), "not a parameter of the %s model (it takes: %s)", l.Model, strings.Join(names, ", "))
			continue
		}
		checkPercent(ps, joinField(f, p.name), *p.v)
	}
	for _, n := range required[l.Model] {
		for _, p := range all {
			if p.name == n && p.v == nil {
				ps.add(joinField(f, n), "the %s model needs %s", l.Model, n)
			}
		}
	}
	if l.Model == FourState {
		r := l.resolved()
		if *r.P13+*r.P14 > 100 {
			ps.add(joinField(f, "p14"), "p13 + p14 must be at most 100%%, got %v%%", float64(*r.P13+*r.P14))
		}
		if *r.P31+*r.P32 > 100 {
			ps.add(joinField(f, "p32"), "p31 + p32 must be at most 100%%, got %v%%", float64(*r.P31+*r.P32))
		}
	}
}

func validateQueue(ps *problems, f string, q *Queue) {
	if q.Packets < 0 {
		ps.add(joinField(f, "packets"), "must be more than 0, got %d", q.Packets)
	}
	if q.Bytes < 0 {
		ps.add(joinField(f, "bytes"), "must be more than 0, got %d", q.Bytes)
	}
	if q.Packets > 0 && q.Bytes > 0 {
		ps.add(f, "set packets or bytes, not both")
	}
	switch q.AQM {
	case "", DropTail:
		if q.Target != 0 || q.Interval != 0 {
			ps.add(f, "target and interval belong to aqm: codel")
		}
	case CoDel:
		checkDuration(ps, joinField(f, "target"), q.Target, maxDelay)
		checkDuration(ps, joinField(f, "interval"), q.Interval, maxDelay)
		t, i := q.Target.D(), q.Interval.D()
		if t == 0 {
			t = codelTgt
		}
		if i == 0 {
			i = codelIntvl
		}
		if t >= i {
			ps.add(joinField(f, "target"), "must be below interval (%s), got %s", i, t)
		}
	default:
		ps.add(joinField(f, "aqm"), "want droptail or codel, got %q", q.AQM)
	}
}

func validateTCP(ps *problems, f string, t *TCP) {
	if s := t.Slicer; s != nil {
		if s.AverageSize < 1 {
			ps.add(joinField(f, "slicer.average_size"), "must be at least 1 byte, got %d", s.AverageSize)
		}
		if s.SizeVariation < 0 || s.SizeVariation >= s.AverageSize && s.AverageSize > 0 {
			ps.add(joinField(f, "slicer.size_variation"), "must be within 0 and average_size-1 (%d), got %d", s.AverageSize-1, s.SizeVariation)
		}
		checkDuration(ps, joinField(f, "slicer.delay"), s.Delay, maxDelay)
	}
	for _, d := range []struct {
		name string
		v    *Duration
	}{{"slow_close", t.SlowClose}, {"timeout", t.Timeout}, {"reset_peer", t.ResetPeer}} {
		if d.v != nil {
			checkDuration(ps, joinField(f, d.name), *d.v, maxDelay)
		}
	}
	if t.LimitData != nil && *t.LimitData < 0 {
		ps.add(joinField(f, "limit_data"), "must not be negative, got %d", *t.LimitData)
	}
}
