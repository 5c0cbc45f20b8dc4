package jawbone

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

func TestExchangeStoresTokensUnderTheBoundName(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.configure()
	auth := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: "alice", keyScopes: "move_read"})
	landed := e.visit(auth.Data[keyURL].(string))
	resp := e.mustOK(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed})
	if resp.Data[keyName] != "alice" || resp.Data[keyExpiresAt] != e.clock.Now().Add(365*24*time.Hour).UTC().Format(time.RFC3339) {
		t.Fatalf("exchange reply %#v", resp.Data)
	}
	if _, ok := resp.Data[keyRefreshToken]; ok {
		t.Fatal("exchange returned a refresh token")
	}
	stored := e.stored("alice")
	if stored == nil || stored.RefreshToken == "" || !e.fake.TokenValid(stored.AccessToken) {
		t.Fatalf("stored creds %+v do not hold a working grant", stored)
	}
	if got := strings.Join(stored.Scopes, ","); got != "move_read" {
		t.Fatalf("stored scopes %q, want the ones asked for", got)
	}
	if e.fake.Calls(fakejawbone.EndpointToken) != 1 {
		t.Fatalf("token endpoint called %d times", e.fake.Calls(fakejawbone.EndpointToken))
	}
}

func TestExchangeAcceptsCodeAndStateFields(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.configure()
	auth := e.mustOK(logical.ReadOperation, "auth-url", nil)
	q := queryOf(t, e.visit(auth.Data[keyURL].(string)))
	e.mustOK(logical.UpdateOperation, "exchange", map[string]any{keyCode: q.Get("code"), keyState: q.Get("state")})
	if e.stored("me") == nil {
		t.Fatal("no creds stored")
	}
}

func TestExchangeRejectsBadCallbacks(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// landed turns the real redirect into what the user pasted.
		landed     func(real string) string
		deny       bool
		wants      []string
		stateSpent bool
	}{
		{"not a url", func(string) string { return "%%%" }, false, []string{"redirect_url is not an absolute URL"}, false},
		{"relative url", func(string) string { return "/callback?code=x" }, false, []string{"redirect_url is not an absolute URL"}, false},
		{"another host", func(r string) string { return strings.Replace(r, "app.example", "evil.example", 1) }, false, []string{"redirect_uri is https://app.example/callback"}, false},
		{"another scheme", func(r string) string { return strings.Replace(r, "https:", "http:", 1) }, false, []string{"configured redirect_uri"}, false},
		{"another path", func(r string) string { return strings.Replace(r, "/callback", "/other", 1) }, false, []string{"configured redirect_uri"}, false},
		{"javascript url", func(string) string { return "javascript:alert(1)" }, false, []string{"not an absolute URL"}, false},
		{"denied", func(r string) string { return r }, true, []string{"authorization was denied: access_denied"}, true},
		{"no code", func(r string) string { return dropParam(r, "code") }, false, []string{"carries no code"}, true},
		{"no state", func(r string) string { return dropParam(r, "state") }, false, []string{"carries no state"}, false},
		{"unknown state", func(r string) string { return setParam(r, "state", "forged") }, false, []string{"state is unknown or was already used"}, false},
		{"two states", func(r string) string { return r + "&state=again" }, false, []string{`2 "state" parameters`}, false},
		{"huge url", func(r string) string { return r + "&x=" + strings.Repeat("a", 1<<20) }, false, []string{"redirect_url is", "bytes"}, false},
		{"rejected code", func(r string) string { return setParam(r, "code", "not-a-code") }, false, []string{"invalid_grant", "auth-url"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			e.configure()
			e.fake.SetDeny(tc.deny)
			auth := e.mustOK(logical.ReadOperation, "auth-url", nil)
			state := auth.Data[keyState].(string)
			e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: tc.landed(e.visit(auth.Data[keyURL].(string)))}, 400, tc.wants...)
			if names, _ := e.storage.List(context.Background(), credsStoragePrefix); len(names) != 0 {
				t.Fatalf("a failed exchange stored creds %v", names)
			}
			var pending pendingAuth
			found, _ := getJSON(context.Background(), e.storage, mustStateKey(t, state), &pending)
			if found == tc.stateSpent {
				t.Fatalf("state still pending = %v, want spent = %v", found, tc.stateSpent)
			}
		})
	}
}

func TestExchangeProviderOutageIsBadGateway(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.configure()
	auth := e.mustOK(logical.ReadOperation, "auth-url", nil)
	landed := e.visit(auth.Data[keyURL].(string))
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 503, Body: "down", Times: 1})
	e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed}, 502, "HTTP 503", "try again later")
}

func TestExchangeFieldRules(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.configure()
	e.mustFail(logical.UpdateOperation, "exchange", map[string]any{}, 400, "redirect_url is required")
	e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: testRedirectURI + "?code=a&state=b", keyCode: "a"}, 400, "not both")
}

func dropParam(raw, key string) string {
	u, _ := url.Parse(raw)
	q := u.Query()
	q.Del(key)
	u.RawQuery = q.Encode()
	return u.String()
}

func setParam(raw, key, value string) string {
	u, _ := url.Parse(raw)
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
