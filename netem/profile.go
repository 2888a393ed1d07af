package netem

import (
	"encoding/json"
	"time"
)

// A Profile is a declarative link model. Its top-level link fields apply to
// both directions; Up and Down override them field by field for one
// direction (uplink: from the endpoint into the network; downlink: towards
// the endpoint). A Schedule of phases overrides fields for a span of time.
//
// A field set in an override replaces the inherited field whole: a phase
// that says `delay: 200ms` has no jitter even if the base had some.
//
// Profiles are written in YAML or JSON (see ParseProfile). The zero Profile
// is a perfect link.
type Profile struct {
	Name        string `json:"name,omitempty" yaml:"name,omitempty"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Source cites where a preset's figures come from.
	Source string `json:"source,omitempty" yaml:"source,omitempty"`

	Link `yaml:",inline"`

	Up   *Link `json:"up,omitempty" yaml:"up,omitempty"`
	Down *Link `json:"down,omitempty" yaml:"down,omitempty"`

	Schedule []Phase `json:"schedule,omitempty" yaml:"schedule,omitempty"`

	// where each field was found, for errors raised after parsing (read-only)
	pos *positions
}

// Link is one direction's impairment, or the defaults for both. A nil field
// is "not set here": it inherits.
type Link struct {
	Delay     *Delay   `json:"delay,omitempty" yaml:"delay,omitempty"`
	Loss      *Loss    `json:"loss,omitempty" yaml:"loss,omitempty"`
	Duplicate *Percent `json:"duplicate,omitempty" yaml:"duplicate,omitempty"`
	Reorder   *Reorder `json:"reorder,omitempty" yaml:"reorder,omitempty"`
	Corrupt   *Percent `json:"corrupt,omitempty" yaml:"corrupt,omitempty"`
	Rate      *Rate    `json:"rate,omitempty" yaml:"rate,omitempty"`
	// MTU drops IP packets (payload + 28 bytes of IPv4 and UDP header)
	// larger than this many bytes.
	MTU *int `json:"mtu,omitempty" yaml:"mtu,omitempty"`
	// Blackhole drops everything.
	Blackhole *bool `json:"blackhole,omitempty" yaml:"blackhole,omitempty"`
	Flap      *Flap `json:"flap,omitempty" yaml:"flap,omitempty"`
	// TCP holds the impairments that only make sense on a byte stream
	// (the signaling path through TCPProxy).
	TCP *TCP `json:"tcp,omitempty" yaml:"tcp,omitempty"`
}

// Delay is a one-way delay: Time plus a random jitter drawn from
// Distribution. Jitter is the standard deviation for every distribution
// (uniform included: uniform spans Time +/- sqrt(3)*Jitter). Correlation
// makes successive jitter draws an AR(1) series that keeps the mean and the
// standard deviation. Delays below zero are delivered at once.
type Delay struct {
	Time         Duration     `json:"time" yaml:"time"`
	Jitter       Duration     `json:"jitter,omitempty" yaml:"jitter,omitempty"`
	Distribution Distribution `json:"distribution,omitempty" yaml:"distribution,omitempty"`
	Correlation  Percent      `json:"correlation,omitempty" yaml:"correlation,omitempty"`
}

// Distribution names a jitter distribution.
type Distribution string

// Jitter distributions, as in tc-netem.
const (
	Uniform      Distribution = "uniform"
	Normal       Distribution = "normal"
	Pareto       Distribution = "pareto"
	ParetoNormal Distribution = "paretonormal"
)

// LossModel names a packet-loss model.
type LossModel string

// Loss models, as in tc-netem.
const (
	// Bernoulli loses each packet independently with probability Rate.
	Bernoulli LossModel = "bernoulli"
	// GilbertElliott is a two-state Markov chain: Good goes Bad with
	// probability P, Bad goes Good with R; a packet is lost with 1-K in Good
	// and with 1-H in Bad.
	GilbertElliott LossModel = "gilbert-elliott"
	// FourState is the 4-state Markov model of Salsano et al. (tc-netem
	// "loss state"): 1 received in a gap, 2 received in a burst, 3 lost in a
	// burst, 4 isolated loss; a packet is lost when it moves to 3 or 4.
	FourState LossModel = "4-state"
)

// Loss is a loss model with its parameters; only the fields of Model may be
// set. Unset parameters take tc-netem's defaults when the profile is
// resolved.
type Loss struct {
	Model LossModel `json:"model" yaml:"model"`
	// bernoulli
	Rate *Percent `json:"rate,omitempty" yaml:"rate,omitempty"`
	// gilbert-elliott
	P         *Percent `json:"p,omitempty" yaml:"p,omitempty"`
	R         *Percent `json:"r,omitempty" yaml:"r,omitempty"`
	OneMinusH *Percent `json:"1-h,omitempty" yaml:"1-h,omitempty"`
	OneMinusK *Percent `json:"1-k,omitempty" yaml:"1-k,omitempty"`
	// 4-state
	P13 *Percent `json:"p13,omitempty" yaml:"p13,omitempty"`
	P31 *Percent `json:"p31,omitempty" yaml:"p31,omitempty"`
	P32 *Percent `json:"p32,omitempty" yaml:"p32,omitempty"`
	P23 *Percent `json:"p23,omitempty" yaml:"p23,omitempty"`
	P14 *Percent `json:"p14,omitempty" yaml:"p14,omitempty"`
}

// Reorder sends a packet at once, overtaking the delayed ones, with
// Probability; with Gap N, only after N-1 packets were delayed in a row (as
// tc-netem's "reorder P gap N"). Without delay nothing can be overtaken.
type Reorder struct {
	Probability Percent `json:"probability" yaml:"probability"`
	Gap         int     `json:"gap,omitempty" yaml:"gap,omitempty"`
}

// Rate is a bottleneck: each packet occupies the link for
// (size+Overhead)*8/Bitrate seconds, waiting in Queue behind earlier ones.
// A zero Bitrate is no limit.
type Rate struct {
	Bitrate Bitrate `json:"bitrate" yaml:"bitrate"`
	// Overhead is added to each packet's size; default 28 (IPv4 + UDP
	// headers, as the payload is what the adapters see).
	Overhead *int   `json:"overhead,omitempty" yaml:"overhead,omitempty"`
	Queue    *Queue `json:"queue,omitempty" yaml:"queue,omitempty"`
}

// AQM names a queue discipline.
type AQM string

// Queue disciplines.
const (
	DropTail AQM = "droptail"
	CoDel    AQM = "codel"
)

// Queue bounds the backlog in front of a Rate, in packets or in bytes
// (exactly one), dropping at the tail when full; with AQM codel it also
// drops at the head when packets wait longer than Target for an Interval
// (RFC 8289). Default: 1000 packets, drop-tail (tc-netem's default limit).
type Queue struct {
	Packets  int      `json:"packets,omitempty" yaml:"packets,omitempty"`
	Bytes    ByteSize `json:"bytes,omitempty" yaml:"bytes,omitempty"`
	AQM      AQM      `json:"aqm,omitempty" yaml:"aqm,omitempty"`
	Target   Duration `json:"target,omitempty" yaml:"target,omitempty"`
	Interval Duration `json:"interval,omitempty" yaml:"interval,omitempty"`
}

// Flap takes the link down and up periodically: up for Duty of each Period,
// then down for the rest. Periods count from the start of the phase that
// sets it (or the shaper's epoch). The zero Flap (written `flap: off`) is
// no flapping, for a phase to switch off the base's.
type Flap struct {
	Period Duration `json:"period" yaml:"period"`
	Duty   Percent  `json:"duty" yaml:"duty"`
}

// TCP holds byte-stream impairments in toxiproxy's terms. Delay and Rate
// of the link apply to the stream too (as toxiproxy's latency and
// bandwidth toxics); Blackhole stops the data without closing.
type TCP struct {
	Slicer *Slicer `json:"slicer,omitempty" yaml:"slicer,omitempty"`
	// SlowClose delays the close of the connection.
	SlowClose *Duration `json:"slow_close,omitempty" yaml:"slow_close,omitempty"`
	// Timeout stops all data and closes the connection after this long.
	Timeout *Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// ResetPeer resets the connection (TCP RST) after this long.
	ResetPeer *Duration `json:"reset_peer,omitempty" yaml:"reset_peer,omitempty"`
	// LimitData closes the connection once this many bytes went through.
	LimitData *ByteSize `json:"limit_data,omitempty" yaml:"limit_data,omitempty"`
}

// Slicer cuts data into pieces of AverageSize +/- SizeVariation bytes,
// Delay apart.
type Slicer struct {
	AverageSize   int      `json:"average_size" yaml:"average_size"`
	SizeVariation int      `json:"size_variation,omitempty" yaml:"size_variation,omitempty"`
	Delay         Duration `json:"delay,omitempty" yaml:"delay,omitempty"`
}

// Phase overrides the link for a span of the schedule, counted from the
// shaper's epoch: [Start, Start+Duration). A zero Duration lasts until the
// next phase starts, or for ever.
type Phase struct {
	Name     string   `json:"name,omitempty" yaml:"name,omitempty"`
	Start    Duration `json:"start" yaml:"start"`
	Duration Duration `json:"duration,omitempty" yaml:"duration,omitempty"`

	Link `yaml:",inline"`

	Up   *Link `json:"up,omitempty" yaml:"up,omitempty"`
	Down *Link `json:"down,omitempty" yaml:"down,omitempty"`
}

// merge returns base with every field set in over replacing base's.
func (base Link) merge(over *Link) Link {
	if over == nil {
		return base
	}
	if over.Delay != nil {
		base.Delay = over.Delay
	}
	if over.Loss != nil {
		base.Loss = over.Loss
	}
	if over.Duplicate != nil {
		base.Duplicate = over.Duplicate
	}
	if over.Reorder != nil {
		base.Reorder = over.Reorder
	}
	if over.Corrupt != nil {
		base.Corrupt = over.Corrupt
	}
	if over.Rate != nil {
		base.Rate = over.Rate
	}
	if over.MTU != nil {
		base.MTU = over.MTU
	}
	if over.Blackhole != nil {
		base.Blackhole = over.Blackhole
	}
	if over.Flap != nil {
		base.Flap = over.Flap
	}
	if over.TCP != nil {
		base.TCP = over.TCP
	}
	return base
}

// Effective returns the link that applies in direction dir during phase
// (-1 for no phase): base, then the base's direction, then the phase, then
// the phase's direction.
func (p *Profile) Effective(dir Direction, phase int) Link {
	l := Link{}.merge(&p.Link).merge(p.dirLink(dir))
	if phase >= 0 && phase < len(p.Schedule) {
		ph := &p.Schedule[phase]
		l = l.merge(&ph.Link)
		if dir == Up {
			l = l.merge(ph.Up)
		} else {
			l = l.merge(ph.Down)
		}
	}
	return l
}

// PhaseSpan returns when phase i is in force, as offsets from the epoch:
// [start, end), with end < 0 for ever. A phase with no duration lasts
// until the next one starts.
func (p *Profile) PhaseSpan(i int) (start, end time.Duration) {
	ph := &p.Schedule[i]
	start, end = ph.Start.D(), ph.Start.D()+ph.Duration.D()
	if ph.Duration == 0 {
		end = -1
		if i+1 < len(p.Schedule) {
			end = p.Schedule[i+1].Start.D()
		}
	}
	return start, end
}

func (p *Profile) dirLink(dir Direction) *Link {
	if dir == Up {
		return p.Up
	}
	return p.Down
}

// IsOff reports whether f is the zero Flap: no flapping.
func (f Flap) IsOff() bool { return f.Period == 0 }

type flapFields Flap // without methods, for the plain encoding

// MarshalJSON writes "off" for the zero Flap.
func (f Flap) MarshalJSON() ([]byte, error) {
	if f.IsOff() {
		return []byte(`"off"`), nil
	}
	return json.Marshal(flapFields(f))
}

// UnmarshalJSON reads "off" or the fields.
func (f *Flap) UnmarshalJSON(b []byte) error {
	if string(b) == `"off"` {
		*f = Flap{}
		return nil
	}
	return json.Unmarshal(b, (*flapFields)(f))
}

// MarshalYAML writes off for the zero Flap.
func (f Flap) MarshalYAML() (any, error) {
	if f.IsOff() {
		return "off", nil
	}
	return flapFields(f), nil
}
