package demo

import (
	"encoding/json"
	"fmt"
	"os"
)

// ReportJSON holds the keys of `shadowctl report --format json` that the
// demo and the end-to-end test check. It is decoded from the documented
// keys, not from the report package's types, so the checks hold the JSON
// contract itself.
type ReportJSON struct {
	SchemaVersion int   `json:"schema_version"`
	Exchanges     int64 `json:"exchanges"`
	Agreement     struct {
		Rate      *float64 `json:"rate"`
		CI95Low   *float64 `json:"ci95_low"`
		CI95High  *float64 `json:"ci95_high"`
		Field     string   `json:"field"`
		Requests  Counts   `json:"requests"`
		Instances Counts   `json:"instances"`
		Labels    *struct {
			Classes   []string  `json:"classes"`
			Confusion [][]int64 `json:"confusion"`
			Kappa     *float64  `json:"kappa"`
		} `json:"labels"`
		Baseline *struct {
			Rate      *float64 `json:"rate"`
			Requests  Counts   `json:"requests"`
			Instances Counts   `json:"instances"`
		} `json:"baseline"`
	} `json:"agreement"`
	Latency struct {
		Recorded, Candidate, Baseline *LatencyJSON
	} `json:"latency_ms"`
	Errors struct {
		Recorded, Candidate, Baseline *struct {
			Count  int64            `json:"count"`
			Rate   *float64         `json:"rate"`
			ByKind map[string]int64 `json:"by_kind"`
		}
	} `json:"errors"`
	Accuracy *struct {
		Labeled                       int64 `json:"labeled"`
		Recorded, Candidate, Baseline *struct {
			Count   int64    `json:"count"`
			Correct int64    `json:"correct"`
			Rate    *float64 `json:"rate"`
		}
		Delta *struct {
			Rate *float64 `json:"rate"`
		} `json:"delta"`
		McNemar *struct {
			B      int64    `json:"b"`
			C      int64    `json:"c"`
			PValue *float64 `json:"p_value"`
		} `json:"mcnemar"`
	} `json:"accuracy"`
	Groups []struct {
		Key      string `json:"key"`
		Accuracy *struct {
			Recorded, Candidate *struct {
				Count   int64 `json:"count"`
				Correct int64 `json:"correct"`
			}
		} `json:"accuracy"`
	} `json:"groups"`
	Gates []struct {
		Expr   string   `json:"expr"`
		Value  *float64 `json:"value"`
		Passed bool     `json:"passed"`
	} `json:"gates"`
	Passed bool `json:"passed"`
}

// Counts are compared and agreeing units.
type Counts struct {
	Compared int64    `json:"compared"`
	Agreed   int64    `json:"agreed"`
	Rate     *float64 `json:"rate"`
}

// LatencyJSON is one side's latency summary, in milliseconds.
type LatencyJSON struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

// ParseReport decodes a JSON report.
// ReadReport reads and decodes the JSON report at path.
func ReadReport(path string) (*ReportJSON, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseReport(b)
}

func ParseReport(b []byte) (*ReportJSON, error) {
	var r ReportJSON
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode JSON report: %w", err)
	}
	return &r, nil
}

// Confusion returns the report's confusion matrix as counts by [recorded
// label, candidate label], or nil when the report has none.
func (r *ReportJSON) Confusion() map[[2]string]int64 {
	l := r.Agreement.Labels
	if l == nil {
		return nil
	}
	m := map[[2]string]int64{}
	for i, row := range l.Confusion {
		for j, n := range row {
			if n != 0 && i < len(l.Classes) && j < len(l.Classes) {
				m[[2]string{l.Classes[i], l.Classes[j]}] = n
			}
		}
	}
	return m
}
