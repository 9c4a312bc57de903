//go:build unix

package h1

import (
	"net"
	"syscall"
)

// idleClean reports whether an idle connection can carry a request: no byte
// arrived on it and the peer did not close it. It peeks at the socket
// without waiting (MSG_PEEK|MSG_DONTWAIT), so it costs one system call.
func idleClean(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	clean := false
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		clean = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true
	})
	return err == nil && clean
}
