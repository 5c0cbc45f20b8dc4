package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// TestStatusMetricsFollowTheFlow: jawbone/status counts what the engine did,
// read with a Vault token as JSON through the CLI and as Prometheus text over
// the HTTP API.
func TestStatusMetricsFollowTheFlow(t *testing.T) {
	v := StartVaultWithPlugin(t)
	f := StartFake(t)
	v.ConfigureFor(f)

	before := v.ReadJSON(mountPath + "/status").Data
	if before["exchange_total_success"] != float64(0) || before["refresh_total_success"] != float64(0) {
		t.Fatalf("a fresh engine reports activity: %v", before)
	}
	v.Authorize(f, "me")
	v.WriteJSON(mountPath + "/creds/me/refresh")
	v.CLI("write", mountPath+"/exchange", "code=x", "state=forged") // refused before Jawbone: not counted
	authURL, _ := v.AuthURL("name=second")
	landed := f.Visit(t, authURL)
	f.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 503, Times: 1})
	v.CLI("write", mountPath+"/exchange", "redirect_url="+landed).requireFail(t, "HTTP 503")

	after := v.ReadJSON(mountPath + "/status").Data
	for key, want := range map[string]float64{"exchange_total_success": 1, "exchange_total_failure": 1, "refresh_total_success": 1} {
		if after[key] != want {
			t.Errorf("status %s = %v after the flow, want %v", key, after[key], want)
		}
	}
	if ts, _ := after["last_refresh_timestamp_seconds"].(float64); ts == 0 {
		t.Error("last_refresh_timestamp_seconds not set after a refresh")
	}

	prom := apiOf(v).call(t, http.MethodGet, mountPath+"/status?format=prometheus", nil)
	body := prom.Body
	if prom.Status != 200 || !strings.HasPrefix(prom.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("prometheus status: %d %s\n%s", prom.Status, prom.Header.Get("Content-Type"), body)
	}
	for _, line := range []string{`jawbone_refresh_total{result="success"} 1`, `jawbone_exchange_total{result="failure"} 1`} {
		if !strings.Contains(string(body), line) {
			t.Errorf("prometheus output lacks %q:\n%s", line, body)
		}
	}

	// Without a token the status is not readable.
	anon := apiOf(v, withToken("")).call(t, http.MethodGet, mountPath+"/status", nil)
	if anon.Status != http.StatusForbidden {
		t.Errorf("status without a token: HTTP %d, want 403", anon.Status)
	}
}
