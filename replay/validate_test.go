package replay

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowctl/shadowctl/record"
)

func TestCheckBase(t *testing.T) {
	for _, c := range []struct {
		url, want string // want "": accepted
	}{
		{"http://127.0.0.1:9000", ""},
		{"https://model.example:443/v1/", ""},
		{"http://model/api%2Fv1", ""},
		{"http://[::1]:1", ""},
		{"http://h:65535", ""},
		{"http://127.0.0.1:99999", "port 99999: want 1 to 65535"},
		{"http://127.0.0.1:0", "port 0: want 1 to 65535"},
		{"ftp://model", "want http:// or https:// and a host"},
		{"http://:9000", "want http:// or https:// and a host"},
		{"http:model", "want http:// or https:// and a host"},
		{"http://user:secret@model", "user info in the URL is not sent; remove it"},
		{"http://user@model", "user info in the URL is not sent; remove it"},
		{"http://model/v1?key=abc", "a query in the base URL is not sent"},
		{"http://model/v1?", "a query in the base URL is not sent"},
		{"http://model/v1#frag", "a fragment (#...) is never sent"},
	} {
		err := CheckBase(mustURL(t, c.url))
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("CheckBase(%s) = %v, want %q", c.url, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("CheckBase(%s) = %v: prints the password", c.url, err)
		}
		if strings.Contains(c.want, "user info") && !errors.Is(err, ErrUserInfo) {
			t.Errorf("CheckBase(%s) = %v, want ErrUserInfo", c.url, err)
		}
	}
}

func TestCheckHeader(t *testing.T) {
	for _, c := range []struct {
		name, value, want string
	}{
		{"X-Api-Key", "abc", ""},
		{"X-Weird!#$%&'*+-.^_`|~09", "a\tb é", ""}, // every tchar; HTAB and obs-text in the value
		{"X", "", ""},
		{"X", "a\r\nEvil: b", `control character '\r'`},
		{"X", "a\nb", `control character '\n'`},
		{"X", "a\x00b", `control character '\x00'`},
		{"X", "a\x1bb", `control character '\x1b'`},
		{"X", "a\x7fb", `control character '\x7f'`},
		{"X\rY", "a", `character '\r' is not allowed in a name`},
		{"X(Y)", "a", `character '(' is not allowed in a name`},
		{"X:Y", "a", `character ':' is not allowed in a name`},
		{"Ĥ", "a", "is not allowed in a name"},
		{"", "a", "empty header name"},
	} {
		err := CheckHeader(c.name, c.value)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("CheckHeader(%q, %q) = %v, want %q", c.name, c.value, err, c.want)
		}
	}
	o := Options{Target: mustURL(t, "http://127.0.0.1:1"), Header: http.Header{"X": {"a\r\nEvil: b"}}}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "control character") {
		t.Errorf("Validate with a CRLF header = %v", err)
	}
}

// The base URL's path is kept as written, escapes included: a %2F in it is
// part of a name, and decoding it would send the request elsewhere.
func TestBasePathKeepsItsEscapes(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{} // X-Id: the request target received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("X-Id")] = r.RequestURI
		mu.Unlock()
	}))
	defer srv.Close()
	for _, c := range []struct {
		base, path, want string
	}{
		{"/api%2Fv1", "/predict?x=%2F", "/api%2Fv1/predict?x=%2F"},
		{"/api%2Fv1/", "/predict", "/api%2Fv1/predict"},
		{"/api%2F", "/predict", "/api%2F/predict"},
		{"/api%2Fv1", "/a%2Fb", "/api%2Fv1/a%2Fb"},
		{"/api/v1", "/a%2Fb", "/api/v1/a%2Fb"},
		{"/api/v1/", "/predict", "/api/v1/predict"},
		{"/a%20b", "/p", "/a%20b/p"},
		{"", "/a%2Fb?q=1", "/a%2Fb?q=1"},
		{"/", "/p", "/p"},
	} {
		id := c.base + "|" + c.path
		at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		xs := []record.Exchange{{ID: "x", StartedAt: at, Method: "GET", Path: c.path,
			RequestHeaders: []record.Header{{Name: "X-Id", Value: id}}}}
		o := Options{Target: mustURL(t, srv.URL+c.base), Concurrency: 1}
		if err := o.Validate(); err != nil {
			t.Fatalf("base %s: %v", c.base, err)
		}
		if _, err := Run(context.Background(), o, &sliceSource{xs: xs}, &memWriter{}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		uri := got[id]
		mu.Unlock()
		if uri != c.want {
			t.Errorf("base %q, recorded %q: sent %q, want %q", c.base, c.path, uri, c.want)
		}
	}
}
