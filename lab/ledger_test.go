package lab

import (
	"testing"
	"testing/synctest"
)

// TestLedgerEvents: with LedgerEvents a lab's ledgers list each decision,
// up to the cap, and count the rest; without, they list none.
func TestLedgerEvents(t *testing.T) {
	for _, c := range []struct {
		name  string
		cap   int
		check func(t *testing.T, events, omitted, packets int)
	}{
		{"none", 0, func(t *testing.T, events, omitted, _ int) {
			if events != 0 || omitted != 0 {
				t.Errorf("%d events, %d omitted; want none kept or counted", events, omitted)
			}
		}},
		{"all", 100000, func(t *testing.T, events, omitted, packets int) {
			if events != packets || omitted != 0 {
				t.Errorf("%d events, %d omitted, of %d packets; want every packet", events, omitted, packets)
			}
		}},
		{"capped", 3, func(t *testing.T, events, omitted, packets int) {
			if events != 3 || omitted != packets-3 {
				t.Errorf("%d events, %d omitted, of %d packets; want 3 and the rest counted", events, omitted, packets)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				topo := twoBehind(NATNone, NATNone, ServerOff)
				topo.LedgerEvents = c.cap
				_, l, _, _ := connectedPair(t, topo)
				for _, lg := range l.Ledgers() {
					if lg.Counters.Packets == 0 {
						t.Fatalf("%s %s: no packets", lg.Point, lg.Direction)
					}
					c.check(t, len(lg.Events), int(lg.Omitted), int(lg.Counters.Packets))
				}
			})
		})
	}
}
