//go:build unix

package wal

import (
	"os"
	"syscall"
)

// lock takes an exclusive advisory lock on a live log, so that a recorder
// starting on a shared folder does not recover another replica's log. It
// tells whether it got the lock.
func lock(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}
