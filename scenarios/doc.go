// Package scenarios is netlab's Ginkgo suite: each spec builds a network,
// impairs it from a seed, and asserts what a WebRTC app must survive.
//
// Run it with `make run` (writes reports/out/run.json and junit.xml) or
// `go test ./scenarios`, choosing specs with -ginkgo.label-filter (labels:
// the family such as netem, udp, tcp; later the pair and the transport).
// Every failure prints the command that reruns exactly that case, seed
// included.
//
// Flags (after -args): -netlab.seed N (default 1), -netlab.out DIR (write
// run.json there).
package scenarios
