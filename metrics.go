package jawbone

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/jawbone"
)

// metrics are this node's counters since the plugin started. They live in
// memory: a restart or plugin reload starts them at zero, and each node of a
// cluster counts only what it did itself.
type metrics struct {
	refreshSuccess     atomic.Uint64
	refreshTransient   atomic.Uint64
	refreshPermanent   atomic.Uint64
	refreshClient      atomic.Uint64
	exchangeSuccess    atomic.Uint64
	exchangeFailure    atomic.Uint64
	lastRefreshUnix    atomic.Int64
	lastScanUnix       atomic.Int64
	lastScanDuration   atomic.Int64 // nanoseconds
	credsSeenInScan    atomic.Int64
	credsNeedingReauth atomic.Int64
	credsFailing       atomic.Int64
	tokensFoundDead    atomic.Uint64
}

func (m *metrics) refreshed(now time.Time) {
	m.refreshSuccess.Add(1)
	m.lastRefreshUnix.Store(now.Unix())
}

func (m *metrics) refreshFailed(kind jawbone.Kind) {
	switch kind {
	case jawbone.GrantRejected:
		m.refreshPermanent.Add(1)
	case jawbone.ClientRejected:
		m.refreshClient.Add(1)
	default:
		m.refreshTransient.Add(1)
	}
}

func (m *metrics) exchanged(err error) {
	if err != nil {
		m.exchangeFailure.Add(1)
	} else {
		m.exchangeSuccess.Add(1)
	}
}

func (m *metrics) scanned(at time.Time, took time.Duration, seen, needReauth, failing int) {
	m.lastScanUnix.Store(at.Unix())
	m.lastScanDuration.Store(int64(took))
	m.credsSeenInScan.Store(int64(seen))
	m.credsNeedingReauth.Store(int64(needReauth))
	m.credsFailing.Store(int64(failing))
}

func (m *metrics) foundDead() { m.tokensFoundDead.Add(1) }

// metric is one documented value, shared by the JSON and Prometheus views.
type metric struct {
	name, help, kind string
	labels           string // Prometheus labels, e.g. `result="success"`
	value            float64
}

func (m *metrics) list() []metric {
	const refreshHelp = "Token refreshes by this node, by result (transient failures and client rejections are retried with backoff; permanent ones mark the creds for re-authorization)."
	const exchangeHelp = "Authorization-code exchanges (exchange and callback) by this node, by result."
	return []metric{
		{"jawbone_refresh_total", refreshHelp, "counter", `result="success"`, float64(m.refreshSuccess.Load())},
		{"jawbone_refresh_total", refreshHelp, "counter", `result="transient_failure"`, float64(m.refreshTransient.Load())},
		{"jawbone_refresh_total", refreshHelp, "counter", `result="permanent_failure"`, float64(m.refreshPermanent.Load())},
		{"jawbone_refresh_total", refreshHelp, "counter", `result="client_rejected"`, float64(m.refreshClient.Load())},
		{"jawbone_exchange_total", exchangeHelp, "counter", `result="success"`, float64(m.exchangeSuccess.Load())},
		{"jawbone_exchange_total", exchangeHelp, "counter", `result="failure"`, float64(m.exchangeFailure.Load())},
		{"jawbone_last_refresh_timestamp_seconds", "Unix time of this node's last successful refresh (0: none yet).", "gauge", "", float64(m.lastRefreshUnix.Load())},
		{"jawbone_background_scan_timestamp_seconds", "Unix time the last background scan finished (0: none yet).", "gauge", "", float64(m.lastScanUnix.Load())},
		{"jawbone_background_scan_duration_seconds", "How long the last background scan took.", "gauge", "", time.Duration(m.lastScanDuration.Load()).Seconds()},
		{"jawbone_creds", "Creds entries seen by the last background scan.", "gauge", "", float64(m.credsSeenInScan.Load())},
		{"jawbone_creds_needing_reauthorization", "Creds that Jawbone rejected, as of the last background scan: run auth-url and exchange for each.", "gauge", "", float64(m.credsNeedingReauth.Load())},
		{"jawbone_creds_failing", "Creds whose last refresh or check failed and is being retried, as of the last background scan (last_error in each creds read says why).", "gauge", "", float64(m.credsFailing.Load())},
		{"jawbone_tokens_found_dead_total", "Access tokens Jawbone no longer accepted though they had not expired (another client refreshed the grant), found by the liveness checks and refreshed.", "counter", "", float64(m.tokensFoundDead.Load())},
	}
}

// prometheus renders the metrics in the Prometheus text format (0.0.4).
func (m *metrics) prometheus() string {
	var b strings.Builder
	described := map[string]bool{}
	for _, mt := range m.list() {
		if !described[mt.name] {
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", mt.name, mt.help, mt.name, mt.kind)
			described[mt.name] = true
		}
		name := mt.name
		if mt.labels != "" {
			name += "{" + mt.labels + "}"
		}
		fmt.Fprintf(&b, "%s %g\n", name, mt.value)
	}
	return b.String()
}

// jsonView is the status read's data: one key per metric and label.
func (m *metrics) jsonView() map[string]any {
	out := map[string]any{}
	for _, mt := range m.list() {
		key := strings.TrimPrefix(mt.name, "jawbone_")
		if mt.labels != "" {
			key += "_" + strings.Trim(strings.SplitN(mt.labels, "=", 2)[1], `"`)
		}
		out[key] = mt.value
	}
	return out
}
