//go:build !unix

package demo

import (
	"os"
	"os/exec"
)

func ownGroup(*exec.Cmd) {}

// terminate kills the process: there is no SIGTERM to send here.
func terminate(cmd *exec.Cmd) error { return cmd.Process.Signal(os.Kill) }

func kill(cmd *exec.Cmd) error { return cmd.Process.Kill() }

// LockDir does nothing here: runs must not share a folder.
func LockDir(string) (func(), error) { return func() {}, nil }
