package jawbone

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

func TestStatusCountsWhatHappens(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	zero := e.mustOK(logical.ReadOperation, "status", nil).Data
	if zero["refresh_total_success"] != float64(0) || zero["exchange_total_success"] != float64(0) {
		t.Fatalf("fresh status %v", zero)
	}
	e.authorize("me")
	e.authorize("other")
	e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyCode: "c", keyState: "forged"}, 400) // not counted: never reached Jawbone
	auth := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: "third"})
	landed := e.visit(auth.Data[keyURL].(string))
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 503, Body: `{"error":"temporarily_unavailable"}`, Times: 1})
	e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed}, 502)
	e.mustOK(logical.UpdateOperation, "creds/me/refresh", nil)
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 503, Body: `{"error":"temporarily_unavailable"}`, Times: 1})
	e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, 502)
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_grant"}`, Times: 1})
	e.mustFail(logical.UpdateOperation, "creds/other/refresh", nil, 400)
	e.clock.Advance(time.Hour)
	if err := e.b.periodic(context.Background(), &logical.Request{Storage: e.storage}); err != nil {
		t.Fatal(err)
	}

	got := e.mustOK(logical.ReadOperation, "status", nil).Data
	want := map[string]float64{
		"exchange_total_success": 2, "exchange_total_failure": 1,
		"refresh_total_success": 1, "refresh_total_transient_failure": 1, "refresh_total_permanent_failure": 1,
		"last_refresh_timestamp_seconds": float64(e.clock.Now().Add(-time.Hour).Unix()),
		"creds":                          2, "creds_needing_reauthorization": 1,
		"background_scan_timestamp_seconds": float64(e.clock.Now().Unix()),
		"cache_budget_bytes":                defaultCacheBytes,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestStatusPrometheusFormat(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	resp := e.mustOK(logical.ReadOperation, "status", map[string]any{keyFormat: "prometheus"})
	if resp.Data[logical.HTTPContentType] != "text/plain; version=0.0.4; charset=utf-8" || resp.Data[logical.HTTPStatusCode] != 200 {
		t.Fatalf("raw response metadata %v", resp.Data)
	}
	body := string(resp.Data[logical.HTTPRawBody].([]byte))
	for _, line := range []string{
		"# TYPE jawbone_refresh_total counter",
		`jawbone_exchange_total{result="success"} 1`,
		`jawbone_refresh_total{result="permanent_failure"} 0`,
		"# HELP jawbone_creds_needing_reauthorization ",
	} {
		if !strings.Contains(body, line) {
			t.Errorf("prometheus output lacks %q:\n%s", line, body)
		}
	}
	if strings.Count(body, "# TYPE jawbone_refresh_total") != 1 {
		t.Error("a metric family is described twice")
	}
	e.mustFail(logical.ReadOperation, "status", map[string]any{keyFormat: "xml"}, 400, "format")
}

// The Prometheus output is what Prometheus's own parser reads, with every
// metric of the JSON view and the same values.
func TestStatusPrometheusParsesAsPrometheusText(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	e.mustOK(logical.UpdateOperation, "creds/me/refresh", nil)
	body := e.mustOK(logical.ReadOperation, "status", map[string]any{keyFormat: "prometheus"}).Data[logical.HTTPRawBody].([]byte)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("Prometheus's parser refuses the output: %v\n%s", err, body)
	}
	asJSON := e.mustOK(logical.ReadOperation, "status", nil).Data
	seen := 0
	for name, f := range families {
		for _, series := range f.GetMetric() {
			key := jsonKey(name, series)
			if got, want := value(f.GetType(), series), asJSON[key]; got != want {
				t.Errorf("%s: Prometheus says %v, JSON %v", key, got, want)
			}
			seen++
		}
	}
	if seen != len(asJSON) || families["jawbone_refresh_total"].GetMetric()[0].GetCounter() == nil {
		t.Fatalf("Prometheus has %d series, JSON %d keys", seen, len(asJSON))
	}
	if v := asJSON["refresh_total_success"]; v != float64(1) {
		t.Fatalf("refresh_total_success %v, want 1", v)
	}
}
