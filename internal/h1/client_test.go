package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestNewClientWantsAnHTTPURLWithAHost(t *testing.T) {
	for _, raw := range []string{"ftp://model:80", "http://", "/just/a/path", "unix:///tmp/s"} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := NewClient(u, Options{}); err == nil || c != nil {
			t.Errorf("NewClient(%q) = %v, %v; want an error", raw, c, err)
		}
	}
	if c, err := NewClient(nil, Options{}); err == nil || c != nil {
		t.Errorf("NewClient(nil) = %v, %v; want an error", c, err)
	}
}

func TestTarget(t *testing.T) {
	cases := []struct {
		upstream, target, want string
	}{
		{"http://m", "/v1/models/m:predict", "/v1/models/m:predict"},
		{"http://m/", "/a?x=1", "/a?x=1"},
		{"http://m", "*", "*"},
		{"http://m/base", "*", "*"}, // OPTIONS * names the server, no path
		{"http://m/base", "/a", "/base/a"},
		{"http://m/base/", "/a", "/base/a"}, // one slash between them
		{"http://m/base", "/", "/base/"},
		{"http://m/base", "/a?x=1&y=2", "/base/a?x=1&y=2"},
		{"http://m/base", "/a?", "/base/a?"}, // an empty query stays as sent
		{"http://m/api%2Fv1", "/a", "/api%2Fv1/a"},
		{"http://m?key=k", "/a", "/a?key=k"},
		{"http://m?key=k", "/a?x=1", "/a?key=k&x=1"},
		{"http://m?key=k", "/a?", "/a?key=k"},
		{"http://m/base?key=k", "/a?x=1", "/base/a?key=k&x=1"},
		{"http://m/base?key=k", "*", "*"},
	}
	for _, tc := range cases {
		u, err := url.Parse(tc.upstream)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewClient(u, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Target(tc.target); got != tc.want {
			t.Errorf("upstream %s: Target(%q) = %q, want %q", tc.upstream, tc.target, got, tc.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	cases := []struct {
		method string
		header http.Header
		want   bool
	}{
		{http.MethodGet, nil, true},
		{http.MethodHead, nil, true},
		{http.MethodOptions, nil, true},
		{http.MethodTrace, nil, true},
		{http.MethodPost, nil, false},
		{http.MethodPut, nil, false}, // idempotent, but http.Transport does not repeat it either
		{http.MethodPatch, nil, false},
		{http.MethodDelete, nil, false},
		{http.MethodPost, http.Header{"Idempotency-Key": {"k1"}}, true},
		{http.MethodPost, http.Header{"X-Idempotency-Key": {"k1"}}, true},
		{http.MethodPost, http.Header{"Idempotency-Key": {}}, true}, // present, even empty
		{http.MethodPost, http.Header{"X-Request-Id": {"k1"}}, false},
	}
	for _, tc := range cases {
		r := &http.Request{Method: tc.method, Header: tc.header}
		if got := Retryable(r); got != tc.want {
			t.Errorf("Retryable(%s %v) = %v, want %v", tc.method, tc.header, got, tc.want)
		}
	}
}

// head is a response head of exactly n bytes announcing a body of bodyLen.
func head(n, bodyLen int) string {
	fixed := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Pad: \r\n\r\n", bodyLen)
	return strings.Replace(fixed, "X-Pad: ", "X-Pad: "+strings.Repeat("p", n-len(fixed)), 1)
}

// The head is capped at MaxHeaderBytes, the body after it is not.
func TestReadResponseCapsTheHead(t *testing.T) {
	body := strings.Repeat("b", 4<<10)
	cases := []struct {
		name    string
		headLen int
		wantErr error
	}{
		{"well under", 512, nil},
		{"at the cap", 1 << 10, nil},
		{"one byte over, cut between CR and LF", 1<<10 + 1, ErrHeadTooLarge},
		{"its blank line over", 1<<10 + 2, ErrHeadTooLarge},
		{"twice the cap", 2 << 10, ErrHeadTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := len(head(tc.headLen, len(body))); got != tc.headLen {
				t.Fatalf("head is %d bytes, want %d", got, tc.headLen)
			}
			p := newPeer(t, func(int) string { return head(tc.headLen, len(body)) + body })
			c, err := NewClient(p.url, Options{MaxHeaderBytes: 1 << 10, HeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			pc, err := c.Get(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			req, _ := http.NewRequest(http.MethodGet, "http://upstream/", nil)
			WriteRequestHead(pc.Writer(), req, "/", "upstream", NewEndToEnd(req.Header), false)
			if err := pc.Writer().Flush(); err != nil {
				t.Fatal(err)
			}
			pc.ArmHeaderTimeout()
			res, err := pc.ReadResponse(req, nil)
			pc.EndHead()
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ReadResponse: %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadResponse: %v", err)
			}
			b, err := io.ReadAll(res.Body)
			if err != nil || res.StatusCode != 200 || string(b) != body {
				t.Fatalf("got %d, %d body bytes, %v; want 200 and the %d bytes sent", res.StatusCode, len(b), err, len(body))
			}
		})
	}
}
