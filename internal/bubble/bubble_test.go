package bubble

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestOthers(t *testing.T) {
	if got := Others(); got != nil {
		t.Errorf("outside a bubble: %d goroutines, want none", len(got))
	}
	synctest.Test(t, func(t *testing.T) {
		if got := Others(); len(got) != 0 {
			t.Fatalf("a bubble with only its body: %q", got)
		}
		stop := make(chan struct{})
		go func() {
			select {
			case <-stop:
			case <-time.After(time.Hour):
			}
		}()
		synctest.Wait()
		got := Others()
		if len(got) != 1 || !strings.Contains(got[0], "bubble.TestOthers.func1.1()") {
			t.Errorf("one goroutine left: got %q", got)
		}
		close(stop)
		synctest.Wait()
		if got := Others(); len(got) != 0 {
			t.Errorf("after it ended: %q", got)
		}
	})
	// A goroutine outside the bubble is not one of its own.
	outside := make(chan struct{})
	defer close(outside)
	go func() { <-outside }()
	synctest.Test(t, func(t *testing.T) {
		if got := Others(); len(got) != 0 {
			t.Errorf("a goroutine outside the bubble counted: %q", got)
		}
	})
}
