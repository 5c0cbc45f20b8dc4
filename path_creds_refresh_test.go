package jawbone

import (
	"net/http"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

func TestForcedRefreshReplacesAFreshToken(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	old := e.authorize("me")
	kept := e.stored("me").RefreshToken
	resp := e.mustOK(logical.UpdateOperation, "creds/me/refresh", nil)
	fresh := resp.Data[keyAccessToken].(string)
	if fresh == old || e.fake.TokenValid(old) || !e.fake.TokenValid(fresh) {
		t.Fatal("forced refresh did not replace the token at Jawbone")
	}
	if stored := e.stored("me"); stored.AccessToken != fresh || stored.RefreshToken != kept {
		t.Fatalf("forced refresh not persisted: %+v", stored)
	}
}

func TestForcedRefreshIgnoresBackoffAndClearsReauth(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_grant"}`, Times: 1})
	e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, 400, "invalid_grant", "auth-url name=me")
	if !e.stored("me").NeedsReauth {
		t.Fatal("a permanent failure did not mark the creds")
	}
	e.mustOK(logical.UpdateOperation, "creds/me/refresh", nil)
	if e.stored("me").NeedsReauth {
		t.Fatal("a successful forced refresh did not clear needs_reauth")
	}
}

// Jawbone's own transient error: the refresh was not made, 502.
func TestForcedRefreshTransientFailureIsBadGateway(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	old := e.authorize("me")
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 500, Body: `{"error":"server_error"}`, Times: 1})
	e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, 502, "HTTP 500", "server_error")
	if g := e.stored("me"); g.AccessToken != old || g.attempting() {
		t.Fatal("a failed forced refresh changed the token, or left it in doubt")
	}
}

// A 500 without Jawbone's own words (a gateway's) does not say whether the
// refresh was made: 409, with when it can be forced again.
func TestForcedRefreshWhoseOutcomeIsUnknownIsAConflict(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	old := e.authorize("me")
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 500, Times: 1})
	e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, http.StatusConflict,
		`this refresh of creds "me" did not complete (jawbone refresh failed (HTTP 500)`, "Jawbone may still carry it out until",
		"force a refresh after that time with vault write -f jawbone/creds/me/refresh")
	if g := e.stored("me"); g.AccessToken != old || !g.attempting() {
		t.Fatal("a forced refresh of unknown outcome changed the token, or was not left in doubt")
	}
	// A proxy's 401: the same, with what to check.
	e.clock.Advance(backoffMax)
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 401, Body: "<html>denied by the proxy</html>", ContentType: "text/html", Times: 1})
	e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, http.StatusConflict,
		`this refresh of creds "me" did not complete (jawbone refresh failed (HTTP 401)`, "the reply carries no OAuth error, so it came from something between Vault and Jawbone")
}

func TestForcedRefreshOfUnknownCreds(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.mustFail(logical.UpdateOperation, "creds/ghost/refresh", nil, 404, `no creds named "ghost"`)
	e.mustFail(logical.UpdateOperation, "creds/a..b/refresh", nil, 400, "is not allowed")
}

// A read of a path that is a write says how to write it, instead of
// Vault's bare "unsupported operation".
func TestReadingAWriteOnlyPathSaysHowToWriteIt(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	for _, path := range []string{"creds/me/refresh", "creds/me/revoke"} {
		e.mustFail(logical.ReadOperation, path, nil, http.StatusMethodNotAllowed, path+" is a write, not a read: vault write -f jawbone/"+path)
	}
}
