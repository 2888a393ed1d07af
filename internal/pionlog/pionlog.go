// Package pionlog is pion's default logger factory with a logger kept per
// scope. pion asks its factory for a logger each time it builds an ICE
// agent, a DTLS or SCTP connection, a data channel or a transceiver, and
// the default factory makes each one new: five log.Loggers and a
// formatted prefix, 1.7% of the CPU of a glare round (a fresh session
// every round). Its loggers are safe for concurrent use and pion never
// changes one after taking it, so one per scope serves every peer.
package pionlog

import (
	"sync"

	"github.com/pion/logging"
)

// Cached returns a factory that asks f once per scope and hands out that
// logger from then on.
func Cached(f logging.LoggerFactory) logging.LoggerFactory {
	return &cached{f: f}
}

// Default is Cached(pion's default factory): PION_LOG_* as they are now.
func Default() logging.LoggerFactory {
	return Cached(logging.NewDefaultLoggerFactory())
}

type cached struct {
	f  logging.LoggerFactory
	mu sync.Mutex
	m  map[string]logging.LeveledLogger
}

func (c *cached) NewLogger(scope string) logging.LeveledLogger {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.m[scope]; ok {
		return l
	}
	if c.m == nil {
		c.m = map[string]logging.LeveledLogger{}
	}
	l := c.f.NewLogger(scope)
	c.m[scope] = l
	return l
}
