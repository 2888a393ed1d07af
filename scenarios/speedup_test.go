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
		ratios      []float64
		clock, wall float64
	}
	by := map[string]*acc{}
	for _, c := range run.Cases {
		lc, okc := c.Metrics["lab_clock_s"]
		w, okw := c.Metrics["wall_s"]
		if c.Clock != reports.ClockVirtual || !okc || !okw || w <= 0 || c.Family == "" {
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
	}
	t, err := reports.NewTable("speedup", "Virtual-time speedup per family (lab clock / wall clock)",
		"family", "virtual cases", "lab clock s", "wall s", "median speedup", "min speedup")
	if err != nil {
		return nil, err
	}
	fams := make([]string, 0, len(by))
	for f := range by {
		fams = append(fams, f)
	}
	slices.Sort(fams)
	for _, f := range fams {
		a := by[f]
		slices.Sort(a.ratios)
		med := a.ratios[len(a.ratios)/2]
		if len(a.ratios)%2 == 0 {
			med = (a.ratios[len(a.ratios)/2-1] + med) / 2
		}
		if err := t.AddRow(f, fmt.Sprint(len(a.ratios)), fmt.Sprintf("%.1f", a.clock), fmt.Sprintf("%.2f", a.wall),
			fmt.Sprintf("%.0fx", med), fmt.Sprintf("%.0fx", a.ratios[0])); err != nil {
			return nil, err
		}
	}
	t.Notes = []string{"A case's speedup is its body's duration on the lab clock over the wall time of the whole case, build and teardown included."}
	return t, nil
}
