//go:build !unix

package wal

import "os"

// lock is a no-op where advisory locks are not available: replicas must
// then not share a folder.
func lock(*os.File) bool { return true }
