package scenarios

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/netem"
)

// appliedLedgerEvents is the LedgerEvents of a lab whose links
// expectApplied checks: enough for the 10-minute heartbeat soak (some
// 2,200 packets a direction) and its setup.
const appliedLedgerEvents = 16384

// linkTally is what one direction of a link decided since its last
// profile switch.
type linkTally struct {
	direction        string
	packets, dropped int
}

// expectApplied checks that each direction of point's link decided every
// packet since its last profile switch exactly as prof does with the
// lab's seed (netem.Replay: a fresh shaper fed the same sizes at the same
// times). That is the proof that a cell ran under the loss it names,
// packet by packet; a 3-sigma band around the nominal rate, which these
// checks were, failed about one seed in ten somewhere in the suite with
// nothing wrong (5 of 55 seeds, 2026-12-05), while the rates themselves
// are netem's tests' to check over 100,000 packets. point must be a Go
// endpoint, prof what the lab's SetProfile was given for it, and its link
// perfect before (netem.Replay says why): true of every cell that calls
// this.
func expectApplied(l *lab.Lab, point string, prof *netem.Profile) []linkTally {
	GinkgoHelper()
	var out []linkTally
	for _, lg := range l.Ledgers() {
		if lg.Point != point {
			continue
		}
		what := fmt.Sprintf("%s %s", point, lg.Direction)
		since := sinceSwitch(lg)
		dir, err := netem.ParseDirection(lg.Direction)
		Expect(err).NotTo(HaveOccurred())
		want, err := netem.Replay(netem.Config{Name: point, Seed: l.Seed(), Profile: prof}, dir, since)
		Expect(err).NotTo(HaveOccurred(), "%s: replaying %d decisions", what, len(since))
		t := linkTally{direction: lg.Direction, packets: len(since)}
		for i, e := range since {
			if e != want[i] {
				Fail(fmt.Sprintf("%s: packet %d since the switch to %q was not decided as that profile decides it with seed %d:\n  link   %+v\n  replay %+v",
					what, i, prof.Name, l.Seed(), e, want[i]))
			}
			if e.Drop != "" {
				t.dropped++
			}
		}
		out = append(out, t)
	}
	Expect(out).To(HaveLen(2), "ledgers of %s, one per direction", point)
	return out
}

// sinceSwitch is what a ledger of a lab with LedgerEvents decided since
// its last profile switch, every packet of it.
func sinceSwitch(lg netem.Ledger) []netem.Event {
	GinkgoHelper()
	what := fmt.Sprintf("%s %s", lg.Point, lg.Direction)
	Expect(lg.Omitted).To(BeZero(), "%s: the ledger kept only the first %d decisions: raise the lab's LedgerEvents", what, len(lg.Events))
	Expect(lg.Switches).NotTo(BeEmpty(), "%s: the ledger records no profile", what)
	from := lg.Switches[len(lg.Switches)-1]
	Expect(from).To(BeNumerically("<=", len(lg.Events)), "%s: the last switch is at packet %d of %d kept", what, from, len(lg.Events))
	return lg.Events[from:]
}
