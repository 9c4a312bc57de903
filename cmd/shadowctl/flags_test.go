package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Headers replay sets itself, or that describe one connection, would be
// dropped without a word: --header refuses them.
func TestReplayHeaderRefusesWhatReplaySets(t *testing.T) {
	rec := t.TempDir()
	for _, h := range []string{"Host: other", "content-length: 3", "Transfer-Encoding: chunked", "Connection: close", "Upgrade: h2c"} {
		_, stderr, code := runCLI(t, "replay", "--target", "http://127.0.0.1:1", "--header", h, rec)
		if code != exitUsage || !strings.Contains(stderr, "is set by replay for each request and connection") {
			t.Errorf("--header %q: exit %d, stderr %q; want a usage error", h, code, stderr)
		}
	}
}

func TestLoadCAFile(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "x.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, want string }{
		{filepath.Join(dir, "missing.pem"), "--ca-file: open "},
		{notPEM, "--ca-file " + notPEM + ": no PEM certificate in it"},
	}
	for _, tc := range cases {
		_, err := loadCAFile(tc.path)
		if err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("loadCAFile(%s) = %v, want a usage error with %q", tc.path, err, tc.want)
		}
	}
}

func TestParseHTTPURL(t *testing.T) {
	cases := []struct{ raw, want string }{
		{"http://127.0.0.1:8080", ""},
		{"https://model.internal/base", ""},
		{"ftp://x", "want an http:// or https:// URL with a host"},
		{"http://:8080", "want an http:// or https:// URL with a host"},
		{"http://u:secret@h", `--upstream "http://u:xxxxx@h": user info is not sent: hint; remove it from the URL`},
		{"http://h:70000", "port 70000: want 1 to 65535"},
	}
	for _, tc := range cases {
		u, err := parseHTTPURL("upstream", tc.raw, "hint")
		switch {
		case tc.want == "" && (err != nil || u.String() != tc.raw):
			t.Errorf("%s: got %v, %v", tc.raw, u, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret")):
			t.Errorf("%s: got %v, want %q (and no password)", tc.raw, err, tc.want)
		}
	}
}
