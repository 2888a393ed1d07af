package pionlog

import (
	"testing"

	"github.com/pion/logging"
)

type countingFactory struct{ n map[string]int }

func (f *countingFactory) NewLogger(scope string) logging.LeveledLogger {
	f.n[scope]++
	return logging.NewDefaultLoggerFactory().NewLogger(scope)
}

func TestCached(t *testing.T) {
	inner := &countingFactory{n: map[string]int{}}
	c := Cached(inner)
	ice1, ice2, dtls := c.NewLogger("ice"), c.NewLogger("ice"), c.NewLogger("dtls")
	if ice1 != ice2 {
		t.Error("two loggers for one scope")
	}
	if ice1 == dtls {
		t.Error("one logger for two scopes")
	}
	if inner.n["ice"] != 1 || inner.n["dtls"] != 1 {
		t.Errorf("the inner factory was asked %v, want once per scope", inner.n)
	}
}
