package jawbone

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/physical/inmem"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// coldCache empties the backend's cache, so that reads do reach storage.
func (e *testEnv) coldCache() {
	e.b.registry.cache = newEntryCache(defaultCacheBytes)
}

// inmemError is the error the SDK's in-memory storage fails with when
// told to fail Put (or else Get).
func inmemError(failPut bool) string {
	if failPut {
		return inmem.PutDisabledError.Error()
	}
	return inmem.GetDisabledError.Error()
}

func TestStorageFailuresKeepTheOldEntries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		prepare func(e *testEnv) // runs with working storage
		op      logical.Operation
		path    string
		data    func(e *testEnv) map[string]any
		failPut bool
		failGet bool
	}{
		{"config write, put fails", nil, logical.UpdateOperation, "config",
			func(*testEnv) map[string]any { return map[string]any{keyScopes: "move_read"} }, true, false},
		{"config write, get fails", nil, logical.UpdateOperation, "config",
			func(*testEnv) map[string]any { return map[string]any{keyScopes: "move_read"} }, false, true},
		{"due refresh, put fails", func(e *testEnv) { e.clock.Advance(year) }, logical.ReadOperation, "creds/me", nil, true, false},
		{"forced refresh, put fails", nil, logical.UpdateOperation, "creds/me/refresh", nil, true, false},
		{"import, put fails", nil, logical.UpdateOperation, "creds/me",
			func(e *testEnv) map[string]any {
				_, r := e.fake.IssueTokens(nil)
				return map[string]any{keyRefreshToken: r}
			}, true, false},
		{"exchange, put fails", nil, logical.UpdateOperation, "exchange",
			func(e *testEnv) map[string]any {
				auth := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: "other"})
				return map[string]any{keyRedirectURL: e.visit(auth.Data[keyURL].(string))}
			}, true, false},
		{"creds read, get fails", nil, logical.ReadOperation, "creds/me", nil, false, true},
		{"auth-url, put fails", nil, logical.ReadOperation, "auth-url",
			func(*testEnv) map[string]any { return map[string]any{keyName: "other"} }, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newConfiguredEnv(t)
			e.authorize("me")
			if tc.prepare != nil {
				tc.prepare(e)
			}
			var data map[string]any
			if tc.data != nil {
				data = tc.data(e)
			}
			e.coldCache()
			before := e.snapshot()
			e.storage.FailPut(tc.failPut).FailGet(tc.failGet)
			resp, err := e.request(tc.op, tc.path, data)
			e.storage.FailPut(false).FailGet(false)
			if status, msg := statusOf(resp, err); status != 500 || !strings.Contains(msg, inmemError(tc.failPut)) {
				t.Fatalf("status %d (%s), want a 500 naming the storage error", status, msg)
			}
			// A spent state is the one change allowed: it is spent on the first try.
			after := e.snapshot()
			for k := range before {
				if strings.HasPrefix(k, stateStoragePrefix) {
					delete(before, k)
					delete(after, k)
				}
			}
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("storage changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// When storage cannot be written, Jawbone is not called at all (the refresh
// marker cannot be stored), and the next read refreshes normally.
func TestRefreshAfterFailedStoreRecovers(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	e.clock.Advance(year - time.Hour)
	e.coldCache()
	e.storage.FailPut(true)
	if resp, err := e.request(logical.ReadOperation, "creds/me", nil); err == nil && !resp.IsError() {
		t.Fatal("a read whose refresh could not be stored succeeded")
	}
	e.storage.FailPut(false)
	if tok := e.accessToken("me"); !e.fake.TokenValid(tok) {
		t.Fatal("the next read did not recover a working token")
	}
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 2 {
		t.Fatalf("token calls %d, want 2 (exchange, recovery)", n)
	}
}

// grpcReadOnlyStorage fails writes the way storage does on a performance
// standby seen from an external plugin: the SDK's gRPC storage client turns
// logical.ErrReadOnly into a plain error carrying its text.
type grpcReadOnlyStorage struct{ logical.Storage }

func (s grpcReadOnlyStorage) Put(context.Context, *logical.StorageEntry) error {
	return errors.New(logical.ErrReadOnly.Error())
}

func (s grpcReadOnlyStorage) Delete(context.Context, string) error {
	return errors.New(logical.ErrReadOnly.Error())
}

// Every request that writes storage answers logical.ErrReadOnly itself
// where storage is read-only, so that Vault forwards it to the node that
// can write; and the operations that write are marked to be forwarded.
func TestWritesOnAReadOnlyNodeAreForwarded(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	_, refresh := e.fake.IssueTokens(nil)
	auth := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: "other"})
	landed := e.visit(auth.Data[keyURL].(string))
	cases := []struct {
		op   logical.Operation
		path string
		data map[string]any
	}{
		{logical.ReadOperation, "auth-url", map[string]any{keyName: "x"}},
		{logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed}},
		{logical.UpdateOperation, "creds/other", map[string]any{keyRefreshToken: refresh}},
		{logical.UpdateOperation, "creds/me/refresh", nil},
		{logical.DeleteOperation, "creds/me", nil},
		{logical.UpdateOperation, "config", map[string]any{keyScopes: "move_read"}},
	}
	ro := grpcReadOnlyStorage{e.storage}
	for _, tc := range cases {
		_, err := e.b.HandleRequest(context.Background(), &logical.Request{Operation: tc.op, Path: tc.path, Data: tc.data, Storage: ro})
		if !errors.Is(err, logical.ErrReadOnly) {
			t.Errorf("%s %s on read-only storage: %v, want logical.ErrReadOnly", tc.op, tc.path, err)
		}
	}
	for _, p := range e.b.Paths {
		for op, h := range p.Operations {
			writes := op != logical.ReadOperation && op != logical.ListOperation || strings.HasPrefix(p.Pattern, "auth-url") || p.Pattern == callbackPath+"$"
			if props := h.Properties(); writes && (!props.ForwardPerformanceStandby || !props.ForwardPerformanceSecondary) {
				t.Errorf("%s %s writes storage but is not forwarded", op, p.Pattern)
			}
			// A list is served from the memory of the node that can write.
			if props := h.Properties(); op == logical.ListOperation && !props.ForwardPerformanceStandby {
				t.Errorf("%s %s is not forwarded: a page would list every creds entry", op, p.Pattern)
			}
		}
	}
}

// A grant is stored without the times it has not set: zero times would
// be most of an entry (548 bytes of a fresh import, 310 without them), at
// a million grants 240 MB of Vault's storage, and as much again in what
// every read of a creds entry carries over gRPC.
func TestStoredEntriesOmitUnsetTimes(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	access, refresh := e.fake.IssueTokens(nil)
	e.mustOK(logical.UpdateOperation, "creds/me", map[string]any{keyAccessToken: access, keyRefreshToken: refresh,
		keyExpiresAt: e.clock.Now().Add(year).Format(time.RFC3339)})
	for key, value := range e.snapshot() {
		if strings.Contains(value, `"0001-01-01T00:00:00Z"`) {
			t.Errorf("%s stores a zero time: %s", key, value)
		}
	}
	if g := e.stored("me"); g == nil || !g.CheckedAt.IsZero() || !g.ExpiresAt.Equal(e.clock.Now().Add(year).Truncate(time.Second)) {
		t.Fatalf("the grant read back: %+v", g)
	}
}
