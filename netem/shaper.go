package netem

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Config names an impairment point and says how it impairs.
type Config struct {
	// Name identifies the point ("alice", "turn:bob", "signaling"); with
	// Seed it selects the point's random streams.
	Name string
	// Profile is the link model; nil is a perfect link. It is copied.
	Profile *Profile
	// Seed makes every decision repeatable.
	Seed uint64
}

// Option adjusts a Shaper at construction.
type Option func(*options) error

type options struct {
	clock    Clock
	epoch    time.Time
	eventCap int
}

// WithClock sets the clock that gives the epoch and drives the adapters'
// timers. The default is SystemClock.
func WithClock(c Clock) Option {
	return func(o *options) error {
		if c == nil {
			return fmt.Errorf("%w: nil clock", ErrBadConfig)
		}
		o.clock = c
		return nil
	}
}

// WithEpoch sets time zero of the schedule. The default is the clock's
// now at New.
func WithEpoch(t time.Time) Option {
	return func(o *options) error {
		o.epoch = t
		return nil
	}
}

// WithEvents keeps the first n decisions of each direction in full in the
// ledger (0, the default, keeps none).
func WithEvents(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("%w: negative event cap %d", ErrBadConfig, n)
		}
		o.eventCap = n
		return nil
	}
}

// Shaper decides the fate of every packet at one impairment point, per
// direction, from its profile, its seed and the times it is given. It
// starts no goroutine and never reads the clock after New; it is safe for
// concurrent use.
type Shaper struct {
	name  string      // read-only
	seed  uint64      // read-only
	clock Clock       // read-only
	epoch time.Time   // read-only
	mu    sync.Mutex  // guards the fields below
	prof  *Profile    // guarded by mu
	dirs  [2]dirState // guarded by mu
	// changed is closed (and forgotten) by SetProfile, to wake adapters
	// that wait on the profile; made on demand by profileChanged.
	changed chan struct{} // guarded by mu
}

// dirState is one direction: its compiled parameters and its state.
type dirState struct {
	base   *linkParams
	phases []phaseParams

	index        uint64
	lastNow      time.Duration // times never run backwards
	lastDeliver  time.Duration // FIFO: no packet overtakes an earlier one
	jitterLast   float64       // AR(1) state of the delay draws
	reorderCount int
	bn           bottleneck

	rngLoss, rngDelay, rngDup, rngCorrupt, rngReorder *rand.Rand
	ledger                                            *ledger

	// A memoryless loss model draws from one stream per packet size, so
	// a flow of one size (a channel's messages, a codec's fixed frames)
	// meets the same losses run after run, however keepalives, SACKs
	// and other flows interleave with it. The Markov models keep rngLoss:
	// their state follows the packets in arrival order.
	lossBySize    map[int]*rand.Rand
	newLossStream func(size int) *rand.Rand
}

// linkParams is a resolved Link, ready to apply.
type linkParams struct {
	src        Link // the effective link, defaults written out
	mtu        int
	blackhole  bool
	flapPeriod time.Duration
	flapUp     time.Duration
	loss       lossModel
	dup        float64
	corrupt    float64
	reorder    float64
	gap        int
	jitter     *jitter
	rate       *rateParams
}

type rateParams struct {
	bps              float64
	overhead         int
	limitPackets     int
	limitBytes       int64
	codel            bool
	target, interval time.Duration
}

type phaseParams struct {
	start, end time.Duration // end < 0: until for ever
	link       *linkParams
}

// New makes a Shaper. The profile is validated and copied.
func New(cfg Config, opts ...Option) (*Shaper, error) {
	o := options{clock: SystemClock}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if cfg.Name == "" {
		return nil, fmt.Errorf("%w: an impairment point needs a name", ErrBadConfig)
	}
	if o.epoch.IsZero() {
		o.epoch = o.clock.Now()
	}
	s := &Shaper{name: cfg.Name, seed: cfg.Seed, clock: o.clock, epoch: o.epoch}
	for _, dir := range Directions {
		d := &s.dirs[dir]
		d.rngLoss = stream(cfg.Seed, cfg.Name, dir, "loss")
		d.newLossStream = func(size int) *rand.Rand {
			return stream(cfg.Seed, cfg.Name, dir, "loss/size="+strconv.Itoa(size))
		}
		d.rngDelay = stream(cfg.Seed, cfg.Name, dir, "delay")
		d.rngDup = stream(cfg.Seed, cfg.Name, dir, "duplicate")
		d.rngCorrupt = stream(cfg.Seed, cfg.Name, dir, "corrupt")
		d.rngReorder = stream(cfg.Seed, cfg.Name, dir, "reorder")
		d.ledger = newLedger(o.eventCap)
	}
	if err := s.SetProfile(cfg.Profile); err != nil {
		return nil, err
	}
	return s, nil
}

// Name returns the impairment point's name.
func (s *Shaper) Name() string { return s.name }

// Seed returns the seed.
func (s *Shaper) Seed() uint64 { return s.seed }

// Clock returns the clock the shaper was built with.
func (s *Shaper) Clock() Clock { return s.clock }

// Epoch returns time zero of the schedule.
func (s *Shaper) Epoch() time.Time { return s.epoch }

// Profile returns a copy of the profile in force.
func (s *Shaper) Profile() *Profile {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prof.Clone()
}

// SetProfile switches to p (nil: a perfect link) for every packet shaped
// from now on. Packets already shaped keep their fate, the queue keeps its
// backlog and the random streams continue, so nothing is lost to the
// switch. Loss-model state starts afresh.
func (s *Shaper) SetProfile(p *Profile) error {
	if p == nil {
		p = &Profile{}
	}
	if err := p.Validate(); err != nil {
		return err
	}
	p = p.Clone()
	var compiled [2]struct {
		base   *linkParams
		phases []phaseParams
	}
	for _, dir := range Directions {
		c := &compiled[dir]
		base := p.Effective(dir, -1)
		c.base = compileLink(&base)
		for i, ph := range p.Schedule {
			l := p.Effective(dir, i)
			start, end := p.PhaseSpan(i)
			lp := compileLink(&l)
			if !ph.setsLoss(dir) {
				// A phase that leaves loss alone keeps the base's chain, so
				// a Markov model's burst runs on across the boundary. A phase
				// with a loss of its own has its own chain, from its first
				// state; the base's waits meanwhile and, when the phase
				// ends, goes on from where it stopped.
				lp.loss = c.base.loss
			}
			c.phases = append(c.phases, phaseParams{start: start, end: end, link: lp})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	s.prof = p
	for _, dir := range Directions {
		d := &s.dirs[dir]
		d.base, d.phases = compiled[dir].base, compiled[dir].phases
		d.ledger.switches = append(d.ledger.switches, d.index)
	}
	return nil
}

// setsLoss reports whether the phase sets loss for direction dir.
func (ph *Phase) setsLoss(dir Direction) bool {
	over := ph.Down
	if dir == Up {
		over = ph.Up
	}
	return ph.Loss != nil || (over != nil && over.Loss != nil)
}

func compileLink(l *Link) *linkParams {
	lp := &linkParams{src: *l.resolved(), loss: newLossModel(l.Loss), jitter: newJitter(l.Delay)}
	if l.MTU != nil {
		lp.mtu = *l.MTU
	}
	if l.Blackhole != nil {
		lp.blackhole = *l.Blackhole
	}
	if f := l.Flap; f != nil && f.Period > 0 {
		lp.flapPeriod = f.Period.D()
		lp.flapUp = time.Duration(float64(f.Period) * f.Duty.Prob())
	}
	if l.Duplicate != nil {
		lp.dup = l.Duplicate.Prob()
	}
	if l.Corrupt != nil {
		lp.corrupt = l.Corrupt.Prob()
	}
	if l.Reorder != nil {
		r := l.Reorder.resolved()
		lp.reorder, lp.gap = r.Probability.Prob(), r.Gap
	}
	if l.Rate != nil && l.Rate.Bitrate > 0 {
		r := l.Rate.resolved()
		q := r.Queue
		lp.rate = &rateParams{
			bps:          float64(r.Bitrate),
			overhead:     *r.Overhead,
			limitPackets: q.Packets,
			limitBytes:   int64(q.Bytes),
			codel:        q.AQM == CoDel,
			target:       q.Target.D(),
			interval:     q.Interval.D(),
		}
	}
	return lp
}

// at returns the parameters in force at offset t, the phase index (-1 for
// the base) and the phase's start (flap periods count from it).
func (d *dirState) at(t time.Duration) (*linkParams, int, time.Duration) {
	i := sort.Search(len(d.phases), func(i int) bool { return d.phases[i].start > t }) - 1
	if i >= 0 {
		ph := &d.phases[i]
		if ph.end < 0 || t < ph.end {
			return ph.link, i, ph.start
		}
	}
	return d.base, -1, 0
}

// linkAt returns what is in force in direction dir at now: the compiled
// link (its src is the effective Link), the phase index (-1 for the base)
// and the offset of the phase's start from the epoch. It is for adapters
// that interpret the profile themselves, such as the TCP proxy.
func (s *Shaper) linkAt(now time.Time, dir Direction) (lp *linkParams, phase int, offset, phaseStart time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	offset = now.Sub(s.epoch)
	lp, phase, phaseStart = s.dirs[dir&1].at(offset)
	return lp, phase, offset, phaseStart
}

// profileChanged returns a channel that the next SetProfile closes, for
// adapters that wait on the profile rather than on traffic (the TCP proxy
// holding data in a blackhole). Take it before looking at the profile, so
// that no change slips between the look and the wait.
func (s *Shaper) profileChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// nextChange returns the offset of the first phase boundary after offset t
// in direction dir, or -1 when none follows: when what linkAt returns can
// next change (flaps aside).
func (s *Shaper) nextChange(t time.Duration, dir Direction) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ph := range s.dirs[dir&1].phases {
		if ph.start > t {
			return ph.start
		}
		if ph.end > t {
			return ph.end
		}
	}
	return -1
}

// ipUDPHeader is what an IP packet adds to the payload the adapters see.
const ipUDPHeader = 28

// Shape decides the fate of a packet of size payload bytes sent at now in
// direction dir, and records it in the ledger. Times before a previous
// call's are taken as that call's time, so delivery is never before sending
// and never before an earlier packet's (except when reordered on purpose).
func (s *Shaper) Shape(now time.Time, size int, dir Direction) Fate {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &s.dirs[dir&1]
	t := now.Sub(s.epoch)
	if t < d.lastNow {
		t = d.lastNow
	}
	d.lastNow = t
	size = max(size, 0)
	f := d.decide(t, size)
	d.ledger.record(t, &f)
	return f
}

func (d *dirState) decide(t time.Duration, size int) Fate {
	lp, phase, origin := d.at(t)
	f := Fate{Index: d.index, Size: size, Phase: phase}
	d.index++
	switch {
	case lp.mtu > 0 && size+ipUDPHeader > lp.mtu:
		f.Drop = DropMTU
	case lp.blackhole:
		f.Drop = DropBlackhole
	case lp.flapPeriod > 0 && (t-origin)%lp.flapPeriod >= lp.flapUp:
		f.Drop = DropFlap
	case lp.loss != nil && lp.loss.lost(d.lossStream(lp.loss, size)):
		f.Drop = DropLoss
	}
	if f.Dropped() {
		return f
	}
	depart := t
	if lp.rate != nil {
		var drop Drop
		if depart, drop = d.bn.admit(t, size, lp.rate); drop != DropNone {
			f.Drop = drop
			return f
		}
	}
	if lp.dup > 0 && d.rngDup.Float64() < lp.dup {
		f.Dup = true
	}
	if lp.corrupt > 0 && size > 0 && d.rngCorrupt.Float64() < lp.corrupt {
		f.Corrupt = true
		f.CorruptByte = d.rngCorrupt.IntN(size)
		f.CorruptBit = uint8(d.rngCorrupt.IntN(8))
	}
	// Reorder as tc-netem: after gap-1 packets delayed in a row, the next
	// one skips the delay with the given probability.
	if lp.reorder > 0 && d.reorderCount >= lp.gap-1 && d.rngReorder.Float64() < lp.reorder {
		f.Reordered = true
		d.reorderCount = 0
		f.Delay = depart - t
	} else {
		d.reorderCount++
		at := max(addSat(depart, d.delay(lp)), d.lastDeliver)
		d.lastDeliver = at
		f.Delay = at - t
	}
	if f.Dup {
		at := max(addSat(depart, d.delay(lp)), d.lastDeliver)
		d.lastDeliver = at
		f.DupDelay = at - t
	}
	return f
}

func (d *dirState) delay(lp *linkParams) time.Duration {
	if lp.jitter == nil {
		return 0
	}
	return lp.jitter.next(d.rngDelay, &d.jitterLast)
}

// Ledger returns a snapshot of one direction's ledger.
func (s *Shaper) Ledger(dir Direction) Ledger {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dirs[dir&1].ledger.snapshot(s.name, dir)
}

// Ledgers returns both directions' ledgers, up first.
func (s *Shaper) Ledgers() []Ledger {
	return []Ledger{s.Ledger(Up), s.Ledger(Down)}
}

// lossStream is the stream model m draws from for a packet of this size.
// A memoryless model's draws are independent whichever stream they come
// from, so keying them by size changes no probability, only which packets
// share a sequence.
func (d *dirState) lossStream(m lossModel, size int) *rand.Rand {
	if _, ok := m.(bernoulli); !ok {
		return d.rngLoss
	}
	r := d.lossBySize[size]
	if r == nil {
		if d.lossBySize == nil {
			d.lossBySize = make(map[int]*rand.Rand)
		}
		r = d.newLossStream(size)
		d.lossBySize[size] = r
	}
	return r
}
