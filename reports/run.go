package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"time"
)

// SchemaVersion is the version of the run.json format. It grows by one for
// every change that an older reader would misread.
//
//	1: run, environment, cases (verdict, metrics, ledgers, reproduce)
//	2: + run command, junit path and tables; case pair, transport, NATs,
//	   family, clock and timeline
//	3: + case runs (a case whose body ran its lab more than once, as the
//	   agreement family's virtual then real run: each run's clock,
//	   outcome, metrics, ledgers and timeline); pair "mixed"
const SchemaVersion = 3

// Run is one execution of the scenario suite.
type Run struct {
	Schema      int         `json:"schema"`            // format of the file, 1..SchemaVersion (Read keeps what the file said)
	Tool        string      `json:"tool"`              // "netlab"
	Command     string      `json:"command,omitempty"` // the command line that produced the run
	Environment Environment `json:"environment"`       // what the run ran on and with
	Seed        uint64      `json:"seed"`              // the run's seed; every random choice derives from it
	Started     time.Time   `json:"started"`           // wall-clock start, UTC
	Duration    float64     `json:"duration_s"`        // wall-clock length of the whole run, seconds
	Passed      int         `json:"passed"`            // number of cases with Verdict Passed
	Failed      int         `json:"failed"`            // number of cases with Verdict Failed
	Skipped     int         `json:"skipped"`           // number of cases with Verdict Skipped (or pending)
	JUnit       string      `json:"junit,omitempty"`   // the run's JUnit file: relative to this file's directory when inside it, else absolute; "" when none was written
	Cases       []Case      `json:"cases"`             // one per spec, in the order the suite reported them
	Tables      []Table     `json:"tables,omitempty"`  // result tables a family computes once per run
}

// Environment records what the run ran on and with.
type Environment struct {
	GoVersion string            `json:"go_version"`        // runtime.Version()
	OS        string            `json:"os"`                // runtime.GOOS
	Arch      string            `json:"arch"`              // runtime.GOARCH
	CPUs      int               `json:"cpus"`              // runtime.NumCPU()
	Modules   map[string]string `json:"modules,omitempty"` // module path -> version
	Netns     string            `json:"netns,omitempty"`   // how traffic was kept on loopback
}

// Verdict is a case's outcome.
type Verdict string

// Verdicts.
const (
	Passed  Verdict = "passed"
	Failed  Verdict = "failed"
	Skipped Verdict = "skipped"
)

// Clocks a case can run on (Case.Clock): what Event.At and Duration count.
const (
	ClockVirtual = "virtual" // testing/synctest bubble: time advances only when every goroutine is blocked
	ClockReal    = "real"    // the wall clock
)

// Case is one spec of the suite. The fields from Family to Clock say which
// cell of the matrix the case is; they are empty when they do not apply
// (a netem case has no endpoints, so no pair, transport or NATs).
//
// A case whose body ran its lab more than once (the agreement family: the
// same seed on the virtual clock, then on the real one) has one LabRun per
// run in Runs, in the order they ran; its own Clock, Ledgers and Timeline
// are then empty (each run has its own), and its Metrics, if any, are
// figures of the case as a whole.
type Case struct {
	Name      string             `json:"name"`                // the spec's full text
	Labels    []string           `json:"labels,omitempty"`    // Ginkgo labels
	Family    string             `json:"family,omitempty"`    // nat, glare, reconnect, heartbeat, reliability, perf, seed, ...
	Pair      string             `json:"pair,omitempty"`      // endpoint kinds: go-go, go-chrome, chrome-chrome, or mixed (more than two endpoints of both kinds: the mesh)
	Transport string             `json:"transport,omitempty"` // signaling: loopback, delayed, ws, sse
	NATs      []string           `json:"nats,omitempty"`      // NAT preset of each endpoint, in endpoint order
	Clock     string             `json:"clock,omitempty"`     // ClockVirtual or ClockReal
	Verdict   Verdict            `json:"verdict"`             // passed, failed or skipped
	Failure   string             `json:"failure,omitempty"`   // the failure message
	Location  string             `json:"location,omitempty"`  // file:line of the failure
	Duration  float64            `json:"duration_s"`          // length of the case, seconds
	Profile   string             `json:"profile,omitempty"`   // netem profile applied, by name
	Metrics   map[string]float64 `json:"metrics,omitempty"`   // figures measured, by name (units in the name: _ms, _s, ...)
	Ledgers   []Ledger           `json:"ledgers,omitempty"`   // one per impairment point and direction
	Timeline  []Event            `json:"timeline,omitempty"`  // what happened when, sorted by At (see SortTimeline)
	Runs      []LabRun           `json:"runs,omitempty"`      // each lab run, when the case ran more than one (schema 3)
	Reproduce string             `json:"reproduce"`           // the command that reruns this case (a comment after it says when it reruns more)
}

// LabRun is one of the lab runs of a case that ran more than one. The runs
// share the case's cell of the matrix (family, pair, transport, NATs,
// profile).
type LabRun struct {
	Clock    string             `json:"clock"`              // ClockVirtual or ClockReal
	Outcome  string             `json:"outcome,omitempty"`  // how the run's body ended, in the family's words ("ok", or the error the agreement sample returned)
	Metrics  map[string]float64 `json:"metrics,omitempty"`  // figures of this run, by name
	Ledgers  []Ledger           `json:"ledgers,omitempty"`  // one per impairment point and direction
	Timeline []Event            `json:"timeline,omitempty"` // what happened when in this run, on its Clock
}

// Ledger is an impairment point's record in one direction (see netem).
type Ledger struct {
	Point     string            `json:"point"`                // the impairment point's name
	Direction string            `json:"direction"`            // "up" or "down"
	Packets   uint64            `json:"packets"`              // packets offered
	Delivered uint64            `json:"delivered"`            // packets passed on
	Dropped   uint64            `json:"dropped"`              // packets dropped
	DroppedBy map[string]uint64 `json:"dropped_by,omitempty"` // drops by cause (loss model, blackhole, queue, ...)
	SHA256    string            `json:"sha256"`               // hash of the decision ledger: same hash, same impairment history
}

// WriteFile writes r as indented JSON, atomically (a reader never sees half
// a file). It refuses a run that Read would refuse (see Validate), so a bad
// record fails where it is made rather than where it is read.
func (r *Run) WriteFile(path string) error {
	if err := r.check(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadRun, path, err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".run-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil { // CreateTemp makes it 0600
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Read decodes a run, strictly: a truncated file, trailing data, a newer
// schema, a top level that is not an object, an unknown key (keys are
// case-sensitive), a key repeated in one object, a value of the wrong type
// or a malformed case or table are errors that say where (the byte offset
// and the JSON path, as cases[1].duration_s) and what. Schema 1 and 2
// files decode into the same struct, with the fields later schemas added
// left empty.
func Read(name string, rd io.Reader) (*Run, error) {
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadRun, name, err)
	}
	// Syntax first: one JSON value, whole, and nothing after it.
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, decodeError(name, data, err)
	}
	end := int(dec.InputOffset())
	if rest := bytes.TrimLeft(data[end:], " \t\r\n"); len(rest) > 0 {
		return nil, fmt.Errorf("%w: %s: byte %d: data after the run", ErrBadRun, name, len(data)-len(rest))
	}
	// A newer file most likely has fields this reader does not know; say
	// "newer schema" rather than "unknown field".
	var head map[string]json.RawMessage
	var schema int
	if json.Unmarshal(data, &head) == nil && json.Unmarshal(head["schema"], &schema) == nil && schema > SchemaVersion {
		return nil, schemaError(name, schema)
	}
	if err := strictCheck(data, reflect.TypeFor[Run]()); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadRun, name, err)
	}
	dec = json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Run
	if err := dec.Decode(&r); err != nil { // strictCheck has seen to it; kept as a net
		return nil, decodeError(name, data, err)
	}
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadRun, name, err)
	}
	return &r, nil
}

// decodeError says where json's decoding of data failed.
func decodeError(name string, data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %s: truncated after %d bytes", ErrBadRun, name, len(data))
	case errors.As(err, &se):
		return fmt.Errorf("%w: %s: byte %d: %v", ErrBadRun, name, se.Offset, se)
	case errors.As(err, &te):
		return fmt.Errorf("%w: %s: byte %d: %s: want %s, got %s", ErrBadRun, name, te.Offset, te.Field, te.Type, te.Value)
	}
	return fmt.Errorf("%w: %s: %v", ErrBadRun, name, err)
}

func schemaError(name string, schema int) error {
	return fmt.Errorf("%w: %s: schema %d, this netlab reads 1-%d", ErrBadRun, name, schema, SchemaVersion)
}

// ReadFile reads a run file.
func ReadFile(path string) (*Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRun, err)
	}
	defer f.Close()
	return Read(path, f)
}
