//go:build race

package scenarios

// The suite was built with -race: a rerun must be too (rerun_test.go).
func init() { raceEnabled = true }
