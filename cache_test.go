package jawbone

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

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
	c := newEntryCache(defaultCacheBytes)
	_, _, gen := c.get("k")
	c.invalidate("k") // a writer replaced k while the reader was reading
	c.fill("k", gen, "stale", 10)
	if _, ok, _ := c.get("k"); ok {
		t.Fatal("a stale value was cached")
	}
	_, _, gen = c.get("k")
	c.fill("k", gen, "fresh", 10)
	if v, ok, _ := c.get("k"); !ok || v != "fresh" {
		t.Fatalf("fill without a race: %v %v", v, ok)
	}
}

// The cache holds what fits its budget of bytes, dropping the least
// recently used first.
func TestCacheIsBoundedByBytes(t *testing.T) {
	t.Parallel()
	const size = 744 // with entryOverhead, 1000 bytes an entry
	c := newEntryCache(10 * (size + entryOverhead))
	fill := func(key string) {
		_, _, gen := c.get(key)
		c.fill(key, gen, key, size)
	}
	for i := range 10 {
		fill(fmt.Sprint("key-", i))
	}
	c.get("key-0") // used: kept
	for i := 10; i < 15; i++ {
		fill(fmt.Sprint("key-", i))
	}
	entries, bytes := c.size()
	if entries != 10 || bytes != 10*(size+entryOverhead) {
		t.Fatalf("the cache holds %d entries in %d bytes, want 10 in %d", entries, bytes, 10*(size+entryOverhead))
	}
	for key, want := range map[string]bool{"key-0": true, "key-1": false, "key-5": false, "key-6": true, "key-14": true} {
		if _, ok, _ := c.get(key); ok != want {
			t.Errorf("%s cached: %v, want %v", key, ok, want)
		}
	}
	c.fill("huge", 0, "x", 11*(size+entryOverhead))
	if _, ok, _ := c.get("huge"); ok {
		t.Fatal("an entry larger than the whole budget was cached")
	}
}

// The budget comes from the mount option cache_size.
func TestCacheSizeOption(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]int{"": defaultCacheBytes, "256MiB": 256 << 20, "1gib": 1 << 30, "1000": 1000, "0": 0} {
		got, err := cacheSizeOption(map[string]string{optionCacheSize: raw})
		if err != nil || got != want {
			t.Errorf("cache_size=%q: %d %v, want %d", raw, got, err, want)
		}
	}
	for _, raw := range []string{"lots", "-5", "2TiB"} {
		if _, err := cacheSizeOption(map[string]string{optionCacheSize: raw}); err == nil || !strings.Contains(err.Error(), "cache_size must be a size such as 64MiB") {
			t.Errorf("cache_size=%q: %v", raw, err)
		}
	}
}

// What the cache counts against its budget is what its entries hold of
// the heap (within a tenth), for grants such as a mount of a million
// holds: the default budget then means what it says in memory, and the
// number of entries it holds is what the docs say.
func TestCacheCountsWhatItHolds(t *testing.T) {
	// Not parallel: the heap is measured, and other tests would add to it.
	const n = 20_000
	ctx := context.Background()
	s := &logical.InmemStorage{}
	obtained := time.Date(2026, 12, 7, 15, 33, 31, 34095094, time.UTC)
	for i := range n {
		g := &grant{AccessToken: fmt.Sprintf("9OX7Pf0f0KxUwI-lMP9i3JKi5KeRG161Lv6E%07d", i),
			RefreshToken: fmt.Sprintf("Y1gGtb2w2ox84koFGMcE17VB9hTGkr9x8wKz%07d", i), TokenType: "Bearer",
			Scopes: []string{"basic_read"}, ExpiresAt: obtained.Add(year), ObtainedAt: obtained,
			AccountXID: fmt.Sprintf("acct-%07d", i), Layout: grantLayout}
		if err := putJSON(ctx, s, fmt.Sprintf("creds/user-%07d", i), g); err != nil {
			t.Fatal(err)
		}
	}
	c := newEntryCache(1 << 30)
	before := liveHeapMiB()
	for i := range n {
		if _, err := cachedGet[grant](ctx, c, s, fmt.Sprintf("creds/user-%07d", i)); err != nil {
			t.Fatal(err)
		}
	}
	held := (liveHeapMiB() - before) * (1 << 20)
	entries, counted := c.size()
	if entries != n {
		t.Fatalf("%d entries cached, want %d", entries, n)
	}
	perEntry, countedPerEntry := held/n, float64(counted)/n
	t.Logf("an entry holds %.0f bytes of heap; the cache counts %.0f; the default budget holds %d", perEntry, countedPerEntry, int(defaultCacheBytes/countedPerEntry))
	if countedPerEntry < 0.9*perEntry || countedPerEntry > 1.1*perEntry {
		t.Fatalf("the cache counts %.0f bytes an entry, which hold %.0f of the heap", countedPerEntry, perEntry)
	}
	runtime.KeepAlive(c)
	runtime.KeepAlive(s)
}
