package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

const credsReaderPolicy = `
# Read the access token of the creds "me", and nothing else of the engine.
path "jawbone/creds/me" {
  capabilities = ["read"]
}
`

// credsReaderToken writes the read-only policy and returns a token that has
// only it (plus Vault's default policy).
func (v *Vault) credsReaderToken() string {
	v.t.Helper()
	policyFile := filepath.Join(v.t.TempDir(), "creds-me-read.hcl")
	writeFile(v.t, policyFile, credsReaderPolicy)
	v.MustCLI("policy", "write", "jawbone-creds-me-read", policyFile)
	token := strings.TrimSpace(v.MustCLI("token", "create", "-policy=jawbone-creds-me-read", "-field=token"))
	if token == "" {
		v.t.Fatal("vault token create printed no token")
	}
	return token
}

// TestACL: a token allowed only to read jawbone/creds/me reads its token and
// is denied everything else.
func TestACL(t *testing.T) {
	f := StartFake(t)
	v := StartVaultWithPlugin(t)
	v.ConfigureFor(f)
	v.Authorize(f, "me")
	v.Authorize(f, "other")
	rootView := v.AccessToken("me")

	token := v.credsReaderToken()

	res := v.CLIAs(token, "read", "-field=access_token", mountPath+"/creds/me")
	res.requireOK(t)
	got := strings.TrimSpace(res.Stdout)
	if got != rootView {
		t.Errorf("the reader got %q, want the same token root reads (%q)", got, rootView)
	}
	f.requireTokenWorks(t, got, "the token the restricted reader got")

	f.ResetCalls()
	denied := []struct {
		what string
		args []string
	}{
		{"read config", []string{"read", mountPath + "/config"}},
		{"write config", []string{"write", mountPath + "/config", "client_id=evil"}},
		{"delete config", []string{"delete", mountPath + "/config"}},
		{"read creds/other", []string{"read", mountPath + "/creds/other"}},
		{"list creds", []string{"list", mountPath + "/creds"}},
		{"write creds/me", []string{"write", mountPath + "/creds/me", "refresh_token=x"}},
		{"delete creds/me", []string{"delete", mountPath + "/creds/me"}},
		{"auth-url", []string{"read", mountPath + "/auth-url"}},
		{"exchange", []string{"write", mountPath + "/exchange", "redirect_url=" + f.RedirectURI + "?code=c&state=s"}},
		{"refresh", []string{"write", "-f", mountPath + "/creds/me/refresh"}},
	}
	for _, d := range denied {
		t.Run(d.what, func(t *testing.T) {
			v := v.For(t)
			v.CLIAs(token, d.args...).requireFail(t, "permission denied")
		})
	}

	// Nothing the denied requests asked for happened.
	if n := f.Calls(fakejawbone.EndpointToken) + f.Calls(fakejawbone.EndpointRefreshToken); n != 0 {
		t.Errorf("denied requests reached the fake %d times", n)
	}
	if v.AccessToken("me") != rootView {
		t.Errorf("creds/me changed although the refresh was denied")
	}
	if cfg := v.ReadJSON(mountPath + "/config").Data; cfg["client_id"] != f.ClientID {
		t.Errorf("config client_id = %v after a denied write, want %s", cfg["client_id"], f.ClientID)
	}
}
