package labspec

import (
	"runtime"
	"testing"
)

// Overlapping runs share the setting: it stays at 1 until the last ends.
func TestSingleP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	r1 := singleP()
	r2 := singleP()
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("GOMAXPROCS during two runs: %d, want 1", n)
	}
	r1()
	r1() // idempotent: must not end r2's hold
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("GOMAXPROCS after the first of two runs ended: %d, want 1", n)
	}
	r2()
	if n := runtime.GOMAXPROCS(0); n != 4 {
		t.Fatalf("GOMAXPROCS after both ended: %d, want 4", n)
	}
}
