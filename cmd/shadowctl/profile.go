package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// profileFile is the --cpuprofile file being written, if any.
var profileFile *os.File

// startCPUProfile starts writing a CPU profile to path ("" does nothing).
func startCPUProfile(path string) error {
	if path == "" || profileFile != nil {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return usageErrorf("--cpuprofile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	profileFile = f
	return nil
}

// stopCPUProfile ends the profile started by --cpuprofile and closes its
// file, whatever the command's outcome.
func stopCPUProfile() {
	if profileFile == nil {
		return
	}
	pprof.StopCPUProfile()
	if err := profileFile.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "shadowctl: --cpuprofile:", err)
	}
	profileFile = nil
}
