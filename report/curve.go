// The latency percentile curve: each side's latency at quantiles spread
// evenly on a log(1/(1−q)) axis, as HdrHistogram plots them, so the tail can
// be seen where it starts.

package report

import "math"

// curveQuantiles are the quantiles of a LatencyCurve: 1 − q runs from 1
// down to 10^-4 in 40 equal steps of log10 (3 significant digits), from p0
// (the minimum) to p99.99.
var curveQuantiles = func() []float64 {
	const steps = 40
	out := make([]float64, 0, steps+1)
	for k := range steps + 1 {
		tail := math.Pow(10, -4*float64(k)/steps)
		// 3 significant digits of 1 − q, so the quantiles read well.
		e := math.Floor(math.Log10(tail))
		tail = math.Round(tail/math.Pow(10, e-2)) * math.Pow(10, e-2)
		out = append(out, math.Round((1-tail)*1e9)/1e9)
	}
	return out
}()

// LatencyCurve is each side's latency (ms) at every one of Quantiles: the
// data of a percentile plot. A side without latencies is null. Values come
// from the same estimators as the latency summaries (exact for small runs,
// within 0.1% beyond).
type LatencyCurve struct {
	Quantiles []float64 `json:"quantiles"`
	Recorded  []float64 `json:"recorded"`
	Candidate []float64 `json:"candidate"`
	Baseline  []float64 `json:"baseline"`
	// Delta is the paired candidate − baseline difference per request.
	Delta []float64 `json:"delta"`
}

func (c *core) curve() *LatencyCurve {
	at := func(h quantiles) []float64 {
		if h.Count() == 0 {
			return nil
		}
		out := make([]float64, len(curveQuantiles))
		for i, q := range curveQuantiles {
			out[i] = roundNs(h.Quantile(q)) / nsPerMs
		}
		return out
	}
	lc := &LatencyCurve{Quantiles: curveQuantiles, Recorded: at(c.latRec), Candidate: at(c.latCand),
		Baseline: at(c.latBase), Delta: at(c.delta)}
	if lc.Recorded == nil && lc.Candidate == nil && lc.Baseline == nil {
		return nil
	}
	return lc
}
