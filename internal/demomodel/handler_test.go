package demomodel

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func newServer(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	if opts.Model == nil {
		opts.Model = model(t, "v1")
	}
	if opts.Name == "" {
		opts.Name = "breast-cancer"
	}
	h, err := NewHandler(opts)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// do sends one request and returns the status and body; a transport
// error is reported as status 0. It uses t.Errorf, not t.Fatalf, so that
// worker goroutines may call it.
func do(t *testing.T, client *http.Client, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return 0, ""
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("%s %s: read body: %v", method, url, err)
		return 0, ""
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, url, ct)
	}
	return resp.StatusCode, string(b)
}

// jsonEqual reports whether two JSON documents hold the same value.
func jsonEqual(t *testing.T, got, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want JSON: %v: %s", err, want)
	}
	return reflect.DeepEqual(g, w)
}

func row(t *testing.T, i int) string {
	t.Helper()
	b, err := json.Marshal(dataset(t).Features[i])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandlerRoutes(t *testing.T) {
	// Rows 0 and 19 are malignant and benign for both versions.
	r0, r19 := row(t, 0), row(t, 19)
	flat := strings.Trim(r0, "[]") + "," + strings.Trim(r19, "[]")
	srv := newServer(t, Options{Version: "v1"})

	tests := []struct {
		name         string
		method, path string
		body         string
		wantStatus   int
		// want is the exact JSON body, or for errors a substring of it.
		want string
	}{
		// KServe V1.
		{"v1 ready", "GET", "/v1/models/breast-cancer", "", 200, `{"name":"breast-cancer","ready":true}`},
		{"v1 single", "POST", "/v1/models/breast-cancer:predict", `{"instances":[` + r0 + `]}`, 200, `{"predictions":["malignant"]}`},
		{"v1 batch", "POST", "/v1/models/breast-cancer:predict", `{"instances":[` + r0 + `,` + r19 + `,` + r0 + `]}`, 200, `{"predictions":["malignant","benign","malignant"]}`},
		{"v1 bad JSON", "POST", "/v1/models/breast-cancer:predict", `{"instances":[`, 400, "decode request body"},
		{"v1 trailing data", "POST", "/v1/models/breast-cancer:predict", `{"instances":[` + r0 + `]} {}`, 400, "data after the JSON value"},
		{"v1 no instances", "POST", "/v1/models/breast-cancer:predict", `{}`, 400, `\"instances\" is missing or empty`},
		{"v1 few features", "POST", "/v1/models/breast-cancer:predict", `{"instances":[` + r0 + `,[1,2,3]]}`, 400, "instance 1: got 3 features, want 30"},
		{"v1 scalar instance", "POST", "/v1/models/breast-cancer:predict", `{"instances":[1,2]}`, 400, "instance 0: want an array of 30 numbers"},
		{"v1 unknown model", "POST", "/v1/models/iris:predict", `{"instances":[` + r0 + `]}`, 404, `model \"iris\" not found`},
		{"v1 unknown model ready", "GET", "/v1/models/iris", "", 404, `model \"iris\" not found`},
		{"v1 unknown verb", "POST", "/v1/models/breast-cancer:explain", `{}`, 404, `unknown verb \"explain\"`},
		{"v1 predict by GET", "GET", "/v1/models/breast-cancer:predict", "", 405, "method GET not allowed, want POST"},

		// Open Inference Protocol V2.
		{"v2 live", "GET", "/v2/health/live", "", 200, `{"live":true}`},
		{"v2 ready", "GET", "/v2/health/ready", "", 200, `{"ready":true}`},
		{"v2 model ready", "GET", "/v2/models/breast-cancer/ready", "", 200, `{"name":"breast-cancer","ready":true}`},
		{"v2 version ready", "GET", "/v2/models/breast-cancer/versions/v1/ready", "", 200, `{"name":"breast-cancer","ready":true}`},
		{"v2 metadata", "GET", "/v2/models/breast-cancer", "", 200,
			`{"name":"breast-cancer","versions":["v1"],"platform":"go",
			  "inputs":[{"name":"input-0","datatype":"FP32","shape":[-1,30]}],
			  "outputs":[{"name":"label","datatype":"BYTES","shape":[-1]}]}`},
		{"v2 nested batch with id", "POST", "/v2/models/breast-cancer/infer",
			`{"id":"req-7","inputs":[{"name":"input-0","shape":[2,30],"datatype":"FP32","data":[` + r0 + `,` + r19 + `]}]}`, 200,
			`{"model_name":"breast-cancer","model_version":"v1","id":"req-7",
			  "outputs":[{"name":"label","shape":[2],"datatype":"BYTES","data":["malignant","benign"]}]}`},
		{"v2 flat batch", "POST", "/v2/models/breast-cancer/infer",
			`{"inputs":[{"name":"input-0","shape":[2,30],"datatype":"FP64","data":[` + flat + `]}]}`, 200,
			`{"model_name":"breast-cancer","model_version":"v1",
			  "outputs":[{"name":"label","shape":[2],"datatype":"BYTES","data":["malignant","benign"]}]}`},
		{"v2 single by version", "POST", "/v2/models/breast-cancer/versions/v1/infer",
			`{"inputs":[{"name":"x","shape":[30],"datatype":"FP32","data":` + r19 + `}]}`, 200,
			`{"model_name":"breast-cancer","model_version":"v1",
			  "outputs":[{"name":"label","shape":[1],"datatype":"BYTES","data":["benign"]}]}`},
		{"v2 bad JSON", "POST", "/v2/models/breast-cancer/infer", `not json`, 400, "decode request body"},
		{"v2 wrong shape", "POST", "/v2/models/breast-cancer/infer",
			`{"inputs":[{"name":"input-0","shape":[1,29],"datatype":"FP32","data":[1]}]}`, 400, "shape [1 29], want [N 30]"},
		{"v2 data short of shape", "POST", "/v2/models/breast-cancer/infer",
			`{"inputs":[{"name":"input-0","shape":[2,30],"datatype":"FP32","data":` + r0 + `}]}`, 400, "30 values, shape [2 30] wants 60"},
		{"v2 strings as data", "POST", "/v2/models/breast-cancer/infer",
			`{"inputs":[{"name":"input-0","shape":[1,30],"datatype":"FP32","data":["a"]}]}`, 400, "want numbers in (nested) arrays, got string"},
		{"v2 datatype", "POST", "/v2/models/breast-cancer/infer",
			`{"inputs":[{"name":"input-0","shape":[1,30],"datatype":"BYTES","data":` + r0 + `}]}`, 400, `datatype \"BYTES\", want FP32 or FP64`},
		{"v2 two inputs", "POST", "/v2/models/breast-cancer/infer", `{"inputs":[{},{}]}`, 400, "got 2 input tensors, want 1"},
		{"v2 unknown model", "POST", "/v2/models/iris/infer", `{}`, 404, `model \"iris\" not found`},
		{"v2 unknown model ready", "GET", "/v2/models/iris/ready", "", 404, `model \"iris\" not found`},
		{"v2 unknown version", "POST", "/v2/models/breast-cancer/versions/v9/infer", `{}`, 404, `has no version \"v9\"`},
		{"v2 infer by GET", "GET", "/v2/models/breast-cancer/infer", "", 405, "method GET not allowed, want POST"},
		{"unknown path", "GET", "/metrics", "", 404, "no route for GET /metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := do(t, srv.Client(), tt.method, srv.URL+tt.path, tt.body)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", status, tt.wantStatus, body)
			}
			if status == http.StatusOK {
				if !jsonEqual(t, body, tt.want) {
					t.Errorf("body %s, want %s", body, tt.want)
				}
				return
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
				t.Fatalf("error body %s is not {\"error\": ...}", body)
			}
			if !strings.Contains(body, tt.want) {
				t.Errorf("error body %s, want it to contain %s", body, tt.want)
			}
		})
	}
}

// TestHandlerServesModel checks that both protocols answer what the model
// predicts, over the whole dataset in one batch.
func TestHandlerServesModel(t *testing.T) {
	d := dataset(t)
	for _, version := range Versions {
		t.Run(version, func(t *testing.T) {
			m := model(t, version)
			want := make([]string, len(d.Features))
			for i, x := range d.Features {
				want[i], _, _ = m.Predict(x)
			}
			srv := newServer(t, Options{Model: m})
			rows, err := json.Marshal(d.Features)
			if err != nil {
				t.Fatal(err)
			}

			status, body := do(t, srv.Client(), "POST", srv.URL+"/v1/models/breast-cancer:predict", `{"instances":`+string(rows)+`}`)
			var v1 v1Response
			if err := json.Unmarshal([]byte(body), &v1); status != 200 || err != nil {
				t.Fatalf("V1: status %d, %v: %.200s", status, err, body)
			}
			if !reflect.DeepEqual(v1.Predictions, want) {
				t.Errorf("V1 predictions differ from Model.Predict")
			}

			req := fmt.Sprintf(`{"inputs":[{"name":"input-0","shape":[%d,30],"datatype":"FP32","data":%s}]}`, len(d.Features), rows)
			status, body = do(t, srv.Client(), "POST", srv.URL+"/v2/models/breast-cancer/infer", req)
			var v2 v2Response
			if err := json.Unmarshal([]byte(body), &v2); status != 200 || err != nil || len(v2.Outputs) != 1 {
				t.Fatalf("V2: status %d, %v: %.200s", status, err, body)
			}
			if v2.ModelVersion != version || !reflect.DeepEqual(v2.Outputs[0].Data, want) {
				t.Errorf("V2 version %q, labels equal to Model.Predict: %v", v2.ModelVersion, reflect.DeepEqual(v2.Outputs[0].Data, want))
			}
		})
	}
}

func TestNewHandlerErrors(t *testing.T) {
	m := model(t, "v1")
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"no model", Options{Name: "m"}, "no model"},
		{"no name", Options{Model: m}, `model name ""`},
		{"slash in name", Options{Name: "a/b", Model: m}, `model name "a/b"`},
		{"fail rate above 1", Options{Name: "m", Model: m, FailRate: 1.5}, "fail rate 1.5 outside [0, 1]"},
		{"negative fail rate", Options{Name: "m", Model: m, FailRate: -0.1}, "fail rate -0.1 outside [0, 1]"},
		{"negative latency", Options{Name: "m", Model: m, Latency: -time.Second}, "negative latency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewHandler(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewHandler error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// countFailures sends n V1 requests with the given concurrency and counts
// the 500s; every other answer must be a correct prediction.
func countFailures(t *testing.T, srv *httptest.Server, n, workers int) int {
	t.Helper()
	body := `{"instances":[` + row(t, 0) + `]}`
	jobs := make(chan int)
	var (
		mu       sync.Mutex
		failures int
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range jobs {
				status, got := do(t, srv.Client(), "POST", srv.URL+"/v1/models/breast-cancer:predict", body)
				switch {
				case status == 500 && strings.Contains(got, "injected failure"):
					mu.Lock()
					failures++
					mu.Unlock()
				case status != 200 || !strings.Contains(got, `"malignant"`):
					t.Errorf("status %d body %s", status, got)
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return failures
}

func TestFailRate(t *testing.T) {
	const n = 400
	tests := []struct {
		name     string
		rate     float64
		seed     uint64
		min, max int
	}{
		{"never", 0, 1, 0, 0},
		{"always", 1, 1, n, n},
		{"a quarter", 0.25, 1, 80, 120},
		{"a quarter, other seed", 0.25, 2, 80, 120},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{FailRate: tt.rate, Seed: tt.seed}
			sequential := countFailures(t, newServer(t, opts), n, 1)
			if sequential < tt.min || sequential > tt.max {
				t.Errorf("%d of %d failed, want within [%d, %d]", sequential, n, tt.min, tt.max)
			}
			// The failure stream is drawn once per request, so the same seed
			// fails the same number of requests however they interleave.
			concurrent := countFailures(t, newServer(t, opts), n, 16)
			if concurrent != sequential {
				t.Errorf("seed %d: %d failures concurrently, %d sequentially", tt.seed, concurrent, sequential)
			}
		})
	}
}

func TestReadinessNeverFails(t *testing.T) {
	srv := newServer(t, Options{FailRate: 1, Latency: time.Hour})
	for _, path := range []string{"/v1/models/breast-cancer", "/v2/health/ready", "/v2/models/breast-cancer/ready"} {
		if status, body := do(t, srv.Client(), "GET", srv.URL+path, ""); status != 200 {
			t.Errorf("GET %s: status %d body %s, want 200 despite fail rate 1 and an hour of latency", path, status, body)
		}
	}
}

func TestLatency(t *testing.T) {
	const latency, jitter = 30 * time.Millisecond, 20 * time.Millisecond
	srv := newServer(t, Options{Latency: latency, Jitter: jitter})
	body := `{"instances":[` + row(t, 0) + `]}`
	for range 3 {
		start := time.Now()
		status, got := do(t, srv.Client(), "POST", srv.URL+"/v1/models/breast-cancer:predict", body)
		if took := time.Since(start); took < latency {
			t.Errorf("answered in %v, want at least the injected %v", took, latency)
		}
		if status != 200 || !jsonEqual(t, got, `{"predictions":["malignant"]}`) {
			t.Errorf("status %d body %s", status, got)
		}
	}
}

// TestLatencyStopsWhenClientGoes checks that a handler waiting out its
// latency returns, without answering, once the request is cancelled.
func TestLatencyStopsWhenClientGoes(t *testing.T) {
	h, err := NewHandler(Options{Name: "breast-cancer", Model: model(t, "v1"), Latency: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, "POST", "/v1/models/breast-cancer:predict", strings.NewReader(`{"instances":[`+row(t, 0)+`]}`))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req) // returns at once, or the test times out
	if rec.Body.Len() != 0 {
		t.Errorf("answered a gone client: %d %s", rec.Code, rec.Body)
	}
}

// TestConcurrentMixedRequests runs both protocols and both versions at
// once; under -race it checks the handler is safe for concurrent use.
func TestConcurrentMixedRequests(t *testing.T) {
	d := dataset(t)
	srv := newServer(t, Options{Jitter: time.Millisecond, FailRate: 0.1, Seed: 3})
	m := model(t, "v1")
	rows := make([]string, len(d.Features))
	wants := make([]string, len(d.Features))
	for i, x := range d.Features {
		rows[i] = row(t, i)
		wants[i], _, _ = m.Predict(x)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(rows); i += 8 {
				want := wants[i]
				var status int
				var body string
				if i%2 == 0 {
					status, body = do(t, srv.Client(), "POST", srv.URL+"/v1/models/breast-cancer:predict", `{"instances":[`+rows[i]+`]}`)
				} else {
					status, body = do(t, srv.Client(), "POST", srv.URL+"/v2/models/breast-cancer/infer",
						`{"inputs":[{"name":"input-0","shape":[1,30],"datatype":"FP32","data":[`+rows[i]+`]}]}`)
				}
				if status == 500 {
					continue
				}
				if status != 200 || !strings.Contains(body, `"`+want+`"`) {
					t.Errorf("row %d: status %d body %s, want %s", i, status, body, want)
				}
			}
		})
	}
	wg.Wait()
}
