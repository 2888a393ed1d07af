package netem

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// decoder turns a node tree into a Profile, strictly: unknown fields, wrong
// types and malformed values are problems with positions. Range rules that
// also apply to profiles built in code live in Validate.
type decoder struct {
	problems
}

// field is one key of a mapping: its decoder.
type fieldFn func(v *node, path string)

// mapping decodes n as a mapping whose keys must be in fields.
func (d *decoder) mapping(n *node, path string, fields map[string]fieldFn) {
	if n.kind != mapNode {
		d.addAt(n.line, n.col, path, "want a mapping, got "+n.describe())
		return
	}
	for i, k := range n.keys {
		fp := joinField(path, k.scalar)
		if k.firstLine > 0 {
			// The first value is kept and checked; this one is not.
			d.note(k.line, k.col, fp, fmt.Sprintf("set twice (first on line %d)", k.firstLine))
			continue
		}
		fn, ok := fields[k.scalar]
		if !ok {
			msg := "unknown field (want one of: " + strings.Join(sortedKeys(fields), ", ") + ")"
			if h, ok := fieldHints[k.scalar]; ok {
				msg += "; " + h
			}
			d.addAt(k.line, k.col, fp, msg)
			continue
		}
		d.pos.set(fp, k.line, k.col)
		fn(n.vals[i], fp)
	}
}

// fieldHints answer the misplacements and other tools' names people bring.
var fieldHints = map[string]string{
	"queue":     "queue belongs under rate: {bitrate: ..., queue: ...}",
	"jitter":    "jitter belongs under delay: {time: ..., jitter: ...}",
	"latency":   "netem calls it delay",
	"bandwidth": "netem calls it rate",
	"limit":     "a queue limit is rate.queue.packets or rate.queue.bytes",
	"gap":       "gap belongs under reorder: {probability: ..., gap: ...}",
	"overhead":  "overhead belongs under rate",
}

func sortedKeys(m map[string]fieldFn) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// scalar returns n's text, or records that a scalar was wanted.
func (d *decoder) scalar(n *node, path, want string) (string, bool) {
	if n.kind != scalarNode {
		d.addAt(n.line, n.col, path, "want "+want+", got "+n.describe())
		return "", false
	}
	return n.scalar, true
}

func (d *decoder) str(n *node, path string, out *string) {
	if s, ok := d.scalar(n, path, "a string"); ok {
		*out = s
	}
}

func (d *decoder) duration(n *node, path string) (Duration, bool) {
	s, ok := d.scalar(n, path, "a duration such as \"50ms\"")
	if !ok {
		return 0, false
	}
	v, err := parseDuration(s)
	if err != nil {
		d.addAt(n.line, n.col, path, err.Error())
		return 0, false
	}
	return v, true
}

func (d *decoder) percent(n *node, path string) (Percent, bool) {
	s, ok := d.scalar(n, path, "a percentage such as \"10%\"")
	if !ok {
		return 0, false
	}
	v, err := parsePercent(s)
	if err != nil {
		d.addAt(n.line, n.col, path, err.Error())
		return 0, false
	}
	return v, true
}

func (d *decoder) percentPtr(n *node, path string, out **Percent) {
	if v, ok := d.percent(n, path); ok {
		*out = &v
	}
}

func (d *decoder) integer(n *node, path string, lo, hi int) (int, bool) {
	s, ok := d.scalar(n, path, "a whole number")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n.quoted {
		d.addAt(n.line, n.col, path, "want a whole number, got "+n.describe())
		return 0, false
	}
	if v < int64(lo) || v > int64(hi) {
		d.addAt(n.line, n.col, path, fmt.Sprintf("must be within %d-%d, got %d", lo, hi, v))
		return 0, false
	}
	return int(v), true
}

func (d *decoder) boolean(n *node, path string) (bool, bool) {
	s, ok := d.scalar(n, path, "true or false")
	if !ok {
		return false, false
	}
	switch {
	case s == "true" && !n.quoted:
		return true, true
	case s == "false" && !n.quoted:
		return false, true
	}
	d.addAt(n.line, n.col, path, "want true or false, got "+n.describe())
	return false, false
}

func (d *decoder) byteSize(n *node, path string, max int64) (ByteSize, bool) {
	s, ok := d.scalar(n, path, "a number of bytes")
	if !ok {
		return 0, false
	}
	v, err := parseByteSize(s, max)
	if err != nil {
		d.addAt(n.line, n.col, path, err.Error())
		return 0, false
	}
	return v, true
}

func (d *decoder) profile(n *node) *Profile {
	p := &Profile{}
	fields := d.linkFields(&p.Link)
	fields["name"] = func(v *node, path string) { d.str(v, path, &p.Name) }
	fields["description"] = func(v *node, path string) { d.str(v, path, &p.Description) }
	fields["source"] = func(v *node, path string) { d.str(v, path, &p.Source) }
	fields["up"] = func(v *node, path string) { p.Up = d.link(v, path) }
	fields["down"] = func(v *node, path string) { p.Down = d.link(v, path) }
	fields["schedule"] = func(v *node, path string) { p.Schedule = d.schedule(v, path) }
	d.mapping(n, "", fields)
	return p
}

func (d *decoder) link(n *node, path string) *Link {
	l := &Link{}
	d.mapping(n, path, d.linkFields(l))
	return l
}

func (d *decoder) linkFields(l *Link) map[string]fieldFn {
	return map[string]fieldFn{
		"delay":     func(v *node, p string) { l.Delay = d.delay(v, p) },
		"loss":      func(v *node, p string) { l.Loss = d.loss(v, p) },
		"duplicate": func(v *node, p string) { d.percentPtr(v, p, &l.Duplicate) },
		"reorder":   func(v *node, p string) { l.Reorder = d.reorder(v, p) },
		"corrupt":   func(v *node, p string) { d.percentPtr(v, p, &l.Corrupt) },
		"rate":      func(v *node, p string) { l.Rate = d.rate(v, p) },
		"mtu": func(v *node, p string) {
			if m, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				l.MTU = &m
			}
		},
		"blackhole": func(v *node, p string) {
			if b, ok := d.boolean(v, p); ok {
				l.Blackhole = &b
			}
		},
		"flap": func(v *node, p string) { l.Flap = d.flap(v, p) },
		"tcp":  func(v *node, p string) { l.TCP = d.tcp(v, p) },
	}
}

// shorthandOrMapping records that n (a list or nothing) is neither the
// field's scalar shorthand nor its mapping form.
func (d *decoder) shorthandOrMapping(n *node, path, shorthand string) bool {
	if n.kind == scalarNode || n.kind == mapNode {
		return true
	}
	d.addAt(n.line, n.col, path, "want "+shorthand+" or a mapping, got "+n.describe())
	return false
}

func (d *decoder) delay(n *node, path string) *Delay {
	if !d.shorthandOrMapping(n, path, `a duration such as "50ms"`) {
		return nil
	}
	if n.kind == scalarNode { // shorthand: delay: 50ms
		if t, ok := d.duration(n, path); ok {
			return &Delay{Time: t}
		}
		return nil
	}
	dl := &Delay{}
	d.mapping(n, path, map[string]fieldFn{
		"time":   func(v *node, p string) { dl.Time, _ = d.duration(v, p) },
		"jitter": func(v *node, p string) { dl.Jitter, _ = d.duration(v, p) },
		"distribution": func(v *node, p string) {
			var s string
			d.str(v, p, &s)
			dl.Distribution = Distribution(s)
		},
		"correlation": func(v *node, p string) { dl.Correlation, _ = d.percent(v, p) },
	})
	return dl
}

func (d *decoder) loss(n *node, path string) *Loss {
	if !d.shorthandOrMapping(n, path, `a percentage such as "1%"`) {
		return nil
	}
	if n.kind == scalarNode { // shorthand: loss: 1%
		if r, ok := d.percent(n, path); ok {
			return &Loss{Model: Bernoulli, Rate: &r}
		}
		return nil
	}
	l := &Loss{}
	hasModel, hasRate := false, false
	d.mapping(n, path, map[string]fieldFn{
		"model": func(v *node, p string) {
			hasModel = true
			var s string
			d.str(v, p, &s)
			l.Model = LossModel(s)
		},
		"rate": func(v *node, p string) {
			hasRate = true
			d.percentPtr(v, p, &l.Rate)
		},
		"p":   func(v *node, p string) { d.percentPtr(v, p, &l.P) },
		"r":   func(v *node, p string) { d.percentPtr(v, p, &l.R) },
		"1-h": func(v *node, p string) { d.percentPtr(v, p, &l.OneMinusH) },
		"1-k": func(v *node, p string) { d.percentPtr(v, p, &l.OneMinusK) },
		"p13": func(v *node, p string) { d.percentPtr(v, p, &l.P13) },
		"p31": func(v *node, p string) { d.percentPtr(v, p, &l.P31) },
		"p32": func(v *node, p string) { d.percentPtr(v, p, &l.P32) },
		"p23": func(v *node, p string) { d.percentPtr(v, p, &l.P23) },
		"p14": func(v *node, p string) { d.percentPtr(v, p, &l.P14) },
	})
	// loss: {rate: 1%} needs no model. The keys decide, not their values:
	// a rate that did not parse is one problem, not also a missing model.
	if !hasModel && hasRate {
		l.Model = Bernoulli
	}
	return l
}

func (d *decoder) reorder(n *node, path string) *Reorder {
	if !d.shorthandOrMapping(n, path, `a percentage such as "25%"`) {
		return nil
	}
	if n.kind == scalarNode { // shorthand: reorder: 25%
		if pr, ok := d.percent(n, path); ok {
			return &Reorder{Probability: pr}
		}
		return nil
	}
	r := &Reorder{}
	d.mapping(n, path, map[string]fieldFn{
		"probability": func(v *node, p string) { r.Probability, _ = d.percent(v, p) },
		"gap":         func(v *node, p string) { r.Gap, _ = d.integer(v, p, 0, math.MaxInt32) },
	})
	return r
}

func (d *decoder) bitrate(n *node, path string) (Bitrate, bool) {
	s, ok := d.scalar(n, path, "a bit rate such as \"2Mbit\"")
	if !ok {
		return 0, false
	}
	b, err := parseBitrate(s)
	if err != nil {
		d.addAt(n.line, n.col, path, err.Error())
		return 0, false
	}
	return b, true
}

func (d *decoder) rate(n *node, path string) *Rate {
	if !d.shorthandOrMapping(n, path, `a bit rate such as "2Mbit"`) {
		return nil
	}
	if n.kind == scalarNode { // shorthand: rate: 2Mbit
		if b, ok := d.bitrate(n, path); ok {
			return &Rate{Bitrate: b}
		}
		return nil
	}
	r := &Rate{}
	d.mapping(n, path, map[string]fieldFn{
		"bitrate": func(v *node, p string) { r.Bitrate, _ = d.bitrate(v, p) },
		"overhead": func(v *node, p string) {
			if o, ok := d.integer(v, p, 0, 65535); ok {
				r.Overhead = &o
			}
		},
		"queue": func(v *node, p string) { r.Queue = d.queue(v, p) },
	})
	return r
}

func (d *decoder) queue(n *node, path string) *Queue {
	if !d.shorthandOrMapping(n, path, "a number of packets") {
		return nil
	}
	if n.kind == scalarNode { // shorthand: queue: 50 (packets)
		if pk, ok := d.integer(n, path, 1, math.MaxInt32); ok {
			return &Queue{Packets: pk}
		}
		return nil
	}
	q := &Queue{}
	d.mapping(n, path, map[string]fieldFn{
		"packets": func(v *node, p string) { q.Packets, _ = d.integer(v, p, 1, math.MaxInt32) },
		"bytes":   func(v *node, p string) { q.Bytes, _ = d.byteSize(v, p, 1<<40) },
		"aqm": func(v *node, p string) {
			var s string
			d.str(v, p, &s)
			q.AQM = AQM(s)
		},
		"target":   func(v *node, p string) { q.Target, _ = d.duration(v, p) },
		"interval": func(v *node, p string) { q.Interval, _ = d.duration(v, p) },
	})
	return q
}

func (d *decoder) flap(n *node, path string) *Flap {
	if n.kind == scalarNode && n.scalar == "off" { // a phase turning the base's flap off
		return &Flap{}
	}
	f := &Flap{}
	d.mapping(n, path, map[string]fieldFn{
		"period": func(v *node, p string) { f.Period, _ = d.duration(v, p) },
		"duty":   func(v *node, p string) { f.Duty, _ = d.percent(v, p) },
	})
	return f
}

func (d *decoder) tcp(n *node, path string) *TCP {
	t := &TCP{}
	durPtr := func(out **Duration) fieldFn {
		return func(v *node, p string) {
			if x, ok := d.duration(v, p); ok {
				*out = &x
			}
		}
	}
	d.mapping(n, path, map[string]fieldFn{
		"slicer": func(v *node, p string) {
			s := &Slicer{}
			d.mapping(v, p, map[string]fieldFn{
				"average_size":   func(v *node, p string) { s.AverageSize, _ = d.integer(v, p, 1, 1<<20) },
				"size_variation": func(v *node, p string) { s.SizeVariation, _ = d.integer(v, p, 0, 1<<20) },
				"delay":          func(v *node, p string) { s.Delay, _ = d.duration(v, p) },
			})
			t.Slicer = s
		},
		"slow_close": durPtr(&t.SlowClose),
		"timeout":    durPtr(&t.Timeout),
		"reset_peer": durPtr(&t.ResetPeer),
		"limit_data": func(v *node, p string) {
			if b, ok := d.byteSize(v, p, 1<<50); ok {
				t.LimitData = &b
			}
		},
	})
	return t
}

func (d *decoder) schedule(n *node, path string) []Phase {
	if n.kind != seqNode {
		d.addAt(n.line, n.col, path, "want a list of phases, got "+n.describe())
		return nil
	}
	phases := make([]Phase, len(n.vals))
	for i, v := range n.vals {
		pp := fmt.Sprintf("%s[%d]", path, i)
		d.pos.set(pp, v.line, v.col)
		ph := &phases[i]
		fields := d.linkFields(&ph.Link)
		fields["name"] = func(v *node, p string) { d.str(v, p, &ph.Name) }
		fields["start"] = func(v *node, p string) { ph.Start, _ = d.duration(v, p) }
		fields["duration"] = func(v *node, p string) { ph.Duration, _ = d.duration(v, p) }
		fields["up"] = func(v *node, p string) { ph.Up = d.link(v, p) }
		fields["down"] = func(v *node, p string) { ph.Down = d.link(v, p) }
		d.mapping(v, pp, fields)
	}
	return phases
}
