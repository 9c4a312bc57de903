//go:build unix

package wal

import (
	"path/filepath"
	"testing"
)

// A log is in use while its Writer holds it, and free once closed (as
// after a crash: the lock dies with the process).
func TestInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wal")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if live, err := InUse(path); err != nil || !live {
		t.Fatalf("InUse of an open log = %v, %v; want true", live, err)
	}
	w.Close()
	for i := 0; i < 2; i++ { // asking does not keep the lock
		if live, err := InUse(path); err != nil || live {
			t.Fatalf("InUse of a closed log (asked %d times) = %v, %v; want false", i+1, live, err)
		}
	}
	if _, err := InUse(filepath.Join(t.TempDir(), "none.wal")); err == nil {
		t.Error("InUse of a missing log: no error")
	}
}
