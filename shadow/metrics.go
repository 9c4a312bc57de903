package shadow

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowctl/shadowctl/replay"
)

// metrics are the live shadow's own instruments; Register adds them and the
// counters read at scrape time to a registry.
type metrics struct {
	inFlight prometheus.Gauge
	latency  prometheus.Histogram
	errors   *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shadowctl_shadow_in_flight", Help: "Copies sent to the shadow and not yet answered."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "shadowctl_shadow_latency_seconds",
			Help:    "Time from sending a copy to the shadow to the last byte of its answer.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowctl_shadow_errors_total", Help: "Shadow answers that were errors, by kind (replay's error kinds)."},
			[]string{"kind"}),
	}
}

func (m *metrics) observe(a replay.Answer) {
	m.latency.Observe(a.Latency.Seconds())
	if a.Kind != "" {
		m.errors.WithLabelValues(a.Kind).Inc()
	}
}

var (
	descMirrored = prometheus.NewDesc("shadowctl_shadow_mirrored_total",
		"Copies sent to the shadow and ended, one row each: the shadow answered or failed, and the primary's answer is in. With none pending, mirrored + dropped counts every sampled request.", nil, nil)
	descDropped = prometheus.NewDesc("shadowctl_shadow_dropped_total",
		"Copies not sent or not answered, by reason: queue_full, unheld (the request body was streamed), closed (stopping: not sent, or cut by --shadow-timeout), rate_limited (over --shadow-rate).", []string{"reason"}, nil)
	descWritten  = prometheus.NewDesc("shadowctl_shadow_rows_written_total", "Rows handed to the results files (taken into their queue; see rows_recorded and rows_dropped).", nil, nil)
	descRowsRec  = prometheus.NewDesc("shadowctl_shadow_rows_recorded_total", "Rows in finalized results files.", nil, nil)
	descRowsDrop = prometheus.NewDesc("shadowctl_shadow_rows_dropped_total",
		"Rows lost before a results file, by reason: queue_full (the files' queue was full), write_error, closed.", []string{"reason"}, nil)
	descCompared = prometheus.NewDesc("shadowctl_shadow_compared_total",
		"Requests whose primary and shadow answers were compared (live agreement's denominator).", nil, nil)
	descAgreed = prometheus.NewDesc("shadowctl_shadow_agreed_total",
		"Compared requests whose answers agreed, by the report's comparator.", nil, nil)
	descSkipped = prometheus.NewDesc("shadowctl_shadow_compare_skipped_total",
		"Rows written but not compared live: decoding their answers would take the memory held past its bound (the report compares them).", nil, nil)
)

// Register adds the shadow's metrics to reg.
func (s *Shadow) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{s.m.inFlight, s.m.latency, s.m.errors, collector{s}} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// collector reads the counters and the live comparison at scrape time.
type collector struct{ s *Shadow }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMirrored, descDropped, descWritten, descCompared, descAgreed, descSkipped} {
		ch <- d
	}
	if _, ok := c.s.opts.Rows.(RowCounter); ok {
		ch <- descRowsRec
		ch <- descRowsDrop
	}
}

// RowCounter is a RowSink that counts what became of the rows it took
// (a results spool): the metrics then show it.
type RowCounter interface {
	RowSink
	// RowCounts returns the rows in finished files and those lost, by
	// reason (every reason present).
	RowCounts() (recorded int64, dropped map[string]int64)
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(descMirrored, prometheus.CounterValue, float64(st.Mirrored))
	for _, r := range DropReasons {
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.Dropped[r]), r)
	}
	ch <- prometheus.MustNewConstMetric(descWritten, prometheus.CounterValue, float64(st.Written))
	ch <- prometheus.MustNewConstMetric(descCompared, prometheus.CounterValue, float64(st.Compared))
	ch <- prometheus.MustNewConstMetric(descAgreed, prometheus.CounterValue, float64(st.Agreed))
	ch <- prometheus.MustNewConstMetric(descSkipped, prometheus.CounterValue, float64(st.Skipped))
	if rc, ok := c.s.opts.Rows.(RowCounter); ok {
		rec, dropped := rc.RowCounts()
		ch <- prometheus.MustNewConstMetric(descRowsRec, prometheus.CounterValue, float64(rec))
		for r, n := range dropped {
			ch <- prometheus.MustNewConstMetric(descRowsDrop, prometheus.CounterValue, float64(n), r)
		}
	}
}
