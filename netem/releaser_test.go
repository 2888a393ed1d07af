package netem

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// TestRelHeapOrder: interleaved pushes and pops always yield the least
// (at, seq) left, ties in push order, against a sorted reference.
func TestRelHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Unix(0, 0)
	var h relHeap[int]
	var ref []relItem[int]
	seq := uint64(0)
	byDue := func(a, b relItem[int]) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	}
	for step := range 5_000 {
		if len(h) == 0 || r.IntN(3) > 0 {
			seq++
			// Few distinct times, so that ties are common.
			it := relItem[int]{at: base.Add(time.Duration(r.IntN(16)) * time.Millisecond), seq: seq, v: step}
			h.push(it)
			ref = append(ref, it)
			continue
		}
		slices.SortFunc(ref, byDue)
		got, want := h.pop(), ref[0]
		ref = ref[1:]
		if got != want {
			t.Fatalf("step %d: popped %+v, want %+v", step, got, want)
		}
	}
	slices.SortFunc(ref, byDue)
	for _, want := range ref {
		if got := h.pop(); got != want {
			t.Fatalf("draining: popped %+v, want %+v", got, want)
		}
	}
	if len(h) != 0 {
		t.Fatalf("%d items left", len(h))
	}
}

// TestReleaserDeliversInDueOrder: items scheduled out of order come out
// at their due times, in due order, ties in the order scheduled.
func TestReleaserDeliversInDueOrder(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		type got struct {
			v  int
			at time.Duration
		}
		var out []got
		r := newReleaser(SystemClock, func(v int) { out = append(out, got{v, time.Since(start)}) })
		defer r.close()
		delays := []time.Duration{30, 10, 20, 10, 0, 30}
		for i, d := range delays {
			r.schedule(start.Add(d*time.Millisecond), i)
		}
		time.Sleep(time.Second) // virtual: past every due time
		synctest.Wait()
		want := []got{{4, 0}, {1, 10 * time.Millisecond}, {3, 10 * time.Millisecond}, {2, 20 * time.Millisecond}, {0, 30 * time.Millisecond}, {5, 30 * time.Millisecond}}
		if !slices.Equal(out, want) {
			t.Fatalf("delivered %v, want %v", out, want)
		}
	})
}

// BenchmarkReleaser: one item through a releaser (scheduled due now,
// handed over by its goroutine); allocs/op is the queue's own cost.
func BenchmarkReleaser(b *testing.B) {
	var n atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	r := newReleaser(SystemClock, func(struct{ p *[]byte }) {
		if n.Add(1) == target {
			close(done)
		}
	})
	defer r.close()
	b.ReportAllocs()
	b.ResetTimer()
	now := time.Now()
	for range b.N {
		r.schedule(now, struct{ p *[]byte }{})
	}
	<-done
}
