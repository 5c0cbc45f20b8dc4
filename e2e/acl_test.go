package e2e

import (
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
	return v.PolicyToken("jawbone-creds-me-read", credsReaderPolicy)
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
	v.As(token).requireAllDenied(
		command("read config", "read", mountPath+"/config"),
		command("write config", "write", mountPath+"/config", "client_id=evil"),
		command("delete config", "delete", mountPath+"/config"),
		command("read creds/other", "read", mountPath+"/creds/other"),
		command("list creds", "list", mountPath+"/creds"),
		command("write creds/me", "write", mountPath+"/creds/me", "refresh_token=x"),
		command("delete creds/me", "delete", mountPath+"/creds/me"),
		command("auth-url", "read", mountPath+"/auth-url"),
		command("exchange", "write", mountPath+"/exchange", "redirect_url="+f.RedirectURI+"?code=c&state=s"),
		command("refresh", "write", "-f", mountPath+"/creds/me/refresh"),
	)

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
