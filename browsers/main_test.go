package browsers

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when a test leaves a goroutine, a user data dir of
// this process ($TMPDIR/netlab-chrome-<pid>-*), a process naming one, or
// (as PID 1) a zombie.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := browserLeaks(); err != nil {
			fmt.Fprintln(os.Stderr, "browsers: leak:", err)
			code = 1
		}
		// As PID 1 (make test's namespace) every orphan was ours to reap.
		if z := Zombies(); os.Getpid() == 1 && len(z) > 0 {
			fmt.Fprintln(os.Stderr, "browsers: zombies left, as PID 1:", z)
			code = 1
		}
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "browsers: goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// browserLeaks finds the user data dirs of this process still on disk and
// the processes whose command line names one of them.
func browserLeaks() error {
	prefix := filepath.Join(os.TempDir(), tempPrefix())
	dirs, err := filepath.Glob(prefix + "*")
	if err != nil {
		return err
	}
	if len(dirs) > 0 {
		return fmt.Errorf("user data dirs left: %v", dirs)
	}
	if pids := processesNaming(prefix); len(pids) > 0 {
		return fmt.Errorf("browser processes left (command line names %s*): %v", prefix, pids)
	}
	return nil
}

// processesNaming returns the pids (not ours) whose command line holds s.
func processesNaming(s string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(s)) {
			pids = append(pids, pid)
		}
	}
	return pids
}
