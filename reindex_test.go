package jawbone

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// legacyGrant stores g under name as v0.1 did: no layout stamp, no index.
func legacyGrant(t *testing.T, e *testEnv, name string, g *grant) {
	t.Helper()
	if err := putJSON(context.Background(), e.storage, credsStoragePrefix+name, g); err != nil {
		t.Fatal(err)
	}
}

// restart is a new plugin process on the same storage: nothing in memory,
// the schedule not loaded yet.
func restart(e *testEnv) {
	e.b.registry = newRegistry(defaultCacheBytes, e.b.log, e.clock.Now)
}

// indexEntries is every index entry in storage.
func indexEntries(t *testing.T, e *testEnv) []string {
	t.Helper()
	keys := storedKeys(t, e)
	return slices.DeleteFunc(keys, func(k string) bool { return !strings.HasPrefix(k, indexPrefix) || k == indexMetaPath })
}

// A mount upgraded from v0.1 works at once: until the first load has
// indexed every grant, whether a grant is held elsewhere is answered by
// reading every grant; the load indexes and stamps each grant once, and
// finds grants two names hold.
func TestUpgradeFromV01IndexesEveryGrant(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	if err := e.storage.Delete(context.Background(), indexMetaPath); err != nil { // as v0.1 left it
		t.Fatal(err)
	}
	tokens := map[string][2]string{}
	for _, name := range []string{"alice", "bob", "carol"} {
		access, refresh := e.fake.IssueTokensFor(name+"-xid", nil)
		tokens[name] = [2]string{access, refresh}
		legacyGrant(t, e, name, &grant{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", Scopes: []string{"basic_read"},
			ExpiresAt: e.clock.Now().Add(year), ObtainedAt: e.clock.Now(), AccountXID: name + "-xid"})
	}
	// Written by hand, or by a version with a bug: two names, one grant.
	legacyGrant(t, e, "carol-again", &grant{AccessToken: tokens["carol"][0], RefreshToken: tokens["carol"][1], TokenType: "Bearer",
		ExpiresAt: e.clock.Now().Add(year), ObtainedAt: e.clock.Now(), AccountXID: "carol-xid"})
	restart(e)

	// Before the load: reads work, and a grant stored under another name
	// is refused.
	if got := e.accessToken("alice"); got != tokens["alice"][0] {
		t.Fatalf("read before the load: %q", got)
	}
	e.mustFail(logical.UpdateOperation, "creds/mallory", map[string]any{keyRefreshToken: tokens["bob"][1]}, 400,
		`this grant is stored as the creds "bob" already`)
	if listed := e.mustOK(logical.ListOperation, "creds/", nil).Data["keys"].([]string); len(listed) != 4 {
		t.Fatalf("list before the load: %v", listed)
	}

	tick(t, e)
	waitForLoad(t, e)
	for name := range tokens {
		if g := e.stored(name); g.Layout != grantLayout {
			t.Fatalf("%s not stamped after the load: layout %d", name, g.Layout)
		}
	}
	if entries := indexEntries(t, e); len(entries) != 3+4 {
		t.Fatalf("index after the load: %d entries, want 3 claims and 4 account entries:\n%s", len(entries), strings.Join(entries, "\n"))
	}
	if n := e.b.registry.load.duplicates.Load(); n != 1 {
		t.Fatalf("%d grants found held twice, want 1", n)
	}
	if !strings.Contains(e.logs.String(), "two creds hold one grant") {
		t.Fatal("the grant held twice was not logged")
	}
	// After the load: the index answers, with no scan.
	counter := countStorage(e)
	ops := counter.during(func() {
		e.mustFail(logical.UpdateOperation, "creds/mallory", map[string]any{keyRefreshToken: tokens["alice"][1]}, 400,
			`this grant is stored as the creds "alice" already`)
	})
	if ops["list creds"] != 0 {
		t.Fatalf("the check read every grant after the load: %v", ops)
	}
	// A second start finds the indexes complete: nothing is rewritten.
	restart(e)
	e.b.registry.load.started.Store(true)
	ops = counter.during(func() {
		if err := e.b.registry.loadAll(context.Background(), e.store()); err != nil {
			t.Fatal(err)
		}
	})
	if ops["put creds"]+ops["put index"] != 0 {
		t.Fatalf("a second load wrote %v", ops)
	}
}

// waitForLoad waits for the background load a tick started.
func waitForLoad(t *testing.T, e *testEnv) {
	t.Helper()
	select {
	case <-e.b.registry.load.whenDone():
	case <-time.After(10 * time.Second):
		t.Fatal("the schedule did not load")
	}
}

// The repair writes the index entries that are missing and drops the stale
// ones, reading grants only where something does not match.
func TestRepairFixesDrift(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("a")
	e.authorize("b")
	ctx := context.Background()
	sl, err := e.b.registry.keys.get(ctx, e.storage)
	if err != nil {
		t.Fatal(err)
	}
	aKey := grantKeyOf(sl, e.stored("a").RefreshToken)
	bAccount := accountHash(sl, e.stored("b").AccountXID)
	before := indexEntries(t, e)

	// Drift: a's claim lost (an edit through sys/raw), a claim left by a
	// crash before its grant was written, an account entry left by a crash
	// after the grant moved to another account.
	must(t, e.storage.Delete(ctx, aKey.storageKey()))
	stale := grantKeyOf(sl, "a refresh token never stored")
	must(t, putJSON(ctx, e.storage, stale.storageKey(), grantClaim{Name: "b"}))
	must(t, putJSON(ctx, e.storage, accountKey(accountHash(sl, "gone-xid"), "b"), struct{}{}))

	e.b.registry.repair(ctx, e.storage, 4*256*2)
	if after := indexEntries(t, e); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("after the repair:\n%s\nwant\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
	if fixed := e.b.registry.repairAt.fixed.Load(); fixed != 3 {
		t.Fatalf("the repair counted %d fixes, want 3", fixed)
	}
	if _, err := e.storage.Get(ctx, accountKey(bAccount, "b")); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// failingPuts fails the k-th Put it sees (and only it): a crash between two
// writes, as far as storage can tell.
type failingPuts struct {
	logical.Storage
	k, seen int
}

func (f *failingPuts) Put(ctx context.Context, e *logical.StorageEntry) error {
	if f.seen++; f.seen == f.k {
		return errors.New("storage failed")
	}
	return f.Storage.Put(ctx, e)
}

// Whichever write of a grant's replacement fails, storage holds the old
// grant or the new one, the stored grant is always in the index, a grant
// held by no name is claimable, and the repair leaves the index exact.
func TestAFailedWriteLeavesAtWorstAStaleIndexEntry(t *testing.T) {
	t.Parallel()
	for k := 1; k <= 4; k++ {
		t.Run(fmt.Sprint("put ", k, " fails"), func(t *testing.T) {
			t.Parallel()
			e := newConfiguredEnv(t)
			e.authorize("me")
			old := e.stored("me")
			newAccess, newRefresh := e.fake.IssueTokensFor("other-xid", nil)
			e.view = &failingPuts{Storage: e.storage, k: k}
			resp, err := e.request(logical.UpdateOperation, "creds/me", map[string]any{keyAccessToken: newAccess, keyRefreshToken: newRefresh,
				keyExpiresAt: e.clock.Now().Add(year).Format(time.RFC3339), keyReplace: true})
			e.view = nil
			stored := e.stored("me")
			failed := err != nil || resp.IsError()
			switch {
			case failed && stored.RefreshToken != old.RefreshToken:
				t.Fatalf("the write failed, yet the new grant is stored")
			case !failed && stored.RefreshToken != newRefresh:
				t.Fatalf("the write succeeded, yet the old grant is stored")
			}
			sl, _ := e.b.registry.keys.get(context.Background(), e.storage)
			var claim grantClaim
			if found, _ := getJSON(context.Background(), e.storage, grantKeyOf(sl, stored.RefreshToken).storageKey(), &claim); !found || claim.Name != "me" {
				t.Fatalf("the stored grant is not in the index (%v %q)", found, claim.Name)
			}
			// Whichever grant "me" does not hold, another name may take.
			other := old.RefreshToken
			if stored.RefreshToken == old.RefreshToken {
				other = newRefresh
			}
			e.mustOK(logical.UpdateOperation, "creds/another", map[string]any{keyRefreshToken: other})
			e.b.registry.repair(context.Background(), e.storage, 4*256*2)
			if entries := indexEntries(t, e); len(entries) != 4 {
				t.Fatalf("after the repair the index holds %d entries, want 2 claims and 2 account entries:\n%s", len(entries), strings.Join(entries, "\n"))
			}
		})
	}
}

// A grant another node changed (Vault's invalidation) is read again into
// the schedule at the next tick, and attended to if it is due.
func TestInvalidatedGrantIsRescheduled(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	tick(t, e)
	changed := e.stored("me")
	changed.ObtainedAt = e.clock.Now().Add(-year)
	changed.ExpiresAt = e.clock.Now().Add(time.Hour)
	must(t, putJSON(context.Background(), e.storage, credsStoragePrefix+"me", changed)) // another node's write
	e.b.invalidate(context.Background(), credsStoragePrefix+"me")
	tick(t, e) // reads it again, finds it due, refreshes it
	if got := e.stored("me"); got.AccessToken == changed.AccessToken {
		t.Fatal("the grant another node made due was not refreshed")
	}
}

// An attempt a deleted name left in doubt is kept in the grant index until
// it can no longer land, then dropped by the repair.
func TestRepairKeepsAnAttemptThatMayStillLand(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	refresh := e.stored("me").RefreshToken
	e.b.transport = &lateTransport{}
	e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, 409) // times out: in doubt
	e.mustOK(logical.DeleteOperation, "creds/me", nil)
	sl, _ := e.b.registry.keys.get(context.Background(), e.storage)
	key := grantKeyOf(sl, refresh).storageKey()
	e.b.registry.repair(context.Background(), e.storage, 4*256*2)
	var claim grantClaim
	if found, _ := getJSON(context.Background(), e.storage, key, &claim); !found || claim.AttemptLandsBy.IsZero() {
		t.Fatal("the repair dropped an attempt that may still land")
	}
	e.clock.Advance(landingFactor*defaultRequestTimeout + time.Second)
	e.b.registry.repair(context.Background(), e.storage, 4*256*2)
	if found, _ := getJSON(context.Background(), e.storage, key, &claim); found {
		t.Fatal("the repair kept an attempt that can no longer land")
	}
}

// A revoke before the first load after an upgrade from v0.1 has indexed
// the account's other names finds them all the same (by reading every
// grant, as the check for a shared grant does then): the disconnect ends
// their tokens too, and they are marked.
func TestARevokeDuringTheUpgradeLoadMarksTheAccountsOtherNames(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	if err := e.storage.Delete(context.Background(), indexMetaPath); err != nil { // as v0.1 left it
		t.Fatal(err)
	}
	xid := e.fake.DefaultAccount()
	for _, name := range []string{"a", "b"} {
		access, refresh := e.fake.IssueTokensFor(xid, nil)
		legacyGrant(t, e, name, &grant{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", Scopes: []string{"basic_read"},
			ExpiresAt: e.clock.Now().Add(year), ObtainedAt: e.clock.Now(), AccountXID: xid})
	}
	restart(e)
	resp := e.mustOK(logical.UpdateOperation, "creds/a/revoke", nil)
	if !strings.Contains(strings.Join(resp.Warnings, " "), `"b"`) {
		t.Fatalf("the revoke does not name the account's other creds: %v", resp.Warnings)
	}
	requireNoDeadTokenUnwarned(t, e, "b", "after a revoke of another name of its account before the load")
}

// onFirstGet runs then once, right after the first read of key.
type onFirstGet struct {
	logical.Storage
	key  string
	then func()
	done bool
}

func (o *onFirstGet) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	entry, err := o.Storage.Get(ctx, key)
	if key == o.key && !o.done {
		o.done = true
		o.then()
	}
	return entry, err
}

// The repair drops a stale claim only if it is still the one it read: an
// import that claimed the grant for another name between the repair's read
// and its lock keeps its claim (else a third name could import it too).
func TestRepairKeepsAClaimWrittenWhileItLooked(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	ctx := context.Background()
	sl, err := e.b.registry.keys.get(ctx, e.storage)
	must(t, err)
	access, refresh := e.fake.IssueTokens(nil)
	k := grantKeyOf(sl, refresh)
	must(t, putJSON(ctx, e.storage, k.storageKey(), grantClaim{Name: "gone"})) // left by a crash
	s := &onFirstGet{Storage: e.storage, key: k.storageKey(), then: func() {
		e.mustOK(logical.UpdateOperation, "creds/new", map[string]any{keyAccessToken: access, keyRefreshToken: refresh,
			keyExpiresAt: e.clock.Now().Add(year).Format(time.RFC3339)})
	}}
	e.b.registry.checkClaim(ctx, s, sl, k.storageKey())
	var claim grantClaim
	if found, err := getJSON(ctx, e.storage, k.storageKey(), &claim); err != nil || !found || claim.Name != "new" {
		t.Fatalf("the claim of the grant imported while the repair looked: %+v (found %v, %v)", claim, found, err)
	}
}

// A node that does not load the schedule (a performance standby: it cannot
// write) keeps no record of the creds other nodes change: it would grow to
// every name of the mount.
func TestANodeWithoutTheScheduleKeepsNoStaleNames(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	restart(e)
	for i := range 100 {
		e.b.invalidate(context.Background(), fmt.Sprintf("%suser-%d", credsStoragePrefix, i))
	}
	if n := len(e.b.registry.load.takeStale(1000)); n != 0 {
		t.Fatalf("a node that has not loaded the schedule keeps %d stale names", n)
	}
	tick(t, e)
	e.b.invalidate(context.Background(), credsStoragePrefix+"user-1")
	if got := e.b.registry.load.takeStale(1000); !slices.Equal(got, []string{"user-1"}) {
		t.Fatalf("the node with the schedule keeps %v as changed elsewhere", got)
	}
}
