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
// Prometheus client library in a registry of the backend's own, and the
// figures of the creds on the mount, read from the grant registry's
// in-memory index when status is read (kept with every write, never by a
// scan). The counters live in memory: a restart or plugin reload starts
// them at zero, and each node of a cluster counts only what it did itself.
type metrics struct {
	registry        *prometheus.Registry
	refreshes       *prometheus.CounterVec
	exchanges       *prometheus.CounterVec
	lastRefresh     prometheus.Gauge
	lastTick        prometheus.Gauge
	tickDuration    prometheus.Gauge
	tickAttended    prometheus.Gauge
	tickChecked     prometheus.Gauge
	tokensFoundDead prometheus.Counter
}

// The result labels of jawbone_refresh_total and jawbone_exchange_total.
var (
	refreshResults  = []string{"success", "transient_failure", "permanent_failure", "client_rejected"}
	exchangeResults = []string{"success", "failure"}
)

func newMetrics(reg *registry, now func() time.Time) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jawbone_refresh_total",
			Help: "Token refreshes by this node, by result (transient failures and client rejections are retried with backoff; permanent ones, after invalid_grant, mark the creds for re-authorization)."},
			[]string{"result"}),
		exchanges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jawbone_exchange_total",
			Help: "Authorization-code exchanges (exchange and callback) by this node, by result."}, []string{"result"}),
		lastRefresh: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jawbone_last_refresh_timestamp_seconds",
			Help: "Unix time of this node's last successful refresh (0: none yet)."}),
		lastTick: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jawbone_background_scan_timestamp_seconds",
			Help: "Unix time the last background tick finished (0: none yet)."}),
		tickDuration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jawbone_background_scan_duration_seconds",
			Help: "How long the last background tick took."}),
		tickAttended: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jawbone_background_tick_attended",
			Help: "Creds the last background tick refreshed or settled: those due, at most 500."}),
		tickChecked: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jawbone_background_tick_checked",
			Help: "Liveness checks the last background tick made: those due, at most max_checks_per_minute."}),
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
	m.registry.MustRegister(m.refreshes, m.exchanges, m.lastRefresh, m.lastTick, m.tickDuration,
		m.tickAttended, m.tickChecked, m.tokensFoundDead)
	m.registry.MustRegister(registryMetrics(reg, now)...)
	return m
}

// registryMetrics are the figures of the creds on the mount, read from the
// grant registry when status is read.
func registryMetrics(reg *registry, now func() time.Time) []prometheus.Collector {
	counts := func(f func(indexCounts) int) func() float64 {
		return func() float64 { c, _ := reg.mem.snapshot(); return float64(f(c)) }
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	return []prometheus.Collector{
		gauge("jawbone_creds", "Creds on the mount (partial while jawbone_creds_schedule_loaded is 0).",
			counts(func(c indexCounts) int { return c.creds })),
		gauge("jawbone_creds_needing_reauthorization", "Creds that Jawbone rejected: run auth-url and exchange for each.",
			counts(func(c indexCounts) int { return c.needReauth })),
		gauge("jawbone_creds_failing", "Creds whose last refresh or check failed and is being retried (last_error in each creds read says why).",
			counts(func(c indexCounts) int { return c.failing })),
		gauge("jawbone_creds_in_doubt", "Creds with a refresh whose outcome is not known yet, which Jawbone may still carry out.",
			counts(func(c indexCounts) int { return c.inDoubt })),
		gauge("jawbone_creds_schedule_loaded", "1 once this node has loaded every creds into its schedule after a start (the background then visits only what is due); 0 while it loads.",
			func() float64 { return boolMetric(reg.load.done.Load()) }),
		gauge("jawbone_creds_schedule_load_remaining", "Creds still to load into the schedule after a start.",
			func() float64 { return float64(max(reg.load.listed.Load()-reg.load.loaded.Load(), 0)) }),
		gauge("jawbone_liveness_longest_wait_seconds", "How long ago Jawbone last accepted the token of the healthy creds checked longest ago (a check is due every check_interval, as far as max_checks_per_minute allows).",
			func() float64 {
				_, oldest := reg.mem.snapshot()
				if oldest.IsZero() {
					return 0
				}
				return max(now().Sub(oldest).Seconds(), 0)
			}),
		gauge("jawbone_creds_sharing_a_grant", "Creds found holding a grant that other creds hold too (stored by an older version or by hand): delete one of each pair.",
			func() float64 { return float64(reg.load.duplicates.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jawbone_index_entries_repaired_total",
			Help: "Index entries the background repair wrote or dropped: drift after a crash between two writes, or an older version's writes."},
			func() float64 { return float64(reg.repairAt.fixed.Load()) }),
		gauge("jawbone_cache_entries", "Config and creds entries in this node's cache.",
			func() float64 { n, _ := reg.cache.size(); return float64(n) }),
		gauge("jawbone_cache_bytes", "What the cached entries count against the cache's budget (the mount option cache_size).",
			func() float64 { _, b := reg.cache.size(); return float64(b) }),
		gauge("jawbone_cache_budget_bytes", "The cache's budget in force on this node: the mount option cache_size as the plugin last started with it (a tune takes effect at the next plugin reload).",
			func() float64 { return float64(reg.cache.budget) }),
	}
}

func boolMetric(b bool) float64 {
	if b {
		return 1
	}
	return 0
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

func (m *metrics) ticked(at time.Time, took time.Duration, attended, checked int) {
	m.lastTick.Set(float64(at.Unix()))
	m.tickDuration.Set(took.Seconds())
	m.tickAttended.Set(float64(attended))
	m.tickChecked.Set(float64(checked))
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
