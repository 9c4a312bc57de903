package demomodel

import (
	"bytes"
	"math"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// trained trains each version once per test binary; training is the slow
// part of these tests, more so under -race.
var trained = sync.OnceValues(func() (map[string]*Model, error) {
	ms := map[string]*Model{}
	for _, v := range Versions {
		m, err := Train(v)
		if err != nil {
			return nil, err
		}
		ms[v] = m
	}
	return ms, nil
})

func model(t *testing.T, version string) *Model {
	t.Helper()
	ms, err := trained()
	if err != nil {
		t.Fatalf("train: %v", err)
	}
	return ms[version]
}

func dataset(t *testing.T) *Dataset {
	t.Helper()
	d, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return d
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *Dataset
		wantErr string
	}{
		{
			name: "two rows",
			in:   "2,3,no,yes\n1,2.5,-3,0\n4e1,5,6,1\n",
			want: &Dataset{
				Features: [][]float64{{1, 2.5, -3}, {40, 5, 6}},
				Labels:   []int{0, 1},
				Classes:  []string{"no", "yes"},
			},
		},
		{name: "empty", in: "", wantErr: "empty input"},
		{name: "one class", in: "1,1,only\n1,0\n", wantErr: "at least two class names"},
		{name: "bad row count", in: "x,1,a,b\n1,0\n", wantErr: `row count "x"`},
		{name: "bad feature count", in: "1,0,a,b\n1,0\n", wantErr: `feature count "0"`},
		{name: "short row", in: "1,2,a,b\n1,0\n", wantErr: "line 2: 2 fields, want 2 features and a class"},
		{name: "bad feature", in: "1,1,a,b\nabc,0\n", wantErr: "line 2 feature 0"},
		{name: "class out of range", in: "1,1,a,b\n1,2\n", wantErr: `line 2: class "2" is not an index into 2 classes`},
		{name: "too few rows", in: "3,1,a,b\n1,0\n", wantErr: "header says 3 rows, found 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEmbeddedDatasets(t *testing.T) {
	iris, err := LoadIris()
	if err != nil {
		t.Fatalf("LoadIris: %v", err)
	}
	tests := []struct {
		name       string
		d          *Dataset
		rows, nf   int
		classes    []string
		perClass   []int
		firstRow   []float64
		firstLabel int
	}{
		{
			name: "breast cancer", d: dataset(t), rows: 569, nf: 30,
			classes:  []string{"malignant", "benign"},
			perClass: []int{212, 357},
			firstRow: []float64{17.99, 10.38, 122.8, 1001, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871,
				1.095, 0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193,
				25.38, 17.33, 184.6, 2019, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189},
			firstLabel: 0,
		},
		{
			name: "iris", d: iris, rows: 150, nf: 4,
			classes:  []string{"setosa", "versicolor", "virginica"},
			perClass: []int{50, 50, 50},
			firstRow: []float64{5.1, 3.5, 1.4, 0.2}, firstLabel: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.d.Features) != tt.rows || len(tt.d.Labels) != tt.rows || tt.d.NumFeatures() != tt.nf {
				t.Fatalf("got %d rows, %d labels, %d features; want %d rows of %d features",
					len(tt.d.Features), len(tt.d.Labels), tt.d.NumFeatures(), tt.rows, tt.nf)
			}
			if !reflect.DeepEqual(tt.d.Classes, tt.classes) {
				t.Errorf("classes = %q, want %q", tt.d.Classes, tt.classes)
			}
			count := make([]int, len(tt.d.Classes))
			for _, y := range tt.d.Labels {
				count[y]++
			}
			if !reflect.DeepEqual(count, tt.perClass) {
				t.Errorf("rows per class = %v, want %v", count, tt.perClass)
			}
			if !reflect.DeepEqual(tt.d.Features[0], tt.firstRow) || tt.d.Labels[0] != tt.firstLabel {
				t.Errorf("first row = %v class %d, want %v class %d", tt.d.Features[0], tt.d.Labels[0], tt.firstRow, tt.firstLabel)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	got, err := LoadFile("data/breast_cancer.csv")
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	if !reflect.DeepEqual(got, dataset(t)) {
		t.Error("LoadFile of data/breast_cancer.csv differs from the embedded copy")
	}
	onDisk, err := os.ReadFile("data/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, breastCancerCSV) {
		t.Error("embedded breast_cancer.csv differs from the file")
	}

	_, err = LoadFile("no/such.csv")
	if err == nil || !strings.Contains(err.Error(), "no/such.csv") {
		t.Errorf("LoadFile(missing) error = %v, want it to name the path", err)
	}
}

// accuracy is the share of d's rows that m labels correctly.
func accuracy(t *testing.T, m *Model, d *Dataset) float64 {
	t.Helper()
	right := 0
	for i, x := range d.Features {
		label, _, err := m.Predict(x)
		if err != nil {
			t.Fatalf("Predict row %d: %v", i, err)
		}
		if label == d.Classes[d.Labels[i]] {
			right++
		}
	}
	return float64(right) / float64(len(d.Features))
}

func TestTrainAccuracy(t *testing.T) {
	iris, err := LoadIris()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		data    string
		d       *Dataset
		version string
		min     float64
	}{
		{"breast cancer", dataset(t), "v1", 0.97},
		{"breast cancer", dataset(t), "v2", 0.92},
		{"iris", iris, "v1", 0.9},
		{"iris", iris, "v2", 0.9},
	}
	for _, tt := range tests {
		t.Run(tt.data+"/"+tt.version, func(t *testing.T) {
			m, err := TrainOn(tt.d, tt.version)
			if err != nil {
				t.Fatalf("TrainOn: %v", err)
			}
			if m.Version() != tt.version || m.NumFeatures() != tt.d.NumFeatures() || !reflect.DeepEqual(m.Classes(), tt.d.Classes) {
				t.Errorf("model says version %q, %d features, classes %q", m.Version(), m.NumFeatures(), m.Classes())
			}
			acc := accuracy(t, m, tt.d)
			t.Logf("accuracy %.4f", acc)
			if acc < tt.min {
				t.Errorf("accuracy %.4f, want at least %.2f", acc, tt.min)
			}
		})
	}
}

// TestVersionsDisagreeALittle pins the property the demo exists for: v2 is
// a plausible successor of v1 that agrees on most instances but not all.
func TestVersionsDisagreeALittle(t *testing.T) {
	d := dataset(t)
	v1, v2 := model(t, "v1"), model(t, "v2")
	agree := 0
	for _, x := range d.Features {
		l1, _, err1 := v1.Predict(x)
		l2, _, err2 := v2.Predict(x)
		if err1 != nil || err2 != nil {
			t.Fatalf("Predict: %v, %v", err1, err2)
		}
		if l1 == l2 {
			agree++
		}
	}
	share := float64(agree) / float64(len(d.Features))
	t.Logf("v1 and v2 agree on %d of %d (%.4f)", agree, len(d.Features), share)
	if share < 0.90 || share > 0.97 {
		t.Errorf("agreement %.4f, want within [0.90, 0.97]", share)
	}
}

func TestTrainIsDeterministic(t *testing.T) {
	d := dataset(t)
	for _, v := range Versions {
		again, err := Train(v)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range d.Features {
			l1, p1, _ := model(t, v).Predict(x)
			l2, p2, _ := again.Predict(x)
			if l1 != l2 || !reflect.DeepEqual(p1, p2) {
				t.Fatalf("%s row %d: %s %v then %s %v", v, i, l1, p1, l2, p2)
			}
		}
	}
}

func TestPredict(t *testing.T) {
	d := dataset(t)
	tests := []struct {
		name      string
		version   string
		x         []float64
		wantLabel string
		wantErr   string
	}{
		// Row 0 is a large, irregular tumour; row 19 a typical benign one.
		{name: "malignant v1", version: "v1", x: d.Features[0], wantLabel: "malignant"},
		{name: "malignant v2", version: "v2", x: d.Features[0], wantLabel: "malignant"},
		{name: "benign v1", version: "v1", x: d.Features[19], wantLabel: "benign"},
		{name: "benign v2", version: "v2", x: d.Features[19], wantLabel: "benign"},
		{name: "too few", version: "v1", x: d.Features[0][:10], wantErr: "got 10 features, want 30"},
		{name: "none", version: "v2", x: nil, wantErr: "got 0 features, want 30"},
		{name: "NaN", version: "v1", x: append(append([]float64{}, d.Features[0][:29]...), math.NaN()), wantErr: "feature 29 is NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			label, probs, err := model(t, tt.version).Predict(tt.x)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Predict error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Predict: %v", err)
			}
			if label != tt.wantLabel {
				t.Errorf("label = %q (probs %v), want %q", label, probs, tt.wantLabel)
			}
			if len(probs) != 2 || math.Abs(probs[0]+probs[1]-1) > 1e-9 {
				t.Errorf("probs = %v, want two probabilities summing to 1", probs)
			}
		})
	}
}

func TestTrainErrors(t *testing.T) {
	tests := []struct {
		name    string
		d       *Dataset
		version string
		wantErr string
	}{
		{"unknown version", dataset(t), "v3", `unknown model version "v3"`},
		{"nil dataset", nil, "v1", "empty dataset"},
		{"no rows", &Dataset{Classes: []string{"a", "b"}}, "v1", "empty dataset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := TrainOn(tt.d, tt.version)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("TrainOn error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
