package scenarios

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) the test process has used
// so far. Specs run one at a time, so its growth over a virtual-time case
// is that case's work: the part of a case that virtual time cannot skip,
// and what bounds its speedup.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
