//go:build unix

package record

import (
	"os"
	"syscall"
)

// lockWAL takes an exclusive advisory lock on a live log, so a recorder
// starting on a shared folder does not recover another replica's log.
func lockWAL(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}
