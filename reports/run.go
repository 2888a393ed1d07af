package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// SchemaVersion is the version of the run.json format. It grows by one for
// every change that an older reader would misread.
const SchemaVersion = 1

// Run is one execution of the scenario suite.
type Run struct {
	Schema      int         `json:"schema"`
	Tool        string      `json:"tool"` // "netlab"
	Environment Environment `json:"environment"`
	Seed        uint64      `json:"seed"`
	Started     time.Time   `json:"started"`
	Duration    float64     `json:"duration_s"`
	Passed      int         `json:"passed"`
	Failed      int         `json:"failed"`
	Skipped     int         `json:"skipped"`
	Cases       []Case      `json:"cases"`
}

// Environment records what the run ran on and with.
type Environment struct {
	GoVersion string            `json:"go_version"`
	OS        string            `json:"os"`
	Arch      string            `json:"arch"`
	CPUs      int               `json:"cpus"`
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

// Case is one spec of the suite.
type Case struct {
	Name      string             `json:"name"`
	Labels    []string           `json:"labels,omitempty"`
	Verdict   Verdict            `json:"verdict"`
	Failure   string             `json:"failure,omitempty"`
	Location  string             `json:"location,omitempty"` // file:line of the failure
	Duration  float64            `json:"duration_s"`
	Profile   string             `json:"profile,omitempty"`
	Metrics   map[string]float64 `json:"metrics,omitempty"`
	Ledgers   []Ledger           `json:"ledgers,omitempty"`
	Reproduce string             `json:"reproduce"`
}

// Ledger is an impairment point's record in one direction (see netem).
type Ledger struct {
	Point     string            `json:"point"`
	Direction string            `json:"direction"`
	Packets   uint64            `json:"packets"`
	Delivered uint64            `json:"delivered"`
	Dropped   uint64            `json:"dropped"`
	DroppedBy map[string]uint64 `json:"dropped_by,omitempty"`
	SHA256    string            `json:"sha256"`
}

// ErrBadRun is wrapped by every error reading a run file.
var ErrBadRun = errors.New("bad run file")

// WriteFile writes r as indented JSON, atomically (a reader never sees half
// a file).
func (r *Run) WriteFile(path string) error {
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

// Read decodes a run, strictly: unknown fields, a truncated file or a newer
// schema are errors that say where and what.
func Read(name string, rd io.Reader) (*Run, error) {
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadRun, name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Run
	if err := dec.Decode(&r); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			return nil, fmt.Errorf("%w: %s: truncated after %d bytes", ErrBadRun, name, len(data))
		case errors.As(err, &se):
			return nil, fmt.Errorf("%w: %s: byte %d: %v", ErrBadRun, name, se.Offset, se)
		case errors.As(err, &te):
			return nil, fmt.Errorf("%w: %s: byte %d: field %s: want %s, got %s", ErrBadRun, name, te.Offset, te.Field, te.Type, te.Value)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrBadRun, name, err)
	}
	if r.Schema < 1 || r.Schema > SchemaVersion {
		return nil, fmt.Errorf("%w: %s: schema %d, this netlab reads 1-%d", ErrBadRun, name, r.Schema, SchemaVersion)
	}
	return &r, nil
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
