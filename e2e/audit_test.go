package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditLogHasNoSecrets: with a file audit device on, the whole flow
// leaves no client secret, refresh token or access token in plaintext in the
// audit log (nor in the server's own log).
func TestAuditLogHasNoSecrets(t *testing.T) {
	f := StartFake(t)
	v := StartVaultWithPlugin(t)
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	v.MustCLI("audit", "enable", "file", "file_path="+auditPath)

	runWholeFlow(t, v, f)

	data, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatalf("reading the audit log: %v", err)
	}
	audit := string(data)
	// The log really holds the flow, hashed: otherwise the checks below
	// would pass on an empty file.
	for _, want := range []string{
		`"path":"jawbone/config"`, `"path":"jawbone/exchange"`, `"path":"jawbone/creds/flow"`,
		`"path":"jawbone/creds/flow/refresh"`, `"path":"jawbone/creds/imp-access"`, "hmac-sha256:",
	} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit log lacks %s", want)
		}
	}
	secrets := map[string][]string{
		"client secret": {f.ClientSecret},
		"refresh token": f.SeenRefreshTokens(),
		"access token":  f.SeenAccessTokens(),
	}
	if len(secrets["refresh token"]) < 4 || len(secrets["access token"]) < 6 {
		t.Fatalf("the fake saw only %d refresh and %d access tokens; the flow did not run", len(secrets["refresh token"]), len(secrets["access token"]))
	}
	requireNoSecrets(t, "the audit log", audit, secrets)

	serverLog, err := os.ReadFile(v.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	requireNoSecrets(t, "the vault server log", string(serverLog), secrets)
}
