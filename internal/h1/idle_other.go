//go:build !unix

package h1

import "net"

// idleClean cannot look at the socket without reading here: an idle
// connection is never trusted, so every request gets a new one.
func idleClean(net.Conn) bool { return false }
