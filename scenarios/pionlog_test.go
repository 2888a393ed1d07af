package scenarios

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pion/logging"

	"github.com/netlab/netlab/lab"
)

// pionLog keeps pion's debug log of every lab case, for the scopes named,
// and hands it over when the case fails: the evidence for a failure that
// a rerun does not bring back (one ordering of events at one virtual
// instant, say). Off by default: debug formatting costs CPU.
var pionLog = flag.String("netlab.pionlog", "",
	"pion log scopes to keep per lab case, comma-separated, at debug level or with :trace (ice, ice:trace, pc, sctp, dtls, turn, ...; all: every scope); "+
		"a failed case prints the end of it and writes all of it under -netlab.out/pionlog/")

// caseLogMax bounds what a case keeps: the newest bytes, where the
// failure is.
const caseLogMax = 16 << 20

// caseLog is a case's pion log: pion's loggers write to it from many
// goroutines.
type caseLog struct {
	mu      sync.Mutex
	buf     []byte
	dropped int
}

func (l *caseLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - caseLogMax; over > 0 {
		// Drop the oldest half at once, not a line per write.
		cut := over + caseLogMax/2
		l.dropped += cut
		l.buf = append(l.buf[:0], l.buf[cut:]...)
	}
	return len(p), nil
}

func (l *caseLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped > 0 {
		return fmt.Sprintf("[%d older bytes dropped]\n%s", l.dropped, l.buf)
	}
	return string(l.buf)
}

// pionLogOptions gives a lab a logger that writes to a fresh caseLog when
// -netlab.pionlog is set, and the function that reports it, for a case
// that failed.
func pionLogOptions() ([]lab.Option, func()) {
	if *pionLog == "" {
		return nil, func() {}
	}
	l := &caseLog{}
	f := logging.NewDefaultLoggerFactory() // PION_LOG_* still apply
	f.Writer = l
	levels, err := parsePionLog(*pionLog)
	Expect(err).NotTo(HaveOccurred())
	for scope, level := range levels {
		if scope == "all" {
			f.DefaultLogLevel = level
		} else {
			f.ScopeLevels[scope] = level
		}
	}
	return []lab.Option{lab.WithLoggerFactory(f)}, func() {
		text := l.String()
		tail, n := lastLines(text, pionLogTail)
		where := "(no -netlab.out: not written)"
		if *outDir != "" {
			sum := sha256.Sum256([]byte(CurrentSpecReport().FullText()))
			path := filepath.Join(*outDir, "pionlog", hex.EncodeToString(sum[:6])+".log")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				where = err.Error()
			} else if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				where = err.Error()
			} else {
				where = path
			}
		}
		AddReportEntry("pion log", fmt.Sprintf("all of it: %s\nits last %d lines:\n%s", where, n, tail),
			ReportEntryVisibilityFailureOrVerbose)
	}
}

// pionLogTail is how many lines of a failed case's pion log the output
// shows.
const pionLogTail = 300

// lastLines is the last n lines of text and how many that is. A final
// newline ends the last line; it does not start another.
func lastLines(text string, n int) (string, int) {
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	lines = lines[max(0, len(lines)-n):]
	return strings.Join(lines, ""), len(lines)
}

// parsePionLog reads -netlab.pionlog: scope[:debug|:trace], comma-separated.
func parsePionLog(spec string) (map[string]logging.LogLevel, error) {
	out := map[string]logging.LogLevel{}
	for _, item := range strings.Split(spec, ",") {
		scope, lvl, _ := strings.Cut(strings.TrimSpace(item), ":")
		if scope == "" {
			continue
		}
		switch lvl {
		case "", "debug":
			out[scope] = logging.LogLevelDebug
		case "trace":
			out[scope] = logging.LogLevelTrace
		default:
			return nil, fmt.Errorf("-netlab.pionlog: %q: want scope, scope:debug or scope:trace, got level %q", item, lvl)
		}
	}
	return out, nil
}
