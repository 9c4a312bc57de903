//go:build unix

package record

import (
	"syscall"
	"time"
)

// cpuTime is the CPU this process has used (user and system, all threads):
// a cost per row that, unlike wall-clock time, barely moves when other
// processes load the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
