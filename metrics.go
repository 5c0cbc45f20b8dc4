package jawbone

import (
	"bytes"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/jawbone"
)

// metrics are this node's counters since the plugin started, kept by the
// Prometheus client library in a registry of the backend's own. They live
// in memory: a restart or plugin reload starts them at zero, and each node
// of a cluster counts only what it did itself.
type metrics struct {
	registry        *prometheus.Registry
	refreshes       *prometheus.CounterVec
	exchanges       *prometheus.CounterVec
	lastRefresh     prometheus.Gauge
	lastScan        prometheus.Gauge
	scanDuration    prometheus.Gauge
	creds           prometheus.Gauge
	needingReauth   prometheus.Gauge
	failing         prometheus.Gauge
	tokensFoundDead prometheus.Counter
}

// The result labels of jawbone_refresh_total and jawbone_exchange_total.
var (
	refreshResults  = []string{"success", "transient_failure", "permanent_failure", "client_rejected"}
	exchangeResults = []string{"success", "failure"}
)

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jawbone_refresh_total",
			Help: "Token refreshes by this node, by result (transient failures and client rejections are retried with backoff; permanent ones, after invalid_grant, mark the creds for re-authorization)."},
			[]string{"result"}),
		exchanges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jawbone_exchange_total",
			Help: "Authorization-code exchanges (exchange and callback) by this node, by result."}, []string{"result"}),
		lastRefresh: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jawbone_last_refresh_timestamp_seconds",
			Help: "Unix time of this node's last successful refresh (0: none yet)."}),
		lastScan: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jawbone_background_scan_timestamp_seconds",
			Help: "Unix time the last background scan finished (0: none yet)."}),
		scanDuration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jawbone_background_scan_duration_seconds",
			Help: "How long the last background scan took."}),
		creds: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jawbone_creds",
			Help: "Creds entries seen by the last background scan."}),
		needingReauth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jawbone_creds_needing_reauthorization",
			Help: "Creds that Jawbone rejected, as of the last background scan: run auth-url and exchange for each."}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jawbone_creds_failing",
			Help: "Creds whose last refresh or check failed and is being retried, as of the last background scan (last_error in each creds read says why)."}),
		tokensFoundDead: prometheus.NewCounter(prometheus.CounterOpts{Name: "jawbone_tokens_found_dead_total",
			Help: "Access tokens Jawbone no longer accepted though they had not expired (another client refreshed the grant), found by the liveness checks and refreshed."}),
	}
	// Every labelled series exists from the start, at zero, so that a
	// dashboard or an alert sees it before the first event.
	for _, r := range refreshResults {
		m.refreshes.WithLabelValues(r)
	}
	for _, r := range exchangeResults {
		m.exchanges.WithLabelValues(r)
	}
	m.registry.MustRegister(m.refreshes, m.exchanges, m.lastRefresh, m.lastScan, m.scanDuration,
		m.creds, m.needingReauth, m.failing, m.tokensFoundDead)
	return m
}

func (m *metrics) refreshed(now time.Time) {
	m.refreshes.WithLabelValues("success").Inc()
	m.lastRefresh.Set(float64(now.Unix()))
}

func (m *metrics) refreshFailed(kind jawbone.Kind) {
	switch kind {
	case jawbone.GrantRejected:
		m.refreshes.WithLabelValues("permanent_failure").Inc()
	case jawbone.ClientRejected:
		m.refreshes.WithLabelValues("client_rejected").Inc()
	default:
		m.refreshes.WithLabelValues("transient_failure").Inc()
	}
}

func (m *metrics) exchanged(err error) {
	if err != nil {
		m.exchanges.WithLabelValues("failure").Inc()
	} else {
		m.exchanges.WithLabelValues("success").Inc()
	}
}

func (m *metrics) scanned(at time.Time, took time.Duration, seen, needReauth, failing int) {
	m.lastScan.Set(float64(at.Unix()))
	m.scanDuration.Set(took.Seconds())
	m.creds.Set(float64(seen))
	m.needingReauth.Set(float64(needReauth))
	m.failing.Set(float64(failing))
}

func (m *metrics) foundDead() { m.tokensFoundDead.Inc() }

// prometheus renders the metrics in the Prometheus text format (0.0.4).
func (m *metrics) prometheus() ([]byte, error) {
	families, err := m.registry.Gather()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// jsonView is the status read's data: one key per series, the metric's
// name without "jawbone_", with the label's value appended.
func (m *metrics) jsonView() (map[string]any, error) {
	families, err := m.registry.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, f := range families {
		for _, series := range f.GetMetric() {
			out[jsonKey(f.GetName(), series)] = value(f.GetType(), series)
		}
	}
	return out, nil
}

func jsonKey(name string, series *dto.Metric) string {
	key := strings.TrimPrefix(name, "jawbone_")
	for _, l := range series.GetLabel() {
		key += "_" + l.GetValue()
	}
	return key
}

func value(kind dto.MetricType, series *dto.Metric) float64 {
	if kind == dto.MetricType_COUNTER {
		return series.GetCounter().GetValue()
	}
	return series.GetGauge().GetValue()
}
