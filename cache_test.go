package jawbone

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestCacheServesReadsWithoutStorage(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	token := e.authorize("me")
	e.storage.FailGet(true) // same data, warm cache
	got := e.accessToken("me")
	e.storage.FailGet(false)
	if got != token {
		t.Fatalf("cached read got %q", got)
	}
}

// Every write through the backend is seen by the very next read.
func TestCacheWritesAreSeenByTheNextRead(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")

	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyClientID: "renamed"})
	if q := queryOf(t, e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: "new"}).Data[keyURL].(string)); q.Get("client_id") != "renamed" {
		t.Fatalf("auth-url after a config write uses client_id %q", q.Get("client_id"))
	}
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyClientID: testClientID})

	_, refresh := e.fake.IssueTokens(nil)
	imported := e.mustOK(logical.UpdateOperation, "creds/me", map[string]any{keyRefreshToken: refresh}).Data[keyAccessToken]
	if got := e.accessToken("me"); got != imported {
		t.Fatalf("read after import got %q, want %q", got, imported)
	}
	forced := e.mustOK(logical.UpdateOperation, "creds/me/refresh", nil).Data[keyAccessToken]
	if got := e.accessToken("me"); got != forced {
		t.Fatalf("read after forced refresh got %q, want %q", got, forced)
	}
	e.mustOK(logical.DeleteOperation, "creds/me", nil)
	e.mustFail(logical.ReadOperation, "creds/me", nil, 404, "no creds")
	e.mustOK(logical.DeleteOperation, "config", nil)
	e.mustFail(logical.ReadOperation, "auth-url", map[string]any{keyName: "new"}, 400, "not configured")
}

// A write by another node reaches this one as an invalidation.
func TestCacheInvalidationFromElsewhere(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	changed := e.stored("me")
	changed.AccessToken = "written-by-another-node"
	if err := putJSON(context.Background(), e.storage, credsStoragePrefix+"me", changed); err != nil {
		t.Fatal(err)
	}
	if got := e.accessToken("me"); got == changed.AccessToken {
		t.Fatal("the cache was not used (test premise)")
	}
	e.b.invalidate(context.Background(), credsStoragePrefix+"me")
	if got := e.accessToken("me"); got != changed.AccessToken {
		t.Fatalf("after invalidation read %q, want the other node's write", got)
	}
}

func TestCacheRefusesAFillThatRacedAnInvalidation(t *testing.T) {
	t.Parallel()
	c := newEntryCache()
	_, _, gen := c.get("k")
	c.invalidate("k") // a writer replaced k while the reader was reading
	c.fill("k", gen, "stale")
	if _, ok, _ := c.get("k"); ok {
		t.Fatal("a stale value was cached")
	}
	_, _, gen = c.get("k")
	c.fill("k", gen, "fresh")
	if v, ok, _ := c.get("k"); !ok || v != "fresh" {
		t.Fatalf("fill without a race: %v %v", v, ok)
	}
}

func TestCacheIsBounded(t *testing.T) {
	t.Parallel()
	c := newEntryCache()
	for i := range maxCachedEntries + 50 {
		_, _, gen := c.get("k")
		c.fill(fmt.Sprint("key-", i), gen, i)
	}
	if n := len(c.entries); n > maxCachedEntries {
		t.Fatalf("cache holds %d entries, bound %d", n, maxCachedEntries)
	}
}
