package jawbone

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// Revoking disconnects the app at Jawbone (afterwards the access token gets
// 401 and the refresh token invalid_grant), then forgets the grant; other
// creds of the same account are named, since they stop working too.
func TestRevokeDisconnectsThenForgets(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	token := e.authorize("me")
	refresh := e.stored("me").RefreshToken
	e.authorize("same-account")
	resp := e.mustOK(logical.UpdateOperation, "creds/me/revoke", nil)
	if resp.Data[keyRevoked] != true || resp.Data[keyAccountXID] != e.fake.DefaultAccount() ||
		!strings.Contains(strings.Join(resp.Warnings, " "), `"same-account"`) {
		t.Fatalf("revoke reply %#v", resp)
	}
	if n := e.fake.Calls(fakejawbone.EndpointMembership); n != 1 {
		t.Fatalf("%d calls to PartnerAppMembership, want 1", n)
	}
	if e.stored("me") != nil || e.fake.TokenValid(token) {
		t.Fatal("the creds were not forgotten, or the token still works")
	}
	if _, ok := e.fake.RefreshOutside(refresh); ok {
		t.Fatal("the refresh token still works after the disconnection")
	}
}

// If Jawbone does not disconnect the app, nothing is forgotten, and the
// error says how to forget the creds anyway.
func TestRevokeKeepsEverythingWhenJawboneFails(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	token := e.authorize("me")
	e.fake.InjectFault(fakejawbone.EndpointMembership, fakejawbone.Fault{Status: http.StatusServiceUnavailable, Times: 1})
	e.mustFail(logical.UpdateOperation, "creds/me/revoke", nil, http.StatusBadGateway,
		"Jawbone did not disconnect the app", "nothing was forgotten", "vault delete jawbone/creds/me")
	if g := e.stored("me"); g == nil || g.AccessToken != token || !e.fake.TokenValid(token) {
		t.Fatal("a failed revocation changed the creds")
	}
	e.mustOK(logical.UpdateOperation, "creds/me/revoke", nil)
	e.mustFail(logical.UpdateOperation, "creds/me/revoke", nil, http.StatusNotFound, `no creds named "me"`)
}

// A token Jawbone no longer accepts is refreshed once to disconnect.
func TestRevokeWithADeadTokenRefreshesFirst(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	if _, ok := e.fake.RefreshOutside(e.stored("me").RefreshToken); !ok {
		t.Fatal("test premise: the outside refresh works")
	}
	e.mustOK(logical.UpdateOperation, "creds/me/revoke", nil)
	if e.stored("me") != nil || e.fake.Calls(fakejawbone.EndpointMembership) != 2 {
		t.Fatalf("creds left %v, %d disconnection calls (want the refused one and the one after the refresh)",
			e.stored("me") != nil, e.fake.Calls(fakejawbone.EndpointMembership))
	}
}
