//go:build unix

package h1

import (
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/internal/poll"
)

// Get hands out an idle connection only if nothing came on it after its
// answer: a byte nobody asked for, or the upstream's close, and the next
// request goes on a new connection.
func TestGetHandsOutOnlyCleanConns(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	cases := []struct {
		name  string
		extra string // sent right after the first answer
		idle  string // done to the idle connection: "", "byte" or "close"
		reuse bool
	}{
		{name: "clean", reuse: true},
		{name: "a byte while idle", idle: "byte"},
		{name: "closed by the upstream", idle: "close"},
		{name: "bytes beyond the framing", extra: "HTTP/1.1 200 OK\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t, func(n int) string {
				if n == 0 {
					return ok + tc.extra
				}
				return ok
			})
			c, err := NewClient(p.url, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			first, status, body := exchange(t, c)
			if status != 200 || body != "ok" || first.Reused() {
				t.Fatalf("first exchange: %d %q reused %v, want 200 ok on a new connection", status, body, first.Reused())
			}
			srv := <-p.accepted
			switch tc.idle {
			case "byte":
				if _, err := srv.Write([]byte("x")); err != nil {
					t.Fatal(err)
				}
			case "close":
				_ = srv.Close()
			}
			if !tc.reuse {
				// The byte or the close is on its way: wait until the
				// client's end could see it.
				if !poll.Within(10*time.Second, func() bool { return !first.clean() }) {
					t.Fatal("the idle connection still looks clean")
				}
			}
			second, status, body := exchange(t, c)
			if status != 200 || body != "ok" {
				t.Fatalf("second exchange: %d %q, want 200 ok", status, body)
			}
			if got := second == first; got != tc.reuse || second.Reused() != tc.reuse {
				t.Errorf("second exchange: same connection %v, Reused %v; want %v", got, second.Reused(), tc.reuse)
			}
			wantConns := 1
			if !tc.reuse {
				wantConns = 2
			}
			if got := 1 + len(p.accepted); got != wantConns {
				t.Errorf("upstream accepted %d connections, want %d", got, wantConns)
			}
		})
	}
}
