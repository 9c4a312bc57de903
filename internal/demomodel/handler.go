package demomodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxBodyBytes bounds a request body; a batch of a thousand 30-feature
// instances is well under 1 MiB.
const maxBodyBytes = 8 << 20

// Options configures a Handler.
type Options struct {
	// Name is the model name in request paths, e.g. "breast-cancer".
	Name string
	// Version is the version reported by V2 responses; empty means the
	// model's own version.
	Version string
	// Model answers the predictions.
	Model *Model
	// Latency is added to every inference request, so that shadow tests
	// have latency to compare. Jitter, if positive, adds a further uniform
	// random delay in [0, Jitter).
	Latency, Jitter time.Duration
	// FailRate is the probability in [0, 1] that an inference request fails
	// with HTTP 500, to exercise error accounting.
	FailRate float64
	// Seed seeds the random draws for FailRate and Jitter, so that a run
	// with a fixed seed fails the same number of requests.
	Seed uint64
}

// Handler serves one model over the KServe V1 and Open Inference Protocol
// V2 REST APIs. It is safe for concurrent use.
type Handler struct {
	opts Options
	mux  *http.ServeMux

	mu sync.Mutex
	// fail and jitter are separate streams, so the number of failures for a
	// seed does not depend on how concurrent requests interleave.
	fail, jitter *rand.Rand
}

// NewHandler returns a Handler serving opts.Model under opts.Name.
func NewHandler(opts Options) (*Handler, error) {
	switch {
	case opts.Model == nil:
		return nil, errors.New("demo model handler: no model")
	case opts.Name == "" || strings.ContainsAny(opts.Name, "/:"):
		return nil, fmt.Errorf("demo model handler: model name %q must be non-empty without '/' or ':'", opts.Name)
	case !(opts.FailRate >= 0 && opts.FailRate <= 1):
		return nil, fmt.Errorf("demo model handler: fail rate %v outside [0, 1]", opts.FailRate)
	case opts.Latency < 0 || opts.Jitter < 0:
		return nil, fmt.Errorf("demo model handler: negative latency %v or jitter %v", opts.Latency, opts.Jitter)
	}
	if opts.Version == "" {
		opts.Version = opts.Model.Version()
	}
	h := &Handler{
		opts:   opts,
		mux:    http.NewServeMux(),
		fail:   rand.New(rand.NewPCG(opts.Seed, 1)),
		jitter: rand.New(rand.NewPCG(opts.Seed, 2)),
	}
	// Patterns carry no method so that a wrong method gets a JSON 405
	// rather than the mux's plain-text one.
	h.mux.HandleFunc("/v1/models/{spec}", h.v1Model)
	h.mux.HandleFunc("/v2", h.v2Server)
	h.mux.HandleFunc("/v2/health/live", h.v2Health("live"))
	h.mux.HandleFunc("/v2/health/ready", h.v2Health("ready"))
	for _, prefix := range []string{"/v2/models/{name}", "/v2/models/{name}/versions/{version}"} {
		h.mux.HandleFunc(prefix, h.v2Metadata)
		h.mux.HandleFunc(prefix+"/ready", h.v2Ready)
		h.mux.HandleFunc(prefix+"/infer", h.v2Infer)
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	})
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// v1Model serves GET /v1/models/<name> (readiness) and
// POST /v1/models/<name>:predict.
func (h *Handler) v1Model(w http.ResponseWriter, r *http.Request) {
	name, verb, hasVerb := strings.Cut(r.PathValue("spec"), ":")
	if !h.knownModel(w, name, "") {
		return
	}
	switch {
	case !hasVerb:
		if allowMethod(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]any{"name": h.opts.Name, "ready": true})
		}
	case verb == "predict":
		if allowMethod(w, r, http.MethodPost) {
			h.v1Predict(w, r)
		}
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown verb %q, want predict", verb))
	}
}

type v1Request struct {
	Instances []json.RawMessage `json:"instances"`
}

type v1Response struct {
	Predictions []string `json:"predictions"`
}

func (h *Handler) v1Predict(w http.ResponseWriter, r *http.Request) {
	if !h.inject(w, r) {
		return
	}
	var req v1Request
	if err := decodeBody(w, r, &req); err != nil {
		writeDecodeError(w, err)
		return
	}
	if len(req.Instances) == 0 {
		writeError(w, http.StatusBadRequest, `"instances" is missing or empty`)
		return
	}
	rows := make([][]float64, len(req.Instances))
	for i, raw := range req.Instances {
		if err := json.Unmarshal(raw, &rows[i]); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("instance %d: want an array of %d numbers: %v", i, h.opts.Model.NumFeatures(), err))
			return
		}
	}
	labels, err := h.predict(rows)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v1Response{Predictions: labels})
}

// v2Server serves GET /v2 (server metadata).
func (h *Handler) v2Server(w http.ResponseWriter, r *http.Request) {
	if allowMethod(w, r, http.MethodGet) {
		writeJSON(w, http.StatusOK, map[string]any{"name": "shadowctl-demomodel", "version": "1", "extensions": []string{}})
	}
}

// v2Health serves GET /v2/health/{live,ready}: the server is ready as soon
// as it listens, because models are trained before that.
func (h *Handler) v2Health(what string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if allowMethod(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]bool{what: true})
		}
	}
}

type tensorMetadata struct {
	Name     string `json:"name"`
	Datatype string `json:"datatype"`
	Shape    []int  `json:"shape"`
}

// v2Metadata serves GET /v2/models/<name>[/versions/<v>].
func (h *Handler) v2Metadata(w http.ResponseWriter, r *http.Request) {
	if !h.knownModel(w, r.PathValue("name"), r.PathValue("version")) || !allowMethod(w, r, http.MethodGet) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name":     h.opts.Name,
		"versions": []string{h.opts.Version},
		"platform": "go",
		"inputs":   []tensorMetadata{{Name: "input-0", Datatype: "FP32", Shape: []int{-1, h.opts.Model.NumFeatures()}}},
		"outputs":  []tensorMetadata{{Name: "label", Datatype: "BYTES", Shape: []int{-1}}},
	})
}

// v2Ready serves GET /v2/models/<name>[/versions/<v>]/ready.
func (h *Handler) v2Ready(w http.ResponseWriter, r *http.Request) {
	if h.knownModel(w, r.PathValue("name"), r.PathValue("version")) && allowMethod(w, r, http.MethodGet) {
		writeJSON(w, http.StatusOK, map[string]any{"name": h.opts.Name, "ready": true})
	}
}

type v2Request struct {
	ID     string    `json:"id"`
	Inputs []v2Input `json:"inputs"`
}

type v2Input struct {
	Name     string          `json:"name"`
	Shape    []int           `json:"shape"`
	Datatype string          `json:"datatype"`
	Data     json.RawMessage `json:"data"`
}

type v2Output struct {
	Name     string   `json:"name"`
	Shape    []int    `json:"shape"`
	Datatype string   `json:"datatype"`
	Data     []string `json:"data"`
}

type v2Response struct {
	ModelName    string     `json:"model_name"`
	ModelVersion string     `json:"model_version"`
	ID           string     `json:"id,omitempty"`
	Outputs      []v2Output `json:"outputs"`
}

// v2Infer serves POST /v2/models/<name>[/versions/<v>]/infer. It takes one
// input tensor of shape [N, features] (or [features] for one instance),
// its data flat or nested in row-major order, and returns one BYTES output
// "label" of shape [N]. Values are used at float64 precision whatever the
// declared datatype, so results match Model.Predict exactly.
func (h *Handler) v2Infer(w http.ResponseWriter, r *http.Request) {
	if !h.knownModel(w, r.PathValue("name"), r.PathValue("version")) || !allowMethod(w, r, http.MethodPost) {
		return
	}
	if !h.inject(w, r) {
		return
	}
	var req v2Request
	if err := decodeBody(w, r, &req); err != nil {
		writeDecodeError(w, err)
		return
	}
	rows, err := h.v2Rows(req.Inputs)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	labels, err := h.predict(rows)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v2Response{
		ModelName:    h.opts.Name,
		ModelVersion: h.opts.Version,
		ID:           req.ID,
		Outputs:      []v2Output{{Name: "label", Shape: []int{len(labels)}, Datatype: "BYTES", Data: labels}},
	})
}

// v2Rows checks the input tensor and splits its data into instances.
func (h *Handler) v2Rows(inputs []v2Input) ([][]float64, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("got %d input tensors, want 1", len(inputs))
	}
	in := inputs[0]
	if in.Datatype != "FP32" && in.Datatype != "FP64" {
		return nil, fmt.Errorf("input %q: datatype %q, want FP32 or FP64", in.Name, in.Datatype)
	}
	nf := h.opts.Model.NumFeatures()
	n := 0
	switch {
	case len(in.Shape) == 2 && in.Shape[0] > 0 && in.Shape[1] == nf:
		n = in.Shape[0]
	case len(in.Shape) == 1 && in.Shape[0] == nf:
		n = 1
	default:
		return nil, fmt.Errorf("input %q: shape %v, want [N %d] with N > 0", in.Name, in.Shape, nf)
	}
	var data any
	if err := json.Unmarshal(in.Data, &data); err != nil {
		return nil, fmt.Errorf("input %q: data: %w", in.Name, err)
	}
	flat := make([]float64, 0, n*nf)
	flat, err := flatten(flat, data)
	if err != nil {
		return nil, fmt.Errorf("input %q: data: %w", in.Name, err)
	}
	if len(flat) != n*nf {
		return nil, fmt.Errorf("input %q: %d values, shape %v wants %d", in.Name, len(flat), in.Shape, n*nf)
	}
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = flat[i*nf : (i+1)*nf]
	}
	return rows, nil
}

// flatten appends the numbers of v, an array nested to any depth, in
// row-major order.
func flatten(dst []float64, v any) ([]float64, error) {
	switch v := v.(type) {
	case float64:
		return append(dst, v), nil
	case []any:
		var err error
		for _, e := range v {
			if dst, err = flatten(dst, e); err != nil {
				return nil, err
			}
		}
		return dst, nil
	default:
		return nil, fmt.Errorf("want numbers in (nested) arrays, got %T", v)
	}
}

// predict labels each row, naming the first bad instance.
func (h *Handler) predict(rows [][]float64) ([]string, error) {
	labels := make([]string, len(rows))
	for i, x := range rows {
		label, _, err := h.opts.Model.Predict(x)
		if err != nil {
			return nil, fmt.Errorf("instance %d: %w", i, err)
		}
		labels[i] = label
	}
	return labels, nil
}

// knownModel reports whether name (and version, when the path has one)
// names this model, writing a 404 when not.
func (h *Handler) knownModel(w http.ResponseWriter, name, version string) bool {
	if name != h.opts.Name {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model %q not found", name))
		return false
	}
	if version != "" && version != h.opts.Version {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model %q has no version %q", name, version))
		return false
	}
	return true
}

// inject applies the configured latency and failure rate to an inference
// request. It returns false when the request has been answered with the
// injected failure, or its client has gone.
func (h *Handler) inject(w http.ResponseWriter, r *http.Request) bool {
	h.mu.Lock()
	fail := h.opts.FailRate > 0 && h.fail.Float64() < h.opts.FailRate
	delay := h.opts.Latency
	if h.opts.Jitter > 0 {
		delay += time.Duration(h.jitter.Int64N(int64(h.opts.Jitter)))
	}
	h.mu.Unlock()

	if err := sleep(r.Context(), delay); err != nil {
		return false // nobody is listening for an answer
	}
	if fail {
		writeError(w, http.StatusInternalServerError, "injected failure")
		return false
	}
	return true
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// allowMethod reports whether r uses method, writing a 405 when not.
func allowMethod(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed, want %s", r.Method, method))
	return false
}

// decodeBody decodes exactly one JSON value from the request body.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode request body: %w", err)
	}
	if dec.More() {
		return errors.New("decode request body: data after the JSON value")
	}
	return nil
}

func writeDecodeError(w http.ResponseWriter, err error) {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		writeError(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	writeError(w, http.StatusBadRequest, err.Error())
}

// writeError writes the {"error": msg} body that KServe and the V2
// protocol both use.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The status line is sent; a failed write means the client has gone,
	// and there is nobody left to tell.
	_ = json.NewEncoder(w).Encode(v)
}
