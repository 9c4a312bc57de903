//go:build !unix

package h1

import "net"

// idleCheck cannot look at the socket without reading here: an idle
// connection is never trusted, so every request gets a new one.
type idleCheck struct{}

func (*idleCheck) init(net.Conn) {}

func (*idleCheck) idle() bool { return false }
