// Package demo holds the steps of the shadowctl demo and its end-to-end
// test: synthetic "production traffic" for the demo model server, the
// ground truth computed directly from the two models, and starting,
// stopping and echoing the processes of the flow. Only internal/cmd/demo
// and the tests use it; the pipeline packages never import it.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/shadowctl/shadowctl/internal/demomodel"
)

// TrafficOptions shape the synthetic traffic. Zero fields take the defaults
// noted beside them.
type TrafficOptions struct {
	// Model is the model name in request paths ("breast-cancer").
	Model string
	// Requests is the number of requests (1000).
	Requests int
	// Seed fixes which instances go into which request.
	Seed uint64
	// MaxBatch is the largest batch (8); batches hold 2..MaxBatch instances.
	MaxBatch int
	// BatchShare is the fraction of batch requests (0.3), V2Share the
	// fraction of Open Inference Protocol V2 requests (0.2); the rest are
	// single-instance KServe V1 requests.
	BatchShare, V2Share float64
}

func (o TrafficOptions) withDefaults() TrafficOptions {
	if o.Model == "" {
		o.Model = "breast-cancer"
	}
	if o.Requests <= 0 {
		o.Requests = 1000
	}
	if o.MaxBatch < 2 {
		o.MaxBatch = 8
	}
	if o.BatchShare == 0 {
		o.BatchShare = 0.3
	}
	if o.V2Share == 0 {
		o.V2Share = 0.2
	}
	return o
}

// Request is one planned inference request.
type Request struct {
	Method, Path string
	Body         []byte
	// Instances are the dataset rows the request carries, in order.
	Instances []int
	// ID is the request id in the body ("id", the key of the demo's
	// labels), Clinic the clinic the request came from ("clinic", the
	// demo's slice).
	ID, Clinic string
}

// Clinics are the values of the demo requests' "clinic" field.
var Clinics = []string{"north", "south", "east"}

// Plan draws the requests of a traffic run from d. The same options always
// give the same requests, so a run can be compared with ground truth.
func Plan(d *demomodel.Dataset, o TrafficOptions) ([]Request, error) {
	o = o.withDefaults()
	if d == nil || len(d.Features) == 0 {
		return nil, errors.New("plan traffic: empty dataset")
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	// The clinics come from a stream of their own, so that the instances
	// and protocols of a seed stay what they were before clinics.
	clinicRng := rand.New(rand.NewPCG(o.Seed, 0xc11c))
	reqs := make([]Request, o.Requests)
	for i := range reqs {
		n := 1
		if rng.Float64() < o.BatchShare {
			n = 2 + rng.IntN(o.MaxBatch-1)
		}
		rows := make([]int, n)
		inst := make([][]float64, n)
		for j := range rows {
			rows[j] = rng.IntN(len(d.Features))
			inst[j] = d.Features[rows[j]]
		}
		var (
			path string
			body any
		)
		id, clinic := fmt.Sprintf("req-%d", i), Clinics[clinicRng.IntN(len(Clinics))]
		if rng.Float64() < o.V2Share {
			path = "/v2/models/" + o.Model + "/infer"
			body = v2Body{ID: id, Clinic: clinic, Inputs: []v2Input{{
				Name: "input-0", Shape: []int{n, d.NumFeatures()}, Datatype: "FP64", Data: inst}}}
		} else {
			path = "/v1/models/" + o.Model + ":predict"
			body = v1Body{ID: id, Clinic: clinic, Instances: inst}
		}
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("plan traffic: request %d: %w", i, err)
		}
		reqs[i] = Request{Method: http.MethodPost, Path: path, Body: b, Instances: rows, ID: id, Clinic: clinic}
	}
	return reqs, nil
}

// The request bodies carry an id and a clinic beside the instances, as
// real traffic carries a request id and who sent it; the models ignore
// them.
type v1Body struct {
	ID        string      `json:"id,omitempty"`
	Clinic    string      `json:"clinic,omitempty"`
	Instances [][]float64 `json:"instances"`
}

type v2Body struct {
	ID     string    `json:"id,omitempty"`
	Clinic string    `json:"clinic,omitempty"`
	Inputs []v2Input `json:"inputs"`
}

type v2Input struct {
	Name     string `json:"name"`
	Shape    []int  `json:"shape"`
	Datatype string `json:"datatype"`
	Data     any    `json:"data"`
}

// SendStats counts the answers of a traffic run.
type SendStats struct {
	Sent     int
	ByStatus map[int]int
	// Failed counts requests that got no answer; FirstError is the first
	// such error.
	Failed     int
	FirstError error
}

// OK counts the 2xx answers.
func (s SendStats) OK() int {
	n := 0
	for code, c := range s.ByStatus {
		if code >= 200 && code <= 299 {
			n += c
		}
	}
	return n
}

// Send sends reqs to base (e.g. "http://127.0.0.1:8081") with at most
// concurrency requests in flight, and counts the answers. A failed request
// is counted, not fatal; Send stops early only when ctx is done.
func Send(ctx context.Context, client *http.Client, base string, reqs []Request, concurrency int) (SendStats, error) {
	concurrency = max(concurrency, 1)
	if client == nil {
		client = Client(concurrency)
		defer client.CloseIdleConnections()
	}
	st := SendStats{ByStatus: map[int]int{}}
	var mu sync.Mutex
	next := make(chan *Request)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range next {
				code, err := send(ctx, client, base, r)
				mu.Lock()
				st.Sent++
				if err != nil {
					st.Failed++
					if st.FirstError == nil {
						st.FirstError = err
					}
				} else {
					st.ByStatus[code]++
				}
				mu.Unlock()
			}
		}()
	}
	var err error
feed:
	for i := range reqs {
		select {
		case next <- &reqs[i]:
		case <-ctx.Done():
			err = fmt.Errorf("send traffic to %s: %w", base, ctx.Err())
			break feed
		}
	}
	close(next)
	wg.Wait()
	return st, err
}

// Client is an HTTP client that keeps up to concurrency idle connections
// per host, so a traffic run reuses its connections instead of churning
// through loopback ports.
func Client(concurrency int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(concurrency, 2)
	t.Proxy = nil // loopback only: never through an environment proxy
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

func send(ctx context.Context, client *http.Client, base string, r *Request) (int, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, base+r.Path, bytes.NewReader(r.Body))
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", r.Method, r.Path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", r.Method, r.Path, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, fmt.Errorf("%s %s: read answer: %w", r.Method, r.Path, err)
	}
	return resp.StatusCode, nil
}
