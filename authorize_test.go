package jawbone

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

func TestAuthURLStateIsRandomAndStored(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("alice%d", i)
		state := e.mustOK(logical.UpdateOperation, "auth-url", map[string]any{keyName: name}).Data[keyState].(string)
		random, _, _ := strings.Cut(state, ".")
		raw, err := base64.RawURLEncoding.DecodeString(random)
		if err != nil || len(raw)*8 < 128 {
			t.Fatalf("state %q carries %d bits, want >= 128", state, len(raw)*8)
		}
		if seen[state] {
			t.Fatalf("state %q repeated", state)
		}
		seen[state] = true
		var pending pendingAuth
		found, err := getJSON(context.Background(), e.storage, mustStateKey(t, state), &pending)
		if !found || err != nil || pending.Name != name || !reflect.DeepEqual(pending.Scopes, []string{"basic_read"}) {
			t.Fatalf("state not stored with its binding: found=%v err=%v %+v", found, err, pending)
		}
	}
	keys, _ := e.storage.List(context.Background(), stateStoragePrefix)
	for _, k := range keys {
		if seen[k] {
			t.Fatal("a raw state value is used as a storage key")
		}
	}
}

func TestExchangeStateIsSingleUse(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	auth := e.mustOK(logical.ReadOperation, "auth-url", nil)
	landed := e.visit(auth.Data[keyURL].(string))
	e.mustOK(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed})
	// Used again after it succeeded, it says so, and where the tokens are.
	e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed}, 400,
		`this authorization was completed already: its tokens are stored as the creds "me"`, "vault read jawbone/creds/me")
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 1 {
		t.Fatalf("a replayed state reached the token endpoint: %d calls", n)
	}
}

func TestExchangeStateExpiresAfterTenMinutes(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	auth := e.mustOK(logical.ReadOperation, "auth-url", nil)
	landed := e.visit(auth.Data[keyURL].(string))
	e.clock.Advance(10 * time.Minute)
	e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed}, 400, "state expired", "auth-url")
	if e.stored("me") != nil || e.fake.Calls(fakejawbone.EndpointToken) != 0 {
		t.Fatal("an expired state led to a token call or stored creds")
	}
}

func TestPeriodicSweepsExpiredStatesOnly(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.mustOK(logical.ReadOperation, "auth-url", nil)
	e.clock.Advance(6 * time.Minute)
	fresh := e.mustOK(logical.ReadOperation, "auth-url", nil).Data[keyState].(string)
	e.clock.Advance(5 * time.Minute)
	if err := e.b.periodic(context.Background(), &logical.Request{Storage: e.storage}); err != nil {
		t.Fatal(err)
	}
	keys, _ := e.storage.List(context.Background(), stateStoragePrefix)
	if len(keys) != 1 || stateStoragePrefix+keys[0] != mustStateKey(t, fresh) {
		t.Fatalf("after the sweep states are %v, want only the unexpired one", keys)
	}
}

func TestAuthorizationMayRepairRejectedCreds(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	markStored(t, e, "me", func(c *grant) { c.NeedsReauth = true })
	e.b.invalidate(context.Background(), credsStoragePrefix+"me")
	e.authorize("me")
	if e.stored("me").NeedsReauth {
		t.Fatal("re-authorization did not repair the creds")
	}
}

func TestAuthURLSaysWhetherTheCallbackIsInUse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		redirectURI, mount string
		want               bool
	}{
		{"https://vault.example.com/v1/jawbone/callback", "jawbone/", true},
		{"https://vault.example.com/v1/jawbone/callback/", "jawbone/", true},
		{"http://127.0.0.1:8200/v1/jawbone/callback?x=1", "jawbone/", true},
		{"https://vault.example.com/v1/ns1/jawbone/callback", "ns1/jawbone/", true},
		{"https://vault.example.com/v1/jawbone/callback", "other/", false},
		{"https://vault.example.com/v1/jawbone/callbacks", "jawbone/", false},
		{"https://vault.example.com/jawbone/callback", "jawbone/", false},
		{testRedirectURI, "jawbone/", false},
		{"https://vault.example.com/v1/jawbone/callback", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.redirectURI+" on "+tc.mount, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			e.mustOK(logical.UpdateOperation, "config", with2(e.configData(), keyRedirectURI, tc.redirectURI))
			for _, op := range []logical.Operation{logical.ReadOperation, logical.UpdateOperation} {
				resp, err := e.handle(&logical.Request{
					Operation: op, Path: "auth-url", Storage: e.storage, MountPoint: tc.mount,
				})
				if err != nil || resp.IsError() {
					t.Fatalf("auth-url: %v %v", err, resp)
				}
				if got := resp.Data[keyCallbackInUse]; got != tc.want {
					t.Fatalf("%s auth-url: callback_in_use = %v, want %v", op, got, tc.want)
				}
			}
		})
	}
}

func with2(m map[string]any, key string, value any) map[string]any {
	m[key] = value
	return m
}

// FuzzParseRedirectURL: whatever a user pastes, parsing never panics, and
// anything accepted is a redirect to the configured endpoint whose callback
// values are exactly the URL's own.
func FuzzParseRedirectURL(f *testing.F) {
	for _, seed := range []string{
		testRedirectURI + "?code=abc&state=xyz",
		testRedirectURI + "?error=access_denied&error_description=no&state=xyz",
		"https://APP.example/callback/?code=a&state=b",
		"https://evil.example/callback?code=a&state=b",
		"javascript:alert(1)",
		"data:text/html,hi",
		"%zz",
		testRedirectURI + "?state=a&state=b",
		testRedirectURI + "?code=%ZZ",
		"",
	} {
		f.Add(seed)
	}
	want, _ := url.Parse(testRedirectURI)
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := parseRedirectURL(raw, testRedirectURI)
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || re.status != http.StatusBadRequest {
				t.Fatalf("rejection %v is not a 400 request error", err)
			}
			return
		}
		got, perr := url.Parse(raw)
		if perr != nil || !sameEndpoint(got, want) {
			t.Fatalf("accepted %q, which is not a redirect to %s", raw, testRedirectURI)
		}
		q := got.Query()
		if r.Code != q.Get("code") || r.State != q.Get("state") || r.Error != q.Get("error") {
			t.Fatalf("redirect %+v does not match the URL's query %v", r, q)
		}
	})
}

// mustStateKey is where state is stored.
func mustStateKey(t *testing.T, state string) string {
	t.Helper()
	key, ok := stateKey(state)
	if !ok {
		t.Fatalf("%q is not a state of this plugin", state)
	}
	return key
}

// A state used again after an authorization that failed says so, and
// advises a new one for the same name.
func TestAStateUsedAgainAfterAFailure(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	auth := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: "alice"})
	landed := e.visit(auth.Data[keyURL].(string))
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 503, Times: 1})
	e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed}, 502, "vault read jawbone/auth-url")
	e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed}, 400,
		"state was already used", "did not complete", "vault read jawbone/auth-url name=alice")
}

// One user allowed only auth-url/<their name> cannot block everyone's
// authorizations: each name may have a handful of states in ten minutes,
// and the refusal says that it is that name's limit. Other names go on.
func TestOneNameCannotFillTheStates(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	for range maxStatesPerName {
		e.mustOK(logical.ReadOperation, "auth-url/mallory", nil)
	}
	firstExpiry := e.clock.Now().Add(stateTTL).UTC().Format(time.RFC3339)
	for range 20 {
		e.mustFail(logical.ReadOperation, "auth-url/mallory", nil, http.StatusBadRequest,
			fmt.Sprintf(`creds "mallory" have %d authorizations started in the last 10m and not completed, the most one name may have (a state is kept, used or not, until it expires); wait until %s, when the oldest expires, then run vault read jawbone/auth-url name=mallory again`, maxStatesPerName, firstExpiry))
	}
	keys, _ := e.storage.List(context.Background(), stateStoragePrefix)
	if len(keys) != maxStatesPerName {
		t.Fatalf("%d states stored, want the %d the name may have", len(keys), maxStatesPerName)
	}
	e.mustOK(logical.ReadOperation, "auth-url/alice", nil)
	e.authorize("bob")
	e.clock.Advance(stateTTL)
	e.mustOK(logical.ReadOperation, "auth-url/mallory", nil)
}

// A completed authorization no longer counts against its name: whoever
// authorizes a name again and again (re-authorizing, replacing, repairing
// it) is not stopped; only states started and not completed are limited.
func TestCompletedAuthorizationsDoNotCountAgainstTheirName(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	for range 3 * maxStatesPerName {
		e.authorize("me")
	}
	for range maxStatesPerName {
		e.mustOK(logical.ReadOperation, "auth-url/me", nil)
	}
	e.mustFail(logical.ReadOperation, "auth-url/me", nil, http.StatusBadRequest, `creds "me" have 5 authorizations started in the last 10m and not completed`)
}

// The limit per name is checked without listing every pending state of the
// mount on each auth-url: a mount may have many users.
func TestAuthURLDoesNotListEveryState(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.mustOK(logical.ReadOperation, "auth-url/first", nil)
	counter := countStorage(e)
	counts := counter.during(func() {
		for i := range 200 {
			e.mustOK(logical.ReadOperation, fmt.Sprintf("auth-url/user-%d", i), nil)
		}
	})
	if n := counts["list state"]; n != 0 {
		t.Fatalf("200 auth-urls listed every state of the mount %d times", n)
	}
}

// Above the limits per name, the mount keeps a ceiling that only an
// operator's mistake reaches (a script starting authorizations in a loop);
// its refusal says that it is the mount's, and it is exact: expired states
// are swept first.
func TestTheMountKeepsACeilingOfStates(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.b.states.ceiling = 12
	for i := range 12 {
		e.mustOK(logical.ReadOperation, fmt.Sprintf("auth-url/n%d", i), nil)
	}
	e.mustFail(logical.ReadOperation, "auth-url/late", nil, http.StatusBadRequest,
		"12 authorizations were started on this mount in the last 10m, the most it keeps (a state is kept, used or not, until it expires); wait until one expires, then run vault read jawbone/auth-url name=late again")
	e.clock.Advance(stateTTL)
	e.mustOK(logical.ReadOperation, "auth-url/late", nil)
}

// A browser's address bar drops a default port and lowers a host's case:
// the URL it landed on is for the redirect_uri however that is written.
func TestAPastedRedirectMatchesItsRedirectURIWrittenOtherwise(t *testing.T) {
	t.Parallel()
	for _, configured := range []string{"https://app.example:443/callback", "https://APP.example./callback/", "HTTPS://app.example/callback"} {
		if _, err := parseRedirectURL("https://app.example/callback?code=a&state=b", configured); err != nil {
			t.Errorf("redirect_uri %s: %v", configured, err)
		}
	}
	if _, err := parseRedirectURL("https://app.example:8443/callback?code=a&state=b", "https://app.example/callback"); err == nil {
		t.Error("another port was taken for the redirect_uri's")
	}
}
