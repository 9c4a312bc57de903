//go:build !unix

package record

import "os"

// lockWAL is a no-op where advisory locks are not available: replicas must
// then not share a folder.
func lockWAL(*os.File) bool { return true }
