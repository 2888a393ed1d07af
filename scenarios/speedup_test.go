package scenarios

import (
	"fmt"
	"slices"

	"github.com/netlab/netlab/reports"
)

// speedupTable is, per family, how much faster virtual time ran its lab
// cases than the wall clock would have: the lab-clock time of each body
// over the wall time of the whole case (lab build and teardown included).
// The agreement specs check that a virtual run's state changes land
// within 50 ms of a real run's, which is what makes the lab clock a fair
// stand-in for the real-time duration.
func speedupTable(run *reports.Run) (*reports.Table, error) {
	type acc struct {
		ratios           []float64
		clock, wall, cpu float64
	}
	by := map[string]*acc{}
	for _, c := range run.Cases {
		lc, okc := c.Metrics["lab_clock_s"]
		w, okw := c.Metrics["wall_s"]
		// The seed's specs check signaling, locks and channels; in most
		// no time passes at all, so a ratio would say nothing.
		if c.Clock != reports.ClockVirtual || !okc || !okw || w <= 0 || c.Family == "" || c.Family == "seed" {
			continue
		}
		a := by[c.Family]
		if a == nil {
			a = &acc{}
			by[c.Family] = a
		}
		a.ratios = append(a.ratios, lc/w)
		a.clock += lc
		a.wall += w
		a.cpu += c.Metrics["cpu_s"]
	}
	t, err := reports.NewTable("speedup", "Virtual-time speedup per family (lab clock / wall clock)",
		"family", "virtual cases", "lab clock s", "wall s", "cpu s", "median speedup", "min speedup", "family speedup")
	if err != nil {
		return nil, err
	}
	fams := make([]string, 0, len(by))
	all := &acc{}
	for f, a := range by {
		fams = append(fams, f)
		all.ratios = append(all.ratios, a.ratios...)
		all.clock += a.clock
		all.wall += a.wall
		all.cpu += a.cpu
	}
	slices.Sort(fams)
	row := func(name string, a *acc) error {
		slices.Sort(a.ratios)
		med := a.ratios[len(a.ratios)/2]
		if len(a.ratios)%2 == 0 {
			med = (a.ratios[len(a.ratios)/2-1] + med) / 2
		}
		return t.AddRow(name, fmt.Sprint(len(a.ratios)), fmt.Sprintf("%.1f", a.clock), fmt.Sprintf("%.2f", a.wall), fmt.Sprintf("%.2f", a.cpu),
			fmt.Sprintf("%.0fx", med), fmt.Sprintf("%.0fx", a.ratios[0]), fmt.Sprintf("%.0fx", a.clock/a.wall))
	}
	for _, f := range fams {
		if err := row(f, by[f]); err != nil {
			return nil, err
		}
	}
	if len(fams) > 1 {
		if err := row("all", all); err != nil {
			return nil, err
		}
	}
	t.Notes = []string{
		"A case's speedup is its body's duration on the lab clock over the wall time of the whole case, build and teardown included.",
		"median and min are over the cases; family speedup is the family's lab clock over its wall time; all is every virtual case of these families.",
		"cpu s is the process's CPU time (user and system) over the family's cases: the work virtual time cannot skip. " +
			"Where it is close to wall s, a case was busy all along and its speedup is its lab clock over its work.",
		"The seed suite's cases are left out: most are over before any time passes.",
	}
	return t, nil
}
