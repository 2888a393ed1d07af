//go:build linux

package browsers

// The reaper. When this process is PID 1 (a container's init), Chrome's
// children that outlive their parent are reparented to us, and as zombies
// they stay in the process table until we wait for them (FINDINGS.md:
// about 2 s of zombies per browser otherwise, forever with no init). So
// while a launched browser is open we are a child subreaper, and on SIGCHLD
// we wait4 for exactly those zombies that are
//
//	our children (ppid == us), and either in the process group of a browser
//	we launched (pgid == its main pid: Launch starts it with Setpgid) but not
//	the main process itself (pid != pgid), or a process we saw alive naming
//	a browser's user data dir (same pid and start time): the crash handler
//	double-forks into a session of its own, so its group says nothing
//
// so that the main child's exit status stays for the os/exec Wait that
// chromedp runs (stealing it would turn "signal: killed" into ECHILD). No
// other child of the process is touched. Elsewhere (not PID 1, or not
// Linux) there is nothing to do: init reaps.

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var reaper struct {
	mu     sync.Mutex
	refs   int              // guarded by mu; open launched browsers
	groups map[int]struct{} // guarded by mu; pgids (main pids) of our browsers
	procs  map[procID]int   // guarded by mu; other processes of our browsers -> their main pid
	sig    chan os.Signal   // guarded by mu; nil when stopped
	stop   chan struct{}    // guarded by mu
	done   chan struct{}    // guarded by mu
}

// reaperEnabled says whether Launch reaps; a variable for the tests.
var reaperEnabled = func() bool { return os.Getpid() == 1 }

// setProcAttr puts the browser in its own process group (the reaper tells
// its tree by it) and has the kernel kill it when we die.
func setProcAttr(a *syscall.SysProcAttr) {
	a.Setpgid = true
	a.Pdeathsig = syscall.SIGKILL
}

// acquireReaper starts the reaper for one more browser when we are PID 1;
// the returned release stops it after the last one (safe to call twice).
func acquireReaper() (release func()) {
	if !reaperEnabled() {
		return func() {}
	}
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if reaper.refs == 0 {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			log.Printf("browsers: prctl(PR_SET_CHILD_SUBREAPER): %v", err)
		}
		if reaper.groups == nil {
			reaper.groups = map[int]struct{}{}
		}
		reaper.sig = make(chan os.Signal, 1)
		reaper.stop = make(chan struct{})
		reaper.done = make(chan struct{})
		signal.Notify(reaper.sig, syscall.SIGCHLD)
		go reapLoop(reaper.sig, reaper.stop, reaper.done)
	}
	reaper.refs++
	return sync.OnceFunc(releaseReaper)
}

func releaseReaper() {
	reaper.mu.Lock()
	reaper.refs--
	if reaper.refs > 0 {
		reaper.mu.Unlock()
		return
	}
	signal.Stop(reaper.sig)
	close(reaper.stop)
	done := reaper.done
	reaper.sig, reaper.stop, reaper.done = nil, nil, nil
	reaper.mu.Unlock()
	<-done
}

func reapLoop(sig <-chan os.Signal, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		case <-sig:
			reapOrphans(0)
		}
	}
}

// procID names a process across pid reuse.
type procID struct {
	pid   int
	start uint64 // start time in clock ticks since boot
}

// watchGroup makes the reaper take the orphans of the browser whose main
// process (and process group) is pgid and whose user data dir is dir.
func watchGroup(pgid int, dir string) {
	if !reaperEnabled() {
		return
	}
	reaper.mu.Lock()
	if reaper.groups == nil {
		reaper.groups = map[int]struct{}{}
	}
	reaper.groups[pgid] = struct{}{}
	reaper.mu.Unlock()
	if pids, err := Leftovers(dir); err == nil {
		watchPids(pgid, pids)
	}
}

// watchPids makes the reaper take these processes of the browser main (its
// pid) when they end as our zombies.
func watchPids(main int, pids []int) {
	if !reaperEnabled() || main == 0 {
		return
	}
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if reaper.procs == nil {
		reaper.procs = map[procID]int{}
	}
	for _, pid := range pids {
		if st, ok := readStat(pid); ok && pid != main {
			reaper.procs[procID{pid, st.start}] = main
		}
	}
}

// unwatchGroup reaps the group's orphans until none of our children is left
// in it (the caller killed them), within limit, and forgets the group.
func unwatchGroup(pgid int, limit time.Duration) error {
	if !reaperEnabled() {
		return nil
	}
	defer func() {
		reaper.mu.Lock()
		delete(reaper.groups, pgid)
		for id, main := range reaper.procs {
			if main == pgid {
				delete(reaper.procs, id)
			}
		}
		reaper.mu.Unlock()
	}()
	deadline := time.Now().Add(limit)
	for {
		left := reapOrphans(pgid)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("browsers: children of process group %d not reaped after %v: %v", pgid, limit, left)
		}
		time.Sleep(10 * time.Millisecond) // killed processes turn into zombies asynchronously; no event for "all gone" but SIGCHLD, which reapLoop consumes
	}
}

// reapOrphans waits for the zombie orphans of the watched browsers (of the
// browser whose main pid is group only, when it is not 0) and returns the
// pids of our children of theirs still there afterwards (alive, or zombies
// that would not go).
func reapOrphans(group int) (left []int) {
	reaper.mu.Lock()
	groups := make(map[int]bool, len(reaper.groups))
	for g := range reaper.groups {
		groups[g] = group == 0 || g == group
	}
	procs := make(map[procID]bool, len(reaper.procs))
	for id, main := range reaper.procs {
		procs[id] = group == 0 || main == group
	}
	reaper.mu.Unlock()
	self := os.Getpid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := readStat(pid)
		if !ok || st.ppid != self {
			continue
		}
		id := procID{pid, st.start}
		if !procs[id] && (st.pid == st.pgrp || !groups[st.pgrp]) {
			continue
		}
		if st.state == 'Z' {
			var ws unix.WaitStatus
			if wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err == nil && wpid == pid {
				reaper.mu.Lock()
				delete(reaper.procs, id)
				reaper.mu.Unlock()
				continue
			}
		}
		left = append(left, pid)
	}
	return left
}

type procStat struct {
	pid, ppid, pgrp int
	state           byte
	start           uint64
}

// readStat parses /proc/<pid>/stat: "pid (comm) state ppid pgrp ...
// starttime(22) ...", where comm may hold spaces and parentheses (so split
// after the last ')').
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state)
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	start, err3 := strconv.ParseUint(string(f[19]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, false
	}
	return procStat{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0][0], start: start}, true
}

// Zombies lists this process's children in state Z ("pid:comm"): none
// should outlive a closed browser when the process is PID 1 and reaps.
func Zombies() []string {
	entries, _ := os.ReadDir("/proc")
	var z []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok && st.ppid == os.Getpid() && st.state == 'Z' {
			comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
			z = append(z, e.Name()+":"+strings.TrimSpace(string(comm)))
		}
	}
	return z
}
