package record

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the recorder's Prometheus metrics, on a registry of their own
// (never the global one, so tests and embedders can hold several).
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  prometheus.Histogram
	// byCode caches the requests counter of each status code, so the hot
	// path neither formats the code nor hashes labels.
	byCode [600]atomic.Pointer[prometheus.Counter]
}

// NewMetrics registers the proxy's metrics and the Go runtime and process
// collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowctl_record_requests_total",
			Help: "Requests proxied, by the status code the client got (499: the client went away first).",
		}, []string{"code"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "shadowctl_record_upstream_latency_seconds",
			Help:    "Time from sending a request upstream to the last byte of its response.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
	}
	m.reg.MustRegister(m.requests, m.latency,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the metrics live.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// WatchSink exposes s's counters: exchanges recorded, dropped by reason,
// bytes and files written, queue depth.
func (m *Metrics) WatchSink(s *Sink) {
	m.reg.MustRegister(sinkCollector{s})
}

// watchBudget exposes the bodies the memory budget refused to keep.
func (m *Metrics) watchBudget(b *budget) {
	if m == nil {
		return
	}
	_ = m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "shadowctl_record_bodies_unkept_total",
		Help: "Bodies streamed through without being kept for the recording, because bodies in flight held --body-memory already.",
	}, func() float64 { return float64(b.refused.Load()) }))
}

// observe counts one finished request; a nil m counts nothing.
func (m *Metrics) observe(code int, latency time.Duration, answered bool) {
	if m == nil {
		return
	}
	if code >= 0 && code < len(m.byCode) {
		c := m.byCode[code].Load()
		if c == nil {
			cc := m.requests.WithLabelValues(strconv.Itoa(code))
			m.byCode[code].CompareAndSwap(nil, &cc)
			c = &cc
		}
		(*c).Inc()
	} else {
		m.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	}
	if answered {
		m.latency.Observe(latency.Seconds())
	}
}

var (
	descRecorded = prometheus.NewDesc("shadowctl_record_exchanges_recorded_total",
		"Exchanges written to finalized recording files.", nil, nil)
	descDropped = prometheus.NewDesc("shadowctl_record_exchanges_dropped_total",
		"Exchanges not recorded, by reason: queue_full, write_error, closed.", []string{"reason"}, nil)
	descBytes = prometheus.NewDesc("shadowctl_record_bytes_written_total",
		"Bytes of finalized recording files.", nil, nil)
	descFiles = prometheus.NewDesc("shadowctl_record_files_written_total",
		"Recording files finalized.", nil, nil)
	descQueue = prometheus.NewDesc("shadowctl_record_queue_depth",
		"Exchanges waiting for the writer.", nil, nil)
	descPending = prometheus.NewDesc("shadowctl_record_pending_exchanges",
		"Exchanges in the file being written, not yet finalized.", nil, nil)
)

// sinkCollector reads the sink's atomic counters at scrape time.
type sinkCollector struct{ s *Sink }

func (c sinkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecorded, descDropped, descBytes, descFiles, descQueue, descPending} {
		ch <- d
	}
}

func (c sinkCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(descRecorded, prometheus.CounterValue, float64(st.Recorded))
	for _, r := range DropReasons {
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.Dropped[r]), r)
	}
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(st.BytesWritten))
	ch <- prometheus.MustNewConstMetric(descFiles, prometheus.CounterValue, float64(st.FilesWritten))
	ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(st.QueueDepth))
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(st.Pending))
}

// AdminHandler serves /healthz (the process answers), /readyz (200 once
// ready reports true: listening and the sink running; 503 before and while
// stopping) and /metrics.
func AdminHandler(m *Metrics, ready func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ready == nil || !ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	return mux
}
