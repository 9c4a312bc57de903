package record

import (
	"net"
	"net/url"
	"testing"
)

func TestSendsToItself(t *testing.T) {
	// An address of one of this machine's interfaces other than loopback,
	// if it has one: with a wildcard listener it loops too.
	own := ""
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				own = n.IP.String()
				break
			}
		}
	}
	cases := []struct {
		listen, upstream string
		want             bool
	}{
		{"127.0.0.1:8081", "http://127.0.0.1:8081", true},
		{"127.0.0.1:8081", "http://localhost:8081", true},
		{"127.0.0.1:8081", "http://LOCALHOST.:8081/v1", true},
		{"127.0.0.1:8081", "http://0.0.0.0:8081", true},
		{"127.0.0.1:8081", "http://[::ffff:127.0.0.1]:8081", true},
		{":8081", "http://127.0.0.1:8081", true},
		{":8081", "http://127.0.0.2:8081", true},
		{":8081", "http://localhost:8081", true},
		{":8081", "http://[::1]:8081", true},
		{":8081", "http://0.0.0.0:8081", true},
		{"0.0.0.0:8081", "http://127.0.0.1:8081", true},
		{"[::]:8081", "http://[::1]:8081", true},
		{"localhost:8081", "http://127.0.0.1:8081", true},
		{"localhost:8081", "http://[::1]:8081", true},
		{"localhost:8081", "http://localhost:8081", true},
		{"[::1]:8081", "http://localhost:8081", true},
		{":80", "http://localhost", true},   // the scheme's port
		{":443", "https://localhost", true}, // the scheme's port
		{":http", "http://127.0.0.1:80", true},
		{"model-proxy:8081", "http://Model-Proxy:8081", true},

		{"127.0.0.1:8081", "http://127.0.0.1:8080", false}, // another port
		{"127.0.0.1:8081", "https://127.0.0.1", false},
		{":80", "https://localhost", false},
		{"127.0.0.1:0", "http://127.0.0.1:0", false},       // the system picks the port
		{"127.0.0.1:8081", "http://127.0.0.2:8081", false}, // another loopback address, not listened on
		{"127.0.0.5:8081", "http://localhost:8081", false},
		{"10.1.2.3:8081", "http://127.0.0.1:8081", false},
		{"0.0.0.0:8081", "http://[::1]:8081", false}, // 0.0.0.0 listens on IPv4 only
		{":8081", "http://model:8081", false},        // a name: no DNS
		{"127.0.0.1:8081", "http://model:8081", false},
		{"model-a:8081", "http://model-b:8081", false},
		{"bad", "http://127.0.0.1:8081", false},
	}
	if own != "" {
		cases = append(cases, struct {
			listen, upstream string
			want             bool
		}{":8081", "http://" + own + ":8081", true})
	}
	for _, c := range cases {
		u, err := url.Parse(c.upstream)
		if err != nil {
			t.Fatal(err)
		}
		if got := SendsToItself(c.listen, u); got != c.want {
			t.Errorf("SendsToItself(%q, %q) = %v, want %v", c.listen, c.upstream, got, c.want)
		}
	}
}
