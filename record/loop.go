package record

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// SendsToItself tells whether a proxy listening on listen (host:port, as
// net.Listen takes it) would send its requests to itself when its upstream is
// upstream: every request would come back in, and go out again, until file
// descriptors run out.
//
// It decides from the addresses as written, without DNS: IP literals
// (loopback, unspecified, and this machine's interface addresses when listen
// is a wildcard), "localhost", and the same host name on both sides. Another
// name that happens to resolve to this machine is not caught.
func SendsToItself(listen string, upstream *url.URL) bool {
	lhost, lport, err := net.SplitHostPort(listen)
	if err != nil || upstream == nil {
		return false
	}
	lp, err := net.LookupPort("tcp", lport) // a number, or /etc/services
	if err != nil || lp == 0 {
		return false // port 0: the system picks a free one
	}
	uport := upstream.Port()
	if uport == "" {
		uport = map[string]string{"http": "80", "https": "443"}[upstream.Scheme]
	}
	if up, err := net.LookupPort("tcp", uport); err != nil || up != lp {
		return false
	}
	uhost := upstream.Hostname()
	ua, uIP := parseIP(uhost)
	if lhost == "" || isUnspecified(lhost) {
		// Listening on every address: any address of this machine comes
		// in (but 0.0.0.0 listens on IPv4 only).
		if la, _ := parseIP(lhost); la.Is4() && uIP && ua.Is6() {
			return false
		}
		return isLoopbackName(uhost) || uIP && (ua.IsLoopback() || ua.IsUnspecified() || isOwnAddress(ua))
	}
	if isLoopbackName(lhost) {
		return isLoopbackName(uhost) || uIP && (isLocalhostIP(ua) || ua.IsUnspecified())
	}
	la, lIP := parseIP(lhost)
	switch {
	case lIP && uIP:
		// Connecting to 0.0.0.0 or :: reaches the local host's loopback.
		return la == ua || la.IsLoopback() && ua.IsUnspecified()
	case lIP:
		return isLocalhostIP(la) && isLoopbackName(uhost)
	case uIP:
		return false
	}
	return strings.EqualFold(strings.TrimSuffix(lhost, "."), strings.TrimSuffix(uhost, "."))
}

func isUnspecified(host string) bool {
	a, ok := parseIP(host)
	return ok && a.IsUnspecified()
}

// isLoopbackName is "localhost", which resolves to 127.0.0.1 and ::1.
func isLoopbackName(host string) bool {
	return strings.EqualFold(strings.TrimSuffix(host, "."), "localhost")
}

// isLocalhostIP tells whether a is one of the addresses "localhost" resolves to.
func isLocalhostIP(a netip.Addr) bool {
	return a == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || a == netip.IPv6Loopback()
}

// isOwnAddress tells whether a is the address of one of this machine's
// interfaces.
func isOwnAddress(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok {
			if b, ok := netip.AddrFromSlice(n.IP); ok && b.Unmap() == a {
				return true
			}
		}
	}
	return false
}

// parseIP reads an IP literal, without zone, IPv4-mapped IPv6 as IPv4.
func parseIP(host string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}
