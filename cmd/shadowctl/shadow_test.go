package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/shadowctl/shadowctl/internal/demomodel"
	"github.com/shadowctl/shadowctl/internal/poll"
	"github.com/shadowctl/shadowctl/internal/spool"
	"github.com/shadowctl/shadowctl/internal/wal"
	"github.com/shadowctl/shadowctl/record"
	"github.com/shadowctl/shadowctl/replay"
	"github.com/shadowctl/shadowctl/shadow"
)

// demoModels serves the demo's model-v1 and model-v2 on loopback and
// returns them, for ground truth.
func demoModels(t *testing.T) (v1, v2 *demomodel.Model, v1URL, v2URL string) {
	t.Helper()
	serve := func(version string) (*demomodel.Model, string) {
		m, err := demomodel.Train(version)
		if err != nil {
			t.Fatal(err)
		}
		h, err := demomodel.NewHandler(demomodel.Options{Name: "bc", Version: version, Model: m, Latency: 0})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return m, srv.URL
	}
	v1, v1URL = serve("v1")
	v2, v2URL = serve("v2")
	return
}

// startLiveShadow runs the real recorder in front of the demo's model-v1
// with model-v2 as --shadow, and more flags; it returns the models and the
// results folder.
func startLiveShadow(t *testing.T, args ...string) (p *recorderProc, v1, v2 *demomodel.Model, sh string) {
	t.Helper()
	v1, v2, v1URL, v2URL := demoModels(t)
	dir := t.TempDir()
	sh = filepath.Join(dir, "shadow")
	p = startRecorder(t, buildBinary(t), append([]string{"--listen", "127.0.0.1:0", "--upstream", v1URL, "--shadow", v2URL,
		"--out", filepath.Join(dir, "rec"), "--shadow-out", sh}, args...)...)
	return p, v1, v2, sh
}

// sendInstances posts one instance per request through the recorder and
// returns how many requests the two models answer alike (the ground truth).
func sendInstances(t *testing.T, front string, v1, v2 *demomodel.Model, n int) (agree int) {
	t.Helper()
	return sendTenants(t, front, v1, v2, n, nil)["all"]
}

// sendTenants is sendInstances with request i from tenant i%len(tenants)
// (in an X-Tenant header, none when tenants is nil); it returns how many
// requests the models answer alike per tenant, and in all under "all".
func sendTenants(t *testing.T, front string, v1, v2 *demomodel.Model, n int, tenants []string) map[string]int {
	t.Helper()
	agree := map[string]int{}
	d, err := demomodel.Load()
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		x := d.Features[i%len(d.Features)]
		body, _ := json.Marshal(map[string]any{"instances": [][]float64{x}})
		req, _ := http.NewRequest("POST", front+"/v1/models/bc:predict", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		tenant := ""
		if tenants != nil {
			tenant = tenants[i%len(tenants)]
			req.Header.Set("X-Tenant", tenant)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		l1, _, _ := v1.Predict(x)
		l2, _, _ := v2.Predict(x)
		if want := fmt.Sprintf(`{"predictions":[%q]}`, l1); res.StatusCode != 200 || !strings.Contains(string(b), fmt.Sprintf("%q", l1)) {
			t.Fatalf("request %d: client got %d %s, want v1's %s", i, res.StatusCode, b, want)
		}
		if l1 == l2 {
			agree["all"]++
			if tenant != "" {
				agree[tenant]++
			}
		}
	}
	return agree
}

// The real binary with --shadow in front of the demo models: clients get
// v1's answers, and the report over the live results equals the two models'
// own agreement on the instances sent; the summary line says so too.
func TestRecordLiveShadowAgreesWithGroundTruth(t *testing.T) {
	bin := buildBinary(t)
	p, v1, v2, sh := startLiveShadow(t, "--admin", "", "--instance", "live")
	const n = 120
	tenants := []string{"acme", "globex", "initech"}
	byTenant := sendTenants(t, p.addr, v1, v2, n, tenants)
	agree := byTenant["all"]
	if agree == n || agree == 0 {
		t.Fatalf("the models agree on %d of %d instances: pick instances where they differ", agree, n)
	}
	p.stop(t)
	want := fmt.Sprintf("shadow: mirrored %d, dropped 0 (queue_full=0, unheld=0, closed=0, rate_limited=0), %d of %d agreeing, %d rows in %s", n, agree, n, n, sh)
	if !strings.Contains(p.stderr(), want) {
		t.Errorf("summary line missing %q:\n%s", want, p.stderr())
	}
	out, err := exec.Command(bin, "report", "--format", "json", sh).Output()
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	var rep struct {
		Exchanges int64 `json:"exchanges"`
		Agreement struct {
			Requests struct{ Compared, Agreed int64 } `json:"requests"`
		} `json:"agreement"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Exchanges != n || rep.Agreement.Requests.Compared != n || rep.Agreement.Requests.Agreed != int64(agree) {
		t.Errorf("report over the live results: %d rows, %d of %d agreeing; ground truth %d of %d", rep.Exchanges,
			rep.Agreement.Requests.Agreed, rep.Agreement.Requests.Compared, agree, n)
	}
	// The live rows keep the request headers: a report slices by one as it
	// does replayed results.
	out, err = exec.Command(bin, "report", "--format", "json", "--by", "header:X-Tenant", sh).Output()
	if err != nil {
		t.Fatalf("report --by header:X-Tenant: %v", err)
	}
	var groups struct {
		Groups []struct {
			Key       string `json:"key"`
			Exchanges int64  `json:"exchanges"`
			Agreement struct {
				Requests struct{ Compared, Agreed int64 } `json:"requests"`
			} `json:"agreement"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(out, &groups); err != nil {
		t.Fatal(err)
	}
	if len(groups.Groups) != len(tenants) {
		t.Fatalf("%d groups by X-Tenant, want %d: %s", len(groups.Groups), len(tenants), out)
	}
	for _, g := range groups.Groups {
		if g.Exchanges != n/int64(len(tenants)) || g.Agreement.Requests.Agreed != int64(byTenant[g.Key]) {
			t.Errorf("group %q: %d rows, %d agreeing; ground truth %d rows, %d agreeing", g.Key, g.Exchanges,
				g.Agreement.Requests.Agreed, n/len(tenants), byTenant[g.Key])
		}
	}
}

// SIGKILL after the rows reached the results log, then a restart: the
// rows are recovered into a results file, like recordings.
func TestRecordLiveShadowSurvivesSIGKILL(t *testing.T) {
	bin := buildBinary(t)
	v1, v2, v1URL, v2URL := demoModels(t)
	dir := t.TempDir()
	sh := filepath.Join(dir, "shadow")
	args := []string{"--listen", "127.0.0.1:0", "--admin", "", "--upstream", v1URL, "--shadow", v2URL,
		"--out", filepath.Join(dir, "rec"), "--shadow-out", sh, "--instance", "live", "--rotate-interval", "1h"}
	p := startRecorder(t, bin, args...)
	const n = 30
	sendInstances(t, p.addr, v1, v2, n)
	logged := func() int {
		logs, _ := filepath.Glob(filepath.Join(sh, "*"+record.WALSuffix))
		rows := 0
		for _, l := range logs {
			_, _ = wal.Read(l, func([]byte) error { rows++; return nil })
		}
		return rows
	}
	// Every row is in the results log (synced within a second); then the
	// kill, under load: more requests keep coming while it lands.
	poll.Until(t, func() bool { return logged() == n })
	stop := make(chan struct{})
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		body := `{"instances":[[` + strings.TrimSuffix(strings.Repeat("1,", 30), ",") + `]]}`
		for {
			select {
			case <-stop:
				return
			default:
			}
			res, err := http.Post(p.addr+"/v1/models/bc:predict", "application/json", strings.NewReader(body))
			if err != nil {
				return // the recorder is gone
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}()
	poll.Until(t, func() bool { return logged() >= n+10 })
	atKill := logged()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	close(stop)
	<-loaded
	p2 := startRecorder(t, bin, args...)
	p2.stop(t)
	if !strings.Contains(p2.stderr(), "recovered results file left by a live shadow") {
		t.Errorf("no recovery logged:\n%s", p2.stderr())
	}
	out, err := exec.Command(bin, "report", "--format", "json", sh).Output()
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	var rep struct {
		Exchanges int64 `json:"exchanges"`
	}
	// Every row logged before the kill survives; rows logged in the last
	// instant before it may too.
	if err := json.Unmarshal(out, &rep); err != nil || rep.Exchanges < int64(atKill) {
		t.Errorf("report after the crash: %d rows (%v), want at least the %d logged before the kill", rep.Exchanges, err, atKill)
	}
}

// --shadow-rate on the real binary: with a cap of one copy per 1,000 s, the
// bucket's one copy is mirrored and every other request is dropped as
// rate_limited, in the summary line and on /metrics, while every client gets
// v1's answer.
func TestRecordShadowRateCapsTheCopies(t *testing.T) {
	p, v1, v2, _ := startLiveShadow(t, "--admin", "127.0.0.1:0", "--shadow-rate", "0.001")
	const n = 20
	sendInstances(t, p.addr, v1, v2, n)
	m := metricValues(t, p.admin(t)+"/metrics")
	if got := m[`shadowctl_shadow_dropped_total{reason="rate_limited"}`]; got != n-1 {
		t.Errorf("/metrics: %v copies dropped as rate_limited, want %d", got, n-1)
	}
	p.stop(t)
	if want := "shadow: mirrored 1, dropped 19 (queue_full=0, unheld=0, closed=0, rate_limited=19)"; !strings.Contains(p.stderr(), want) {
		t.Errorf("summary line missing %q:\n%s", want, p.stderr())
	}
}

// The shadow's flags are checked at start.
func TestRecordShadowFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--shadow", "ftp://x"}, "--shadow \"ftp://x\": want an http:// or https:// URL"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-sample", "2"}, "--shadow-sample 2: want a fraction"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-key", "cookie:x"}, "--shadow-key"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-key", "header:Bad Name"}, "--shadow-key: key \"header:Bad Name\""},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-key", "header:Connection"}, "is a connection header"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-header", "X: a\r\nB: c"}, "--shadow-header"},
		// Headers the copy's client sets or drops (and a Connection that
		// would strip the client's headers it names), and one given twice:
		// refused as replay --header refuses them, not silently unsent.
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-header", "Host: v2.internal"}, "Host is set by the shadow's client"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-header", "Connection: X-User-Id"}, "Connection is set by the shadow's client"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-header", "content-length: 9"}, "Content-Length is set by"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-header", "Transfer-Encoding: gzip"}, "Transfer-Encoding is set by"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-header", "X-A: 1", "--shadow-header", "x-a: 2"}, "X-A is given twice"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-key", "request:$.users[*].id"}, "want a path to one value"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-out", "./recordings"}, "is --out"},
		// The same folder written another way, or one inside the other:
		// a folder is read with all below it.
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-out", cwdJoin(t, "recordings") + "/"}, "is --out"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-out", "recordings/../recordings"}, "is --out"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-out", "./recordings/shadow"}, "one is inside the other"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--out", "./shadow/rec"}, "one is inside the other"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--out", "s3://bkt/run", "--shadow-out", "s3://bkt/run/shadow"}, "one is inside the other"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-concurrency", "0"}, "--shadow-concurrency 0"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-rate", "-5"}, "--shadow-rate -5: want 0 (no cap) or a number of copies per second"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-rate", "NaN"}, "--shadow-rate NaN: want"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-rate", "+Inf"}, "--shadow-rate +Inf: want"},
		// Sized up front: a typo of a few digits took the memory, or
		// panicked in makechan.
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-concurrency", "100000000"}, "--shadow-concurrency 100000000: want 1 to 10000"},
		{[]string{"--shadow", "http://127.0.0.1:9", "--shadow-queue", "2000000000"}, "--shadow-queue 2000000000: want 1 to 1048576"},
		{[]string{"--queue", "9223372036854775807"}, "--queue 9223372036854775807: want 1 to 1048576"},
		{[]string{"--spool", "/tmp/spool"}, "--spool /tmp/spool is for a bucket --out or --shadow-out"},
		// The recorder itself as the shadow: one request mirrored back in,
		// without end.
		{[]string{"--listen", "127.0.0.1:18099", "--shadow", "http://localhost:18099/"},
			"--shadow http://localhost:18099/ is --listen 127.0.0.1:18099: each copy would come back in as a new request"},
		{[]string{"--listen", ":18099", "--shadow", "http://127.0.0.1:18099"}, "each copy would come back in"},
		// Without --shadow a --shadow-* flag would be ignored: a forgotten
		// --shadow must not look like a live shadow that mirrors nothing.
		{[]string{"--shadow-sample", "0.5"}, "--shadow-sample needs --shadow URL"},
		{[]string{"--shadow-out", "./sh", "--shadow-timeout", "1s"}, "--shadow-out needs --shadow URL"},
		{[]string{"--shadow-rate", "100"}, "--shadow-rate needs --shadow URL"},
	} {
		args := append([]string{"record", "--upstream", "http://127.0.0.1:8080"}, tc.args...)
		_, stderr, code := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	// A symbolic link to --out is --out.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rec"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "rec"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI(t, "record", "--upstream", "http://127.0.0.1:8080", "--shadow", "http://127.0.0.1:9",
		"--out", filepath.Join(dir, "rec"), "--shadow-out", filepath.Join(dir, "link", "."))
	if code != exitUsage || !strings.Contains(stderr, "is --out") {
		t.Errorf("--shadow-out a link to --out: exit %d, stderr %q", code, stderr)
	}
}

// The closing line says how many live rows were lost before a results
// file (here the files' queue of one row was full), not only the rows kept.
func TestLiveShadowSummaryCountsTheRowsLost(t *testing.T) {
	dir := t.TempDir()
	rows, err := spool.New(spool.Options{Dir: dir, Instance: "t", Queue: 1}, shadow.ResultsCodec())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		rows.Offer(&replay.Result{ID: fmt.Sprintf("id-%d", i), RequestBody: bytes.Repeat([]byte("x"), 4096)})
	}
	if err := rows.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := rows.Stats()
	if st.Dropped[spool.DropQueueFull] == 0 {
		t.Skip("the writer kept up with a queue of one: nothing lost to show")
	}
	target, _ := url.Parse("http://127.0.0.1:1")
	sh, err := shadow.New(shadow.Options{Target: target, Sample: 1})
	if err != nil {
		t.Fatal(err)
	}
	sh.Close(context.Background())
	l := &liveShadow{sh: sh, rows: rows, out: dir}
	want := fmt.Sprintf("%d rows in %s (%d rows lost: queue_full=%d, write_error=0, closed=0)",
		st.Recorded, dir, st.DroppedTotal(), st.Dropped[spool.DropQueueFull])
	if got, _ := l.summary(); !strings.HasSuffix(got, want) {
		t.Errorf("summary %q\nwant it to end %q", got, want)
	}
}

// The closing line says how many rows were too large to compare live, so
// that "9 of 9 agreeing, 10 rows" does not leave a row unexplained.
func TestLiveShadowSummarySaysWhatWasNotCompared(t *testing.T) {
	big := `{"predictions":[` + strings.Repeat(`1.5,`, 25<<10) + `1.5]}`
	answer := func(body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Write([]byte(body))
		})
	}
	up := httptest.NewServer(answer(`{"predictions":[1.5]}`))
	defer up.Close()
	cand := httptest.NewServer(answer(big))
	defer cand.Close()
	target, _ := url.Parse(cand.URL)
	sh, err := shadow.New(shadow.Options{Target: target, Sample: 1, MaxHeld: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(up.URL)
	p, err := record.NewProxy(record.ProxyOptions{Upstream: u, MaxBody: 1 << 20, Sample: 1, Mirror: sh})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	res, err := http.Post(front.URL+"/p", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	front.Close()
	p.Close()
	if err := sh.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := spool.New(spool.Options{Dir: t.TempDir(), Instance: "t"}, shadow.ResultsCodec())
	if err != nil {
		t.Fatal(err)
	}
	rows.Close(context.Background())
	l := &liveShadow{sh: sh, rows: rows, out: "sh"}
	got, _ := l.summary()
	if want := "0 of 0 agreeing, 0 rows in sh (1 rows too large to compare live; the report compares them)"; !strings.HasSuffix(got, want) {
		t.Errorf("summary %q\nwant it to end %q", got, want)
	}
}

// cwdJoin is name under the working directory, as an absolute path.
func cwdJoin(t *testing.T, name string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, name)
}
