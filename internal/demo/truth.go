package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/shadowctl/shadowctl/internal/demomodel"
)

// Instances decodes the instances of a KServe V1 predict body
// ({"instances": [[...], ...]}) or an Open Inference Protocol V2 infer body
// (one input tensor of shape [N, F], data flat or nested), telling the two
// apart by path.
func Instances(path string, body []byte) ([][]float64, error) {
	switch {
	case strings.HasSuffix(path, ":predict"):
		var b v1Body
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, fmt.Errorf("decode V1 request to %s: %w", path, err)
		}
		return b.Instances, nil
	case strings.HasSuffix(path, "/infer"):
		var b struct {
			Inputs []struct {
				Shape []int           `json:"shape"`
				Data  json.RawMessage `json:"data"`
			} `json:"inputs"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, fmt.Errorf("decode V2 request to %s: %w", path, err)
		}
		if len(b.Inputs) != 1 || len(b.Inputs[0].Shape) != 2 {
			return nil, fmt.Errorf("decode V2 request to %s: want one input of shape [N F]", path)
		}
		in := b.Inputs[0]
		var rows [][]float64
		if err := json.Unmarshal(in.Data, &rows); err != nil {
			rows = nil // Unmarshal may have filled some before failing
			var flat []float64
			if err := json.Unmarshal(in.Data, &flat); err != nil {
				return nil, fmt.Errorf("decode V2 request to %s: data: %w", path, err)
			}
			n, f := in.Shape[0], in.Shape[1]
			if n*f != len(flat) {
				return nil, fmt.Errorf("decode V2 request to %s: %d values for shape %v", path, len(flat), in.Shape)
			}
			for i := range n {
				rows = append(rows, flat[i*f:(i+1)*f])
			}
		}
		return rows, nil
	}
	return nil, fmt.Errorf("decode request to %s: not an inference path", path)
}

// Observed is one request as the candidate saw it: what it asked and
// whether the candidate answered it.
type Observed struct {
	Path string
	Body []byte
	// Failed is true when the candidate answered with an error, which
	// report counts as a disagreement on every instance of the request.
	Failed bool
}

// Truth is what the two models give on a set of requests, computed
// directly from the models: the figures a shadow-test report of the same
// requests must show.
type Truth struct {
	Requests, Instances int
	// Agreed counts the instances both models label alike, whether or not
	// the candidate failed the request; it is the models' own agreement.
	Agreed int
	// FailedRequests are the requests the candidate failed, holding
	// FailedInstances instances of which FailedAgreed would have agreed.
	FailedRequests, FailedInstances, FailedAgreed int
	// RequestsAgreed counts answered requests whose every instance agrees.
	RequestsAgreed int
	// Confusion counts the answered instances by [baseline label,
	// candidate label].
	Confusion map[[2]string]int64
}

// ReportAgreed is the instance agreement a report must show: failed
// requests count as disagreements.
func (t Truth) ReportAgreed() int { return t.Agreed - t.FailedAgreed }

// Compare computes the truth of base (the recorded model) against cand on
// the observed requests.
func Compare(base, cand *demomodel.Model, obs []Observed) (Truth, error) {
	t := Truth{Confusion: map[[2]string]int64{}}
	for _, o := range obs {
		inst, err := Instances(o.Path, o.Body)
		if err != nil {
			return Truth{}, err
		}
		t.Requests++
		agreed := 0
		for _, x := range inst {
			a, _, err := base.Predict(x)
			if err != nil {
				return Truth{}, fmt.Errorf("ground truth: model %s: %w", base.Version(), err)
			}
			b, _, err := cand.Predict(x)
			if err != nil {
				return Truth{}, fmt.Errorf("ground truth: model %s: %w", cand.Version(), err)
			}
			if a == b {
				agreed++
			}
			if !o.Failed {
				t.Confusion[[2]string{a, b}]++
			}
		}
		t.Instances += len(inst)
		t.Agreed += agreed
		switch {
		case o.Failed:
			t.FailedRequests++
			t.FailedInstances += len(inst)
			t.FailedAgreed += agreed
		case agreed == len(inst):
			t.RequestsAgreed++
		}
	}
	return t, nil
}

// Sent turns planned requests into observations with no failures.
func Sent(reqs []Request) []Observed {
	obs := make([]Observed, len(reqs))
	for i, r := range reqs {
		obs[i] = Observed{Path: r.Path, Body: r.Body}
	}
	return obs
}

// FailedDraws is how many of n inference requests a demomodel server run
// with this fail rate and seed fails. The handler draws one number per
// inference request from its own seeded stream, so the count depends only
// on n, not on which requests they are or how they interleave. It is
// computed by asking a real handler (without latency) n times.
func FailedDraws(m *demomodel.Model, name string, n int, failRate float64, seed uint64) (int, error) {
	h, err := demomodel.NewHandler(demomodel.Options{Name: name, Model: m, FailRate: failRate, Seed: seed})
	if err != nil {
		return 0, err
	}
	body, err := json.Marshal(v1Body{Instances: [][]float64{make([]float64, m.NumFeatures())}})
	if err != nil {
		return 0, err
	}
	failed := 0
	for range n {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/models/"+name+":predict", bytes.NewReader(body)))
		switch w.Code {
		case http.StatusOK:
		case http.StatusInternalServerError:
			failed++
		default:
			return 0, fmt.Errorf("count injected failures: status %d: %s", w.Code, w.Body)
		}
	}
	return failed, nil
}
