//go:build !unix

package parquetfile

import "os"

// lock is a no-op where advisory locks are not available: two runs must
// then not write the same file.
func lock(*os.File) error { return nil }
