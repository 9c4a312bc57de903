package main

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shadowctl/shadowctl/internal/poll"
	"github.com/shadowctl/shadowctl/internal/wal"
	"github.com/shadowctl/shadowctl/record"
)

// TestSecretsNeverReachDiskOrLog records exchanges carrying secrets in
// default and extra redacted headers (both directions) and a JSON field
// under --redact-json, with --log-level debug, and searches the raw files
// (the log while recording, the Parquet files after), the decoded rows and
// the log output: no secret anywhere. A marker that is not secret is found
// in the raw log, so the search does see header values. Every file is 0600,
// the folder 0700, and so is a replay's results file. Two exchanges carry the
// JSON field where encoding/json alone would miss it, both ways: after a
// byte order mark (stored empty, flagged truncated) and in the first of two
// "user" keys (masked in every occurrence).
func TestSecretsNeverReachDiskOrLog(t *testing.T) {
	bin := buildBinary(t)
	secrets := []string{"REQ-AUTH-SECRET", "REQ-COOKIE-SECRET", "CUSTOM-SECRET", "RESP-COOKIE-SECRET", "RESP-TOKEN-SECRET",
		"pii-secret@example.com"}
	// Bodies by the request's i: the plain one, then the two a plain
	// encoding/json read would miss.
	reqBodies := []string{`{"user":{"email":"pii-secret@example.com"},"note":"VISIBLE-BODY-MARKER"}`,
		"\xef\xbb\xbf" + `{"user":{"email":"pii-secret@example.com"},"note":"VISIBLE-BODY-MARKER"}`,
		`{"user":{"email":"pii-secret@example.com"},"note":"VISIBLE-BODY-MARKER","user":{"name":"n"}}`}
	respBodies := []string{`{"user":{"email":"pii-secret@example.com"},"y":1}`,
		"\xef\xbb\xbf" + `{"user":{"email":"pii-secret@example.com"},"y":1}`,
		`{"user":{"email":"pii-secret@example.com"},"y":1,"user":{"id":2}}`}
	const bomRow, dupRow = 5, 6
	kind := func(i int) int { return max(0, i-bomRow+1) } // 0 plain, 1 BOM, 2 repeated key
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		w.Header().Set("Set-Cookie", "session=RESP-COOKIE-SECRET")
		w.Header().Set("X-Custom-Token", "RESP-TOKEN-SECRET")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, respBodies[kind(i)])
	}))
	defer upstream.Close()
	dir := filepath.Join(t.TempDir(), "rec")
	p := startRecorder(t, bin, "--listen", "127.0.0.1:0", "--admin", "", "--upstream", upstream.URL, "--out", dir,
		"--instance", "sec", "--redact-header", "X-Custom-Token", "--redact-json", "$.user.email", "--log-level", "debug")
	for i := range dupRow + 1 {
		req, _ := http.NewRequest("POST", fmt.Sprintf("%s/v1/predict?i=%d", p.addr, i),
			strings.NewReader(reqBodies[kind(i)]))
		req.Header.Set("Authorization", "Bearer REQ-AUTH-SECRET")
		req.Header.Set("Cookie", "sid=REQ-COOKIE-SECRET")
		req.Header.Set("X-Custom-Token", "CUSTOM-SECRET")
		req.Header.Set("X-Trace", "VISIBLE-HEADER-MARKER")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		// The client still gets everything: redaction is for the disk only.
		if !strings.Contains(string(body), "pii-secret@example.com") || res.Header.Get("X-Custom-Token") != "RESP-TOKEN-SECRET" {
			t.Fatalf("client got %q %v", body, res.Header)
		}
	}
	noSecrets := func(what string, b []byte) {
		t.Helper()
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the secret %q", what, s)
			}
		}
	}
	checkModes := func() {
		t.Helper()
		if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
			t.Errorf("folder %s: %v %v, want 0700", dir, info.Mode(), err)
		}
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if info, err := d.Info(); err != nil || info.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v %v, want 0600", path, info.Mode(), err)
			}
			return nil
		})
	}
	// While recording: the write-ahead log's records (compressed on disk,
	// so searched as the log reads them back).
	waitForFile(t, dir, "*"+record.WALSuffix, "VISIBLE-HEADER-MARKER")
	logs, _ := filepath.Glob(filepath.Join(dir, "*"+record.WALSuffix))
	for _, l := range logs {
		b, err := logRecords(l)
		if err != nil {
			t.Fatal(err)
		}
		noSecrets(l, b)
		if !bytes.Contains(b, []byte("VISIBLE-BODY-MARKER")) {
			t.Errorf("%s lacks the body marker: the search would not see a body", l)
		}
	}
	checkModes()
	p.stop(t)
	checkModes()
	files, _ := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if len(files) == 0 {
		t.Fatal("no recording written")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		noSecrets(f, b)
	}
	r, err := record.Open([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var rows int
	for {
		x, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows++
		noSecrets("row "+x.ID, fmt.Appendf(nil, "%+v %s %s", x, x.RequestBody, x.ResponseBody))
		switch {
		case strings.HasSuffix(x.Path, fmt.Sprintf("i=%d", bomRow)):
			if len(x.RequestBody) != 0 || !x.RequestBodyTruncated || len(x.ResponseBody) != 0 || !x.ResponseBodyTruncated {
				t.Errorf("row %s (BOM) bodies %q cut %v / %q cut %v: want both empty and flagged", x.Path,
					x.RequestBody, x.RequestBodyTruncated, x.ResponseBody, x.ResponseBodyTruncated)
			}
		case strings.HasSuffix(x.Path, fmt.Sprintf("i=%d", dupRow)):
			wantReq := `{"note":"VISIBLE-BODY-MARKER","user":{"email":"REDACTED"},"user":{"name":"n"}}`
			wantResp := `{"user":{"email":"REDACTED"},"user":{"id":2},"y":1}`
			if string(x.RequestBody) != wantReq || string(x.ResponseBody) != wantResp || x.RequestBodyTruncated || x.ResponseBodyTruncated {
				t.Errorf("row %s (repeated key) bodies %s / %s, want %s / %s", x.Path, x.RequestBody, x.ResponseBody, wantReq, wantResp)
			}
		case !bytes.Contains(x.RequestBody, []byte(`"email":"REDACTED"`)) || !bytes.Contains(x.ResponseBody, []byte(`"email":"REDACTED"`)):
			t.Errorf("row %s bodies %s / %s: want the email masked", x.ID, x.RequestBody, x.ResponseBody)
		}
	}
	if rows != dupRow+1 {
		t.Errorf("%d rows, want %d", rows, dupRow+1)
	}
	noSecrets("the log (stderr, debug level)", []byte(p.stderr()))

	// A replay of it writes its results 0600.
	out := filepath.Join(t.TempDir(), "results.parquet")
	if b, err := exec.Command(bin, "replay", "--target", upstream.URL, "--out", out, dir).CombinedOutput(); err != nil {
		t.Fatalf("replay: %v\n%s", err, b)
	}
	if info, err := os.Stat(out); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("results %s: %v %v, want 0600", out, info.Mode(), err)
	}
}

// logRecords is every record of the write-ahead log at path, one after
// another, as wal.Read gives them (the file itself is compressed).
func logRecords(path string) ([]byte, error) {
	var all []byte
	_, err := wal.Read(path, func(rec []byte) error {
		all = append(all, rec...)
		return nil
	})
	return all, err
}

// waitForFile polls until a write-ahead log matching pattern in dir holds
// marker in one of its records.
func waitForFile(t *testing.T, dir, pattern, marker string) {
	t.Helper()
	poll.Until(t, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, f := range files {
			if b, err := logRecords(f); err == nil && bytes.Contains(b, []byte(marker)) {
				return true
			}
		}
		return false
	})
}

func TestRecordSecretFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--redact-json", "$.user["}, `--redact-json: JSONPath "$.user["`},
		{[]string{"--ca-file", "/nonexistent/ca.pem"}, "--ca-file: open /nonexistent/ca.pem"},
		{[]string{"--max-header-bytes", "10"}, "--max-header-bytes 10: want between 1KiB and 1GiB"},
		{[]string{"--read-header-timeout", "0s"}, "--read-header-timeout 0s"},
	} {
		_, stderr, code := runCLI(t, append([]string{"record", "--upstream", "http://127.0.0.1:1"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") > 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestAdminListensOnLoopbackByDefault(t *testing.T) {
	f := newRecordCmd(&globalOptions{}).Flags().Lookup("admin")
	host, _, err := net.SplitHostPort(f.DefValue)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		t.Errorf("--admin defaults to %q: want a loopback address", f.DefValue)
	}
}

// TestTLSVerifiedByDefault: an HTTPS upstream (record) or target (replay)
// with a certificate from an unknown CA fails by default, works with
// --ca-file naming that CA, and with --insecure-skip-verify only with a
// warning.
func TestTLSVerifiedByDefault(t *testing.T) {
	bin := buildBinary(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"y":1}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	const warning = `msg="--insecure-skip-verify: ` // the warning, not the hint that names the flag
	var recDir string
	recRoot := t.TempDir()
	for _, tc := range []struct {
		name   string
		flags  []string
		status int
		warn   bool
	}{
		{"default", nil, http.StatusBadGateway, false},
		{"ca-file", []string{"--ca-file", ca}, http.StatusOK, false},
		{"insecure", []string{"--insecure-skip-verify"}, http.StatusOK, true},
	} {
		t.Run("record "+tc.name, func(t *testing.T) {
			dir := filepath.Join(recRoot, tc.name)
			p := startRecorder(t, bin, append([]string{"--listen", "127.0.0.1:0", "--admin", "", "--upstream", srv.URL,
				"--out", dir, "--instance", "tls"}, tc.flags...)...)
			res, err := http.Post(p.addr+"/v1/predict", "application/json", strings.NewReader(`{"x":1}`))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			p.stop(t)
			if res.StatusCode != tc.status {
				t.Errorf("status %d, want %d", res.StatusCode, tc.status)
			}
			if got := strings.Contains(p.stderr(), warning); got != tc.warn {
				t.Errorf("warning logged: %v, want %v; stderr:\n%s", got, tc.warn, p.stderr())
			}
			r, err := record.Open([]string{dir})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			x, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if tc.status != 200 && !strings.Contains(x.Error, "certificate") {
				t.Errorf("row error %q: want it to name the certificate failure", x.Error)
			}
			if tc.status == 200 {
				recDir = dir
			}
		})
	}
	if recDir == "" {
		t.Fatal("no recording to replay")
	}
	for _, tc := range []struct {
		name  string
		flags []string
		ok    bool
		warn  bool
	}{
		{"default", nil, false, false},
		{"ca-file", []string{"--ca-file", ca}, true, false},
		{"insecure", []string{"--insecure-skip-verify"}, true, true},
	} {
		t.Run("replay "+tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.parquet")
			cmd := exec.Command(bin, append([]string{"replay", "--target", srv.URL, "--out", out}, append(tc.flags, recDir)...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if (err == nil) != tc.ok {
				t.Errorf("exit %v, want ok %v; stderr:\n%s", err, tc.ok, stderr.String())
			}
			if !tc.ok && !strings.Contains(stderr.String(), "tls") {
				t.Errorf("stderr %q does not name the TLS failure", stderr.String())
			}
			const hint = "certificate signed by unknown authority (give the CA with --ca-file, or --insecure-skip-verify to skip verification)"
			if !tc.ok && !strings.Contains(stderr.String(), hint) {
				t.Errorf("stderr %q does not say what to do: %q", stderr.String(), hint)
			}
			if got := strings.Contains(stderr.String(), warning); got != tc.warn {
				t.Errorf("warning logged: %v, want %v; stderr:\n%s", got, tc.warn, stderr.String())
			}
		})
	}
}
