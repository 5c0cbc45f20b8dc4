package jawbone

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

func TestExchangeStoresTokensUnderTheBoundName(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
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
	e := newConfiguredEnv(t)
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
		{"unknown state", func(r string) string { return setParam(r, "state", "forged") }, false, []string{"state is unknown"}, false},
		{"two states", func(r string) string { return r + "&state=again" }, false, []string{`2 "state" parameters`}, false},
		{"malformed query", func(r string) string { return r + "&x=%zz" }, false, []string{"redirect_url has a malformed query string: "}, false},
		{"huge url", func(r string) string { return r + "&x=" + strings.Repeat("a", 1<<20) }, false, []string{"redirect_url is", "bytes"}, false},
		{"rejected code", func(r string) string { return setParam(r, "code", "not-a-code") }, false, []string{"invalid_grant", "auth-url"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newConfiguredEnv(t)
			e.fake.SetDeny(tc.deny)
			auth := e.mustOK(logical.ReadOperation, "auth-url", nil)
			state := auth.Data[keyState].(string)
			e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: tc.landed(e.visit(auth.Data[keyURL].(string)))}, 400, tc.wants...)
			if names, _ := e.storage.List(context.Background(), credsStoragePrefix); len(names) != 0 {
				t.Fatalf("a failed exchange stored creds %v", names)
			}
			// A spent state is kept, marked spent, until it expires.
			var pending pendingAuth
			found, _ := getJSON(context.Background(), e.storage, mustStateKey(t, state), &pending)
			if !found || pending.Spent != tc.stateSpent || pending.Completed {
				t.Fatalf("state found %v, spent %v, want spent = %v and not completed", found, pending.Spent, tc.stateSpent)
			}
		})
	}
}

// A denial's error and error_description are whatever the redirect
// carried, which anyone can forge: the reply shows the code only when it is
// one, and the description printable and bounded.
func TestExchangeBoundsWhatADenialSays(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	auth := e.mustOK(logical.ReadOperation, "auth-url", nil)
	state := auth.Data[keyState].(string)
	forged := testRedirectURI + "?" + url.Values{keyState: {state}, keyError: {"<b>call 555-0100</b>"},
		keyErrorDesc: {"line one\nline two " + strings.Repeat("x", 5000)}}.Encode()
	msg := e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: forged}, http.StatusBadRequest,
		"authorization was denied: an unrecognised error (line one line two xxx")
	if strings.Contains(msg, "555-0100") || strings.Contains(msg, "\n") || len(msg) > 600 {
		t.Fatalf("the reply repeats the forged denial as it came (%d bytes): %.300s", len(msg), msg)
	}
}

func TestExchangeProviderOutageIsBadGateway(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	auth := e.mustOK(logical.ReadOperation, "auth-url", nil)
	landed := e.visit(auth.Data[keyURL].(string))
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 503, Body: "down", Times: 1})
	e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed}, 502, "HTTP 503", "try again later")
}

// A redirect_uri changed between auth-url and exchange voids the state:
// Jawbone would refuse a code exchanged for another redirect_uri.
func TestExchangeAfterTheRedirectURIChanged(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	auth := e.mustOK(logical.ReadOperation, "auth-url", nil)
	q := queryOf(t, e.visit(auth.Data[keyURL].(string)))
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyRedirectURI: "https://app.example/elsewhere"})
	e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyCode: q.Get(keyCode), keyState: q.Get(keyState)}, 400,
		"redirect_uri changed in the config since this state was issued; start again with vault read jawbone/auth-url name=me")
}

// A client Jawbone refuses at the exchange is the config's problem, said
// once, with the commands that show and fix it.
func TestExchangeWithARefusedClient(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	auth := e.mustOK(logical.ReadOperation, "auth-url", nil)
	landed := e.visit(auth.Data[keyURL].(string))
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyClientSecret: "not-the-secret"})
	msg := e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed}, 400,
		"jawbone exchange failed (HTTP 400): invalid_client: unknown client_id or wrong client_secret",
		"; Jawbone refused this client: check client_id, client_secret and token_url with vault read jawbone/config and rewrite them with vault write jawbone/config")
	if strings.Count(msg, "invalid_client") != 1 || strings.Contains(msg, "try again") {
		t.Errorf("the refusal says its kind twice, or more than one remedy: %s", msg)
	}
}

func TestExchangeFieldRules(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
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

// A partial paste is told to start with the configured redirect_uri, which
// on a loopback dev setup is http, not "https://".
func TestExchangePartialPasteNamesTheRedirectURI(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	const local = "http://127.0.0.1:8200/v1/jawbone/callback"
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyRedirectURI: local})
	msg := e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: "?code=a&state=b"}, 400,
		"redirect_url is not an absolute URL: paste the full URL from the browser's address bar, starting with "+local)
	if strings.Contains(msg, "https://") {
		t.Errorf("the advice names https though the redirect_uri is http: %s", msg)
	}
}
