package reports

import (
	"reflect"
	"strconv"
	"testing"
)

func TestSortTimelineStable(t *testing.T) {
	ev := []Event{
		{At: 2, Source: "lab", Kind: "phase", Detail: "late"},
		{At: 1, Source: "a", Kind: "ice-state", Detail: "first at 1"},
		{At: 0, Source: "lab", Kind: "phase", Detail: "start"},
		{At: 1, Source: "link:a", Kind: "cut", Detail: "second at 1"},
		{At: 1, Source: "b", Kind: "peer-state", Detail: "third at 1"},
	}
	SortTimeline(ev)
	var got []string
	for _, e := range ev {
		got = append(got, e.Detail)
	}
	want := []string{"start", "first at 1", "second at 1", "third at 1", "late"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	SortTimeline(nil) // must not panic
}

// TestSortTimelineStableLong uses enough events that an unstable sort
// (pdqsort beyond its insertion-sort cutoff of 12) would reorder ties.
func TestSortTimelineStableLong(t *testing.T) {
	var ev []Event
	for i := range 200 {
		ev = append(ev, Event{At: float64((i * 7) % 5), Source: "lab", Kind: "phase", Detail: strconv.Itoa(i)})
	}
	SortTimeline(ev)
	for i := 1; i < len(ev); i++ {
		a, b := ev[i-1], ev[i]
		ai, _ := strconv.Atoi(a.Detail)
		bi, _ := strconv.Atoi(b.Detail)
		if a.At > b.At || (a.At == b.At && ai > bi) {
			t.Fatalf("events %d and %d out of order: %+v then %+v", i-1, i, a, b)
		}
	}
}
