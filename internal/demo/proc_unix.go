//go:build unix

package demo

import (
	"os/exec"
	"syscall"
)

// ownGroup puts the command in a process group of its own, so the
// terminal's Ctrl-C reaches only the orchestrator, which stops the
// children in order, and so a kill reaches anything the child started.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// terminate sends SIGTERM to the command's process group.
func terminate(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }

// kill sends SIGKILL to the command's process group.
func kill(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
