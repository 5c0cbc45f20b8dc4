package e2e

import (
	"strings"
	"testing"
)

// TestPathHelp: `vault path-help` explains each path of the engine, each with
// its own text.
func TestPathHelp(t *testing.T) {
	v := StartVaultWithPlugin(t)
	cases := []struct {
		path  string
		wants []string // all must appear (case-insensitive)
	}{
		{"config", []string{"client_secret", "redirect_uri", "refresh_ahead", "kiefer"}},
		{"auth-url", []string{"state", "url", "exchange"}},
		{"exchange", []string{"redirect_url", "code", "state"}},
		{"creds/me", []string{"access_token", "expires_in", "ttl", "refresh_token"}},
		{"creds/me/refresh", []string{"refresh", "access token"}},
		{"creds/", []string{"list", "names"}},
		{"callback", []string{"code", "state", "browser"}},
		{"status", []string{"prometheus", "refresh_total", "creds_needing_reauthorization"}},
	}
	seen := map[string]string{}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			v := v.For(t)
			res := v.CLI("path-help", mountPath+"/"+c.path)
			res.requireOK(t)
			out := strings.TrimSpace(res.Stdout)
			if len(out) < 80 {
				t.Fatalf("path-help %s printed almost nothing:\n%s", c.path, res)
			}
			lower := strings.ToLower(out)
			for _, w := range c.wants {
				if !strings.Contains(lower, strings.ToLower(w)) {
					t.Errorf("path-help jawbone/%s does not mention %q:\n%s", c.path, w, out)
				}
			}
			for other, text := range seen {
				if text == out {
					t.Errorf("path-help jawbone/%s prints the same text as jawbone/%s", c.path, other)
				}
			}
			seen[c.path] = out
		})
	}
	// A path the engine does not have is an error, not help.
	res := v.CLI("path-help", mountPath+"/no-such-path")
	if res.Code == 0 {
		t.Errorf("path-help of an unknown path succeeded:\n%s", res)
	}
}
