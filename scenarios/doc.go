// Package scenarios is netlab's Ginkgo suite: each spec builds a network,
// impairs it from a seed, and asserts what a WebRTC app must survive.
//
// Run it with `make run` (writes reports/out/run.json, summary.md and
// junit.xml) or `go test ./scenarios`, choosing specs with
// -ginkgo.label-filter: the family (nat, glare, reconnect, heartbeat,
// reliability, perf, agreement, seed, netem, chrome, mesh), the pair
// (go-go, go-chrome, chrome-chrome) and the signaling medium (loopback,
// delayed, ws, sse). Every failure prints the command that reruns that
// case as make run does, with the run's seed and flags (the whole Ordered
// container for a spec that cannot run alone, saying so).
//
// Flags (after -args): -netlab.seed N (default 1), -netlab.out DIR (write
// run.json and summary.md there), -netlab.realtime (run the virtual-time
// cases on the wall clock), -netlab.pionlog SCOPES (keep pion's log of each
// lab case; a failed case prints its end).
package scenarios
