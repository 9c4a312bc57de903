package demo

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/shadowctl/shadowctl/internal/demomodel"
)

func TestPlan(t *testing.T) {
	d, err := demomodel.Load()
	if err != nil {
		t.Fatal(err)
	}
	opts := TrafficOptions{Requests: 500, Seed: 9}
	a, err := Plan(d, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Plan(d, opts)
	c, _ := Plan(d, TrafficOptions{Requests: 500, Seed: 10})
	same := func(x, y []Request) bool {
		return slices.EqualFunc(x, y, func(p, q Request) bool { return p.Path == q.Path && bytes.Equal(p.Body, q.Body) })
	}
	if !same(a, b) {
		t.Error("the same seed gave different traffic")
	}
	if same(a, c) {
		t.Error("another seed gave the same traffic")
	}
	var single, batch, v2 int
	for i, r := range a {
		inst, err := Instances(r.Path, r.Body)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		// The body carries exactly the planned rows, at full precision.
		if len(inst) != len(r.Instances) {
			t.Fatalf("request %d: %d instances in the body, planned %d", i, len(inst), len(r.Instances))
		}
		for j, row := range r.Instances {
			if !slices.Equal(inst[j], d.Features[row]) {
				t.Fatalf("request %d instance %d: %v, want row %d %v", i, j, inst[j], row, d.Features[row])
			}
		}
		switch {
		case strings.HasSuffix(r.Path, "/infer"):
			v2++
		case len(inst) == 1:
			single++
		default:
			batch++
		}
	}
	// Defaults: 30% batches, 20% V2; every kind well represented.
	for name, n := range map[string]int{"single V1": single, "batch V1": batch, "V2": v2} {
		if n < 50 {
			t.Errorf("%d %s requests of 500, want a real share", n, name)
		}
	}
}

func TestInstancesV2Flat(t *testing.T) {
	body := []byte(`{"inputs":[{"name":"x","shape":[2,3],"datatype":"FP64","data":[1,2,3,4,5,6]}]}`)
	got, err := Instances("/v2/models/m/infer", body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !slices.Equal(got[0], []float64{1, 2, 3}) || !slices.Equal(got[1], []float64{4, 5, 6}) {
		t.Errorf("flat V2 data: %v", got)
	}
	for _, c := range []struct{ path, body string }{
		{"/v2/models/m/infer", `{"inputs":[{"shape":[2,3],"data":[1,2,3,4,5]}]}`},
		{"/v1/models/m:predict", `{"instances":`},
		{"/healthz", `{}`},
	} {
		if _, err := Instances(c.path, []byte(c.body)); err == nil {
			t.Errorf("Instances(%s, %s): no error", c.path, c.body)
		}
	}
}

func TestCompare(t *testing.T) {
	d, err := demomodel.Load()
	if err != nil {
		t.Fatal(err)
	}
	v1, err := demomodel.TrainOn(d, "v1")
	if err != nil {
		t.Fatal(err)
	}
	v2, err := demomodel.TrainOn(d, "v2")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Plan(d, TrafficOptions{Requests: 200, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	obs := Sent(plan)
	self, err := Compare(v1, v1, obs)
	if err != nil {
		t.Fatal(err)
	}
	if self.Agreed != self.Instances || self.RequestsAgreed != 200 {
		t.Errorf("v1 against itself: %d of %d instances, %d of 200 requests", self.Agreed, self.Instances, self.RequestsAgreed)
	}
	// Fail the first request: its instances leave the confusion matrix and
	// count as disagreements.
	obs[0].Failed = true
	tr, err := Compare(v1, v2, obs)
	if err != nil {
		t.Fatal(err)
	}
	var inConf int64
	for _, n := range tr.Confusion {
		inConf += n
	}
	if tr.FailedRequests != 1 || tr.FailedInstances != len(plan[0].Instances) || inConf != int64(tr.Instances-tr.FailedInstances) {
		t.Errorf("one failed request: %+v, %d instances in the confusion matrix", tr, inConf)
	}
	if tr.Agreed >= tr.Instances || tr.Agreed < tr.Instances*9/10 {
		t.Errorf("v1 and v2 agree on %d of %d instances, want most but not all", tr.Agreed, tr.Instances)
	}
}

func TestFailedDraws(t *testing.T) {
	m, err := demomodel.Train("v1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rate     float64
		min, max int
	}{{0, 0, 0}, {1, 300, 300}, {0.1, 10, 60}} {
		n, err := FailedDraws(m, "m", 300, c.rate, 1)
		if err != nil {
			t.Fatal(err)
		}
		if n < c.min || n > c.max {
			t.Errorf("fail rate %v: %d of 300 failed, want %d..%d", c.rate, n, c.min, c.max)
		}
		if again, _ := FailedDraws(m, "m", 300, c.rate, 1); again != n {
			t.Errorf("fail rate %v: %d then %d failures with one seed", c.rate, n, again)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bin/shadowctl", "replay", "--target", "http://127.0.0.1:80"}, "bin/shadowctl replay --target http://127.0.0.1:80"},
		{[]string{"report", "--fail-on", "agreement.rate < 0.99"}, "report --fail-on 'agreement.rate < 0.99'"},
		{[]string{"it's", ""}, `'it'\''s' ''`},
	} {
		if got := ShellQuote(c.args); got != c.want {
			t.Errorf("ShellQuote(%q) = %s, want %s", c.args, got, c.want)
		}
	}
}

func TestWatcher(t *testing.T) {
	var log bytes.Buffer
	w := newWatcher(&log, regexp.MustCompile(`^listening on (http://\S+)$`))
	// The ready line arrives split over writes, with a CR.
	for _, s := range []string{"starting\nlisten", "ing on http://127.0.0.1:5\r\n", "listening on http://127.0.0.1:6\n", "tail"} {
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case url := <-w.found:
		if url != "http://127.0.0.1:5" {
			t.Errorf("found %q", url)
		}
	default:
		t.Fatal("ready line not found")
	}
	if len(w.found) != 0 {
		t.Error("a second ready line was reported")
	}
	if got := w.lines(); !slices.Equal(got, []string{"starting", "listening on http://127.0.0.1:5", "listening on http://127.0.0.1:6", "tail"}) {
		t.Errorf("lines %q", got)
	}
	if log.String() != "starting\nlistening on http://127.0.0.1:5\r\nlistening on http://127.0.0.1:6\ntail" {
		t.Errorf("log %q", log.String())
	}
}
