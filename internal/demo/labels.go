package demo

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"

	"github.com/shadowctl/shadowctl/internal/demomodel"
)

// LabelFlags are the report flags that judge the demo against its labels
// (written by WriteLabels to path) and slice it by clinic.
func LabelFlags(path string) []string {
	return []string{"--labels", path, "--label-key", "request:$.id", "--by", "request:$.clinic", "--positive-class", "malignant"}
}

// WriteLabels writes the dataset's true diagnoses of the planned requests
// as a CSV label file: key the request id, label the class of a
// single-instance request or a JSON array of the classes of a batch, as a
// clinic would send them after the fact.
func WriteLabels(path string, d *demomodel.Dataset, reqs []Request) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write labels: %w", err)
	}
	bw := bufio.NewWriter(f)
	w := csv.NewWriter(bw)
	_ = w.Write([]string{"key", "label"})
	for _, r := range reqs {
		label := d.Classes[d.Labels[r.Instances[0]]]
		if len(r.Instances) > 1 {
			names := make([]string, len(r.Instances))
			for i, row := range r.Instances {
				names[i] = d.Classes[d.Labels[row]]
			}
			b, _ := json.Marshal(names)
			label = string(b)
		}
		_ = w.Write([]string{r.ID, label})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("write labels: %w", err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write labels: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write labels: %w", err)
	}
	return nil
}

// Score is how often a model is right on a set of requests, in all and by
// clinic.
type Score struct {
	Instances, Correct int
	ByClinic           map[string][2]int // clinic → {correct, instances}
}

// ScoreModel scores m on the true labels of the planned requests. A
// request in failed (by id) counts as wrong on every instance: the report
// counts a failed answer so.
func ScoreModel(m *demomodel.Model, d *demomodel.Dataset, reqs []Request, failed map[string]bool) (Score, error) {
	s := Score{ByClinic: map[string][2]int{}}
	for _, r := range reqs {
		c := s.ByClinic[r.Clinic]
		for _, row := range r.Instances {
			got, _, err := m.Predict(d.Features[row])
			if err != nil {
				return Score{}, fmt.Errorf("score model %s: %w", m.Version(), err)
			}
			right := !failed[r.ID] && got == d.Classes[d.Labels[row]]
			s.Instances++
			c[1]++
			if right {
				s.Correct++
				c[0]++
			}
		}
		s.ByClinic[r.Clinic] = c
	}
	return s, nil
}

// FailedIDs are the ids of the observed requests the candidate failed.
func FailedIDs(obs []Observed) map[string]bool {
	out := map[string]bool{}
	for _, o := range obs {
		if !o.Failed {
			continue
		}
		var b struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(o.Body, &b) == nil {
			out[b.ID] = true
		}
	}
	return out
}
