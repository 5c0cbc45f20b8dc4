package jawbone

import (
	"context"
	"encoding/base64"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

func TestAuthURLCarriesTheAuthorizationRequest(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
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

func TestAuthURLStateIsRandomAndStored(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		state := e.mustOK(logical.UpdateOperation, "auth-url", map[string]any{keyName: "alice"}).Data[keyState].(string)
		raw, err := base64.RawURLEncoding.DecodeString(state)
		if err != nil || len(raw)*8 < 128 {
			t.Fatalf("state %q carries %d bits, want >= 128", state, len(raw)*8)
		}
		if seen[state] {
			t.Fatalf("state %q repeated", state)
		}
		seen[state] = true
		var pending pendingAuth
		found, err := getJSON(context.Background(), e.storage, stateKey(state), &pending)
		if !found || err != nil || pending.Name != "alice" || !reflect.DeepEqual(pending.Scopes, []string{"basic_read"}) {
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

func TestAuthURLRejectsBadOptions(t *testing.T) {
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
			e := newTestEnv(t)
			e.configure()
			e.mustFail(logical.ReadOperation, "auth-url", tc.data, 400, tc.wants...)
			if keys, _ := e.storage.List(context.Background(), stateStoragePrefix); len(keys) != 0 {
				t.Fatalf("a rejected request stored %d states", len(keys))
			}
		})
	}
}

func TestAuthURLNeedsConfig(t *testing.T) {
	e := newTestEnv(t)
	e.mustFail(logical.ReadOperation, "auth-url", nil, 400, "write jawbone/config first")
}

func TestPeriodicSweepsExpiredStatesOnly(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	e.mustOK(logical.ReadOperation, "auth-url", nil)
	e.clock.Advance(6 * time.Minute)
	fresh := e.mustOK(logical.ReadOperation, "auth-url", nil).Data[keyState].(string)
	e.clock.Advance(5 * time.Minute)
	if err := e.b.periodic(context.Background(), &logical.Request{Storage: e.storage}); err != nil {
		t.Fatal(err)
	}
	keys, _ := e.storage.List(context.Background(), stateStoragePrefix)
	if len(keys) != 1 || stateStoragePrefix+keys[0] != stateKey(fresh) {
		t.Fatalf("after the sweep states are %v, want only the unexpired one", keys)
	}
}

// Whoever can read auth-url must not be able to swap working creds for a
// grant of their own: replacing takes replace=true.
func TestAuthorizationDoesNotSilentlyReplaceWorkingCreds(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	original := e.authorize("me")
	e.mustFail(logical.ReadOperation, "auth-url", nil, 400, `creds "me" already hold a working grant`, "replace=true")

	auth := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyReplace: true})
	e.mustOK(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: e.visit(auth.Data[keyURL].(string))})
	if e.stored("me").AccessToken == original {
		t.Fatal("replace=true did not replace the creds")
	}
}

func TestAuthorizationMayRepairRejectedCreds(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	e.authorize("me")
	markStored(t, e, "me", func(c *grant) { c.NeedsReauth = true })
	e.b.invalidate(context.Background(), credsStoragePrefix+"me")
	e.authorize("me")
	if e.stored("me").NeedsReauth {
		t.Fatal("re-authorization did not repair the creds")
	}
}

// Creds filled between auth-url and exchange are not replaced either, and
// the code is not even exchanged.
func TestExchangeRechecksReplaceAfterAuthURL(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	auth := e.mustOK(logical.ReadOperation, "auth-url", nil)
	landed := e.visit(auth.Data[keyURL].(string))
	filled := e.authorize("me")
	e.fake.ResetCalls()
	e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed}, 400, "already hold a working grant")
	if e.stored("me").AccessToken != filled || e.fake.Calls(fakejawbone.EndpointToken) != 0 {
		t.Fatal("the creds were replaced or the code exchanged")
	}
}
