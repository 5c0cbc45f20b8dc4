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

func TestForcedRefreshTransientFailureIsBadGateway(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	old := e.authorize("me")
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 500, Times: 1})
	e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, 502, "HTTP 500")
	if e.stored("me").AccessToken != old {
		t.Fatal("a failed forced refresh changed the token")
	}
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
