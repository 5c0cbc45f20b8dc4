package jawbone

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestAuthURLCarriesTheAuthorizationRequest(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	resp := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyScopes: "basic_read,sleep_read"})
	q := queryOf(t, resp.Data[keyURL].(string))
	want := map[string]string{
		"response_type": "code", "client_id": testClientID, "redirect_uri": testRedirectURI,
		"scope": "basic_read sleep_read", "state": resp.Data[keyState].(string),
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("auth url %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if resp.Data[keyName] != "me" || !reflect.DeepEqual(resp.Data[keyScopes], []string{"basic_read", "sleep_read"}) {
		t.Errorf("name/scopes = %v/%v", resp.Data[keyName], resp.Data[keyScopes])
	}
	expires, err := time.Parse(time.RFC3339, resp.Data[keyExpiresAt].(string))
	if err != nil || !expires.Equal(e.clock.Now().Add(10*time.Minute)) {
		t.Errorf("expires_at = %v (%v), want now+10m", resp.Data[keyExpiresAt], err)
	}
}

func TestAuthURLRejectsBadOptions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		data  map[string]any
		wants []string
	}{
		{"unknown scope", map[string]any{keyScopes: "nope_read"}, []string{`"nope_read" is not a Jawbone scope`}},
		{"name with slash", map[string]any{keyName: "a/b"}, []string{`name "a/b" is not allowed`}},
		{"name with dots", map[string]any{keyName: "../x"}, []string{"is not allowed", `no ".."`}},
		{"unicode name", map[string]any{keyName: "mé"}, []string{"is not allowed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newConfiguredEnv(t)
			e.mustFail(logical.ReadOperation, "auth-url", tc.data, 400, tc.wants...)
			if keys, _ := e.storage.List(context.Background(), stateStoragePrefix); len(keys) != 0 {
				t.Fatalf("a rejected request stored %d states", len(keys))
			}
		})
	}
}

func TestAuthURLNeedsConfig(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.mustFail(logical.ReadOperation, "auth-url", nil, 400, "write jawbone/config first")
}

// auth-url/<name> is auth-url with the name in the path, for templated
// policies.
func TestAuthURLTakesTheNameInThePath(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	resp := e.mustOK(logical.ReadOperation, "auth-url/alice", map[string]any{keyScopes: "move_read"})
	if resp.Data[keyName] != "alice" || !reflect.DeepEqual(resp.Data[keyScopes], []string{"move_read"}) {
		t.Fatalf("auth-url/alice: %#v", resp.Data)
	}
	e.mustOK(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: e.visit(resp.Data[keyURL].(string))})
	if e.stored("alice") == nil {
		t.Fatal("the authorization did not fill creds alice")
	}
	e.mustFail(logical.ReadOperation, "auth-url/a..b", nil, http.StatusBadRequest, "is not allowed")
}
