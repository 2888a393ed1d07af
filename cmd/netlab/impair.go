package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/netlab/netlab/netem"
)

func runImpair(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("impair", flag.ContinueOnError)
	var (
		profile = fs.String("profile", "", "preset name or profile file (YAML or JSON)")
		packets = fs.Int("packets", 0, "how many packets to send")
		size    = fs.Int("size", 1200, "payload bytes per packet")
		pps     = fs.Float64("pps", 50, "packets per second (50 x 1200 bytes is about a 480 kbit/s video call)")
		dirName = fs.String("direction", "up", "up (from the endpoint) or down (towards it)")
		seed    = fs.Uint64("seed", 1, "seed of every random decision")
		asJSON  = fs.Bool("json", false, "print JSON")
	)
	rest, err := parseFlagsOrHelp(fs, args, stdout, "usage: netlab impair --profile NAME|FILE --packets N [--size BYTES] [--pps RATE] [--direction up|down] [--seed S] [--json]")
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return badUsagef("unexpected argument %q", rest[0])
	case *profile == "":
		return badUsagef("--profile is required (a preset: %s; or a file)", strings.Join(netem.PresetNames(), ", "))
	case *packets <= 0:
		return badUsagef("--packets must be a positive number, got %d", *packets)
	// Simulate reads 0 as its own default; here 0 would print a
	// report headed "0-byte packets at 0/s" over 1200 bytes at 1000/s.
	case *size <= 0:
		return badUsagef("--size must be a positive number of bytes, got %d", *size)
	case !(*pps > 0 && *pps <= 1e9):
		return badUsagef("--pps must be above 0 and at most 1e9, got %v", *pps)
	}
	dir, err := netem.ParseDirection(*dirName)
	if err != nil {
		return badUsage(err)
	}
	prof, err := netem.LookupProfile(*profile)
	if err != nil {
		return badUsage(err)
	}
	for _, w := range prof.Warnings() {
		fmt.Fprintf(stderr, "netlab impair: warning: %s\n", w)
	}
	rep, err := netem.Simulate(netem.SimConfig{Profile: prof, Seed: *seed, Packets: *packets, Size: *size, PPS: *pps, Direction: dir})
	if err != nil {
		if errors.Is(err, netem.ErrBadConfig) {
			return badUsage(err)
		}
		return err
	}
	// After the run, so a config it refuses gets no warning first.
	for _, w := range overloadWarnings(prof, dir, *size, *pps, *packets) {
		fmt.Fprintf(stderr, "netlab impair: warning: %s\n", w)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printImpair(stdout, prof, dir, *seed, *size, *pps, rep)
	return nil
}

// overloadWarnings names each part of the run, the base link and every
// schedule phase that some packet is sent in, whose rate limit the offered
// load exceeds: there the queue fills, then drops.
func overloadWarnings(p *netem.Profile, dir netem.Direction, size int, pps float64, packets int) []string {
	interval := float64(time.Second) / pps
	sent := func(i int) time.Duration { return time.Duration(math.Round(float64(i) * interval)) } // as Simulate
	// sends reports whether a packet is sent in [from, to); to < 0: for ever.
	sends := func(from, to time.Duration) bool {
		i := max(0, int(math.Ceil(float64(from)/interval))-1)
		for i < packets && sent(i) < from {
			i++
		}
		return i < packets && (to < 0 || sent(i) < to)
	}
	var out []string
	check := func(l netem.Link, where string) {
		if l.Rate == nil || l.Rate.Bitrate == 0 {
			return
		}
		overhead := 28
		if l.Rate.Overhead != nil {
			overhead = *l.Rate.Overhead
		}
		if offered := pps * float64(size+overhead) * 8; offered > float64(l.Rate.Bitrate) {
			out = append(out, fmt.Sprintf("%.0f bit/s offered exceeds the %s rate limit (%s)%s: the queue fills, then drops", offered, dir, l.Rate.Bitrate, where))
		}
	}
	// The base link is in force wherever no phase is: before the first,
	// between them, after the last that ends.
	base, from := false, time.Duration(0)
	for i := range p.Schedule {
		start, end := p.PhaseSpan(i)
		base = base || sends(from, start)
		if from = end; end < 0 {
			break
		}
	}
	if base || (from >= 0 && sends(from, -1)) {
		check(p.Effective(dir, -1), "")
	}
	for i, ph := range p.Schedule {
		start, end := p.PhaseSpan(i)
		if !sends(start, end) {
			continue
		}
		span := fmt.Sprintf("from %s on", start)
		if end >= 0 {
			span = fmt.Sprintf("%s to %s", start, end)
		}
		where := fmt.Sprintf(" in schedule[%d] (%s)", i, span)
		if ph.Name != "" {
			where = fmt.Sprintf(" in phase %q (schedule[%d], %s)", ph.Name, i, span)
		}
		check(p.Effective(dir, i), where)
	}
	return out
}

// why lists drop reasons in a fixed order: "(loss 12, queue 3)".
func why(by map[string]uint64) string {
	var parts []string
	for _, k := range []string{"loss", "queue", "aqm", "mtu", "blackhole", "flap"} {
		if by[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, by[k]))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " by " + strings.Join(parts, ", ")
}

func printImpair(w io.Writer, p *netem.Profile, dir netem.Direction, seed uint64, size int, pps float64, r *netem.SimReport) {
	pctOf := func(n uint64) float64 { return 100 * float64(n) / float64(r.Sent) }
	name := p.Name
	if name == "" {
		name = "(unnamed)"
	}
	fmt.Fprintf(w, "profile     %s, direction %s, seed %d, %d-byte packets at %g/s\n", name, dir, seed, size, pps)
	fmt.Fprintf(w, "sent        %d\n", r.Sent)
	fmt.Fprintf(w, "delivered   %d (%.3f%%)\n", r.Delivered, pctOf(r.Delivered))
	fmt.Fprintf(w, "dropped     %d (%.3f%%)%s, loss bursts mean %.2f max %d\n", r.Dropped, pctOf(r.Dropped), why(r.DroppedBy), r.LossBurst.Mean, r.LossBurst.Max)
	fmt.Fprintf(w, "duplicated  %d\n", r.Duplicated)
	fmt.Fprintf(w, "reordered   %d\n", r.Reordered)
	fmt.Fprintf(w, "corrupted   %d\n", r.Corrupted)
	d := r.DelayMS
	fmt.Fprintf(w, "delay ms    min %.3f  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  mean %.3f  sd %.3f\n", d.Min, d.P50, d.P90, d.P99, d.Max, d.Mean, d.SD)
	fmt.Fprintf(w, "throughput  %.0f bit/s\n", r.ThroughputBPS)
	fmt.Fprintf(w, "ledger      sha256 %s\n", r.LedgerSHA256)
}
