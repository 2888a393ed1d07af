package netem

import (
	"testing"
	"time"
)

// BenchmarkShape is the per-packet cost of a decision, ledger included.
func BenchmarkShape(b *testing.B) {
	for _, name := range []string{"ideal", "3g", "flaky-handover"} {
		b.Run(name, func(b *testing.B) {
			p, _ := Preset(name)
			epoch := time.Unix(0, 0)
			sh, err := New(Config{Name: "bench", Profile: p, Seed: 1}, WithEpoch(epoch))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// 50 packets/s of 200 bytes: under every preset's rate limit.
				sh.Shape(epoch.Add(time.Duration(i)*20*time.Millisecond), 200, Direction(i&1))
				i++
			}
		})
	}
}
