//go:build !linux

package browsers

import (
	"syscall"
	"time"
)

// Elsewhere there is no child subreaper and nothing to reap: init does it.

func setProcAttr(a *syscall.SysProcAttr) { a.Setpgid = true }

func acquireReaper() (release func()) { return func() {} }

func watchGroup(pgid int, dir string) {}

func watchPids(main int, pids []int) {}

func unwatchGroup(pgid int, limit time.Duration) error { return nil }

// Zombies lists this process's zombie children: none to find here.
func Zombies() []string { return nil }
