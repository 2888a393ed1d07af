//go:build linux

package browsers

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reaperChildEnv marks the run of this test binary as PID 1 of a new PID
// namespace (started by TestReaperPID1 itself).
const reaperChildEnv = "NETLAB_BROWSERS_REAPER_CHILD"

// TestReaperPID1 runs the test binary again as PID 1 of its own PID
// namespace (unshare, as root) and there: a browser killed with SIGKILL
// mid-use still reports "signal: killed" (the reaper did not steal the main
// child's exit status), and after Close none of its orphans is left a
// zombie; the same with a graceful Close; and, as a control, with the
// reaper off the orphans do stay zombies.
func TestReaperPID1(t *testing.T) {
	if os.Getpid() == 1 {
		reaperAsPID1(t)
		return
	}
	if os.Getenv(reaperChildEnv) != "" {
		t.Fatalf("%s is set but the pid is %d, not 1", reaperChildEnv, os.Getpid())
	}
	if testing.Short() {
		t.Skip("-short: no PID namespace run")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Skipf("needs root and unshare(1) for a PID namespace (euid %d, %v)", os.Geteuid(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "--pid", "--fork", "--mount-proc", "--kill-child",
		os.Args[0], "-test.run=^TestReaperPID1$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), reaperChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "unshare failed") {
		t.Skipf("no PID namespace here: %s", out)
	}
	t.Logf("as PID 1:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestReaperPID1") {
		t.Fatalf("the run as PID 1 failed: %v", err)
	}
}

func reaperAsPID1(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	// Killed mid-use, with the reaper.
	b, err := Launch(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	tab, err := b.NewTab(ctx)
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	killMidUse(t, b, tab)
	closeAndCheck(t, b)
	if z := Zombies(); len(z) > 0 {
		t.Errorf("after Close of a killed browser, zombies of ours: %v", z)
	}

	// Graceful Close, with the reaper; then a second browser still works.
	b = launchT(t, ctx, Config{})
	tab = newTabT(t, ctx, b)
	if got, err := eval[int](tab, 10*time.Second, `1 + 1`); err != nil || got != 2 {
		t.Fatalf("Evaluate = %d, %v", got, err)
	}
	tab.Close()
	closeAndCheck(t, b)
	if z := Zombies(); len(z) > 0 {
		t.Errorf("after a graceful Close, zombies of ours: %v", z)
	}
	reaper.mu.Lock()
	running, groups := reaper.sig != nil, len(reaper.groups)+len(reaper.procs)
	reaper.mu.Unlock()
	if running || groups != 0 {
		t.Errorf("reaper after the last Close: running %v, %d groups watched", running, groups)
	}

	// Control: without the reaper, the orphans of a killed browser stay.
	reaperEnabled = func() bool { return false }
	defer func() { reaperEnabled = func() bool { return os.Getpid() == 1 } }()
	b, err = Launch(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	tab, err = b.NewTab(ctx)
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	killMidUse(t, b, tab)
	closeAndCheck(t, b)
	z := Zombies()
	t.Logf("control, reaper off: %d zombies of ours after Close: %v", len(z), z)
	if len(z) == 0 {
		t.Error("control: no zombie without the reaper, so the checks above prove nothing")
	}
	// The control's zombies are reaped here: this may be the PID 1 of a
	// whole test run (make test's namespace), not a throwaway one.
	for _, e := range z {
		pid, _, _ := strings.Cut(e, ":")
		if n, err := strconv.Atoi(pid); err == nil {
			_, _ = syscall.Wait4(n, nil, syscall.WNOHANG, nil)
		}
	}
	if z := Zombies(); len(z) > 0 {
		t.Errorf("control: zombies left after reaping them: %v", z)
	}
}
