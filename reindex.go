package jawbone

// Keeping the registry's indexes true in the background, on the node that
// can write: loading the schedule when the plugin starts (indexing, on the
// way, every grant an older version wrote), reading again what another node
// changed, and repairing drift between the storage indexes and the grants
// a few hundred entries a tick. None of it is ever on the path of a request.

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/vault/sdk/helper/salt"
	"github.com/hashicorp/vault/sdk/logical"
)

// repairBudget bounds the storage reads the repair makes in one tick.
const repairBudget = 256

// loadState is how far the background load has come.
type loadState struct {
	started atomic.Bool
	done    atomic.Bool
	listed  atomic.Int64 // names found when the load began
	loaded  atomic.Int64 // of those, read so far

	mu sync.Mutex
	// finished is closed once done is set (made by the first to ask).
	finished chan struct{}
	// stale are names to read again: another node changed them, or the
	// load could not read them.
	stale map[string]struct{}
	// duplicates counts grants found held by two names (written by an
	// older version that did not refuse it, or by hand).
	duplicates atomic.Int64
}

// finish records that the schedule is loaded.
func (l *loadState) finish() {
	l.done.Store(true)
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.finishedLocked():
	default:
		close(l.finished)
	}
}

// whenDone is closed once the schedule is loaded.
func (l *loadState) whenDone() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.finishedLocked()
}

func (l *loadState) finishedLocked() chan struct{} {
	if l.finished == nil {
		l.finished = make(chan struct{})
	}
	return l.finished
}

func (l *loadState) markStale(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stale == nil {
		l.stale = map[string]struct{}{}
	}
	l.stale[name] = struct{}{}
}

// takeStale removes up to n stale names and returns them.
func (l *loadState) takeStale(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	names := slices.Sorted(maps.Keys(l.stale)) // in order: a simulation replays the same schedule
	names = names[:min(n, len(names))]
	for _, name := range names {
		delete(l.stale, name)
	}
	return names
}

// startLoading begins the load of the schedule in the background, once per
// plugin start; ctx ends it (the plugin stops).
func (r *registry) startLoading(ctx context.Context, s logical.Storage) {
	if !r.load.started.CompareAndSwap(false, true) {
		return
	}
	r.spawn(func() {
		if err := r.loadAll(ctx, s); err != nil && ctx.Err() == nil {
			r.log().Error("loading the creds schedule failed; the next tick tries again", "error", err)
			r.load.started.Store(false)
		}
	})
}

// loadAll reads every grant into the schedule, indexing those an older
// version wrote, and records when every grant is indexed.
func (r *registry) loadAll(ctx context.Context, s logical.Storage) error {
	names, err := s.List(ctx, credsStoragePrefix)
	if err != nil {
		return err
	}
	r.load.listed.Store(int64(len(names)))
	if len(names) > 0 {
		if err := r.loadNames(ctx, s, names); err != nil {
			return err
		}
	}
	indexed, err := r.isIndexed(ctx, s)
	if err != nil {
		return err
	}
	if !indexed {
		if err := putJSON(ctx, s, indexMetaPath, indexMeta{Indexed: true}); err != nil {
			return err
		}
		r.indexed.Store(true)
	}
	r.load.finish()
	return nil
}

func (r *registry) loadNames(ctx context.Context, s logical.Storage, names []string) error {
	sl, err := r.keys.get(ctx, s)
	if err != nil {
		return err
	}
	r.log().Info("loading the creds schedule", "creds", len(names))
	for _, name := range names {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := r.loadOne(ctx, s, sl, name); err != nil {
			r.log().Warn("could not load creds; the repair tries again", "name", name, "error", err)
			r.load.markStale(name)
		}
		r.load.loaded.Add(1)
	}
	r.log().Info("the creds schedule is loaded", "creds", len(names))
	return nil
}

// loadOne reads the grant of name into the schedule, unless a write put
// it there since the load began.
func (r *registry) loadOne(ctx context.Context, s logical.Storage, sl *salt.Salt, name string) error {
	defer r.names.lock(name)()
	if _, ok := r.mem.get(name); ok {
		return nil
	}
	return r.reread(ctx, s, sl, name, false)
}

// reread reads the grant of name from storage into the schedule, under
// name's lock. A grant an older version wrote is indexed on the way, and
// so is any grant when checkIndex is set.
func (r *registry) reread(ctx context.Context, s logical.Storage, sl *salt.Salt, name string, checkIndex bool) error {
	g, err := r.peek(ctx, s, name)
	if err != nil {
		return err
	}
	if g == nil {
		r.mem.remove(name)
		return nil
	}
	key, account := grantKeyOf(sl, g.RefreshToken), accountHash(sl, g.AccountXID)
	switch {
	case g.Layout < grantLayout:
		err = r.indexLegacy(ctx, s, name, g, key, account)
	case checkIndex:
		err = r.ensureIndexed(ctx, s, name, g, key, account)
	}
	if err != nil {
		return err
	}
	r.mem.set(name, summarize(g, key, account))
	return nil
}

// indexLegacy puts a grant an older version wrote into the storage
// indexes, then stamps it so that this is done once.
func (r *registry) indexLegacy(ctx context.Context, s logical.Storage, name string, g *grant, key grantKey, account uint64) error {
	if err := r.ensureIndexed(ctx, s, name, g, key, account); err != nil {
		return err
	}
	stamped := *g
	stamped.Layout = grantLayout
	return cachedPut(ctx, r.cache, s, credsStoragePrefix+name, &stamped)
}

// ensureIndexed writes the index entries of name's grant g that are
// missing. A grant that another name verifiably holds too is not claimed
// again: that is logged and counted, for the operator to settle.
func (r *registry) ensureIndexed(ctx context.Context, s logical.Storage, name string, g *grant, key grantKey, account uint64) error {
	unlock := r.grants.lock(string(key[:]))
	defer unlock()
	var claim grantClaim
	found, err := getJSON(ctx, s, key.storageKey(), &claim)
	if err != nil {
		return err
	}
	if !found || claim.Name != name {
		other := ""
		if found {
			held, err := r.holderLocked(ctx, s, key, g.RefreshToken, name)
			if err != nil {
				return err
			}
			other = held.name
		}
		if other != "" {
			r.load.duplicates.Add(1)
			r.log().Error("two creds hold one grant: each refresh of one kills the other's token; delete one of them", "name", name, "other", other)
		} else if err := putJSON(ctx, s, key.storageKey(), grantClaim{Name: name}); err != nil {
			return err
		}
	}
	entry, err := s.Get(ctx, accountKey(account, name))
	if err != nil || entry != nil {
		return err
	}
	return putJSON(ctx, s, accountKey(account, name), struct{}{})
}

// --- repair -------------------------------------------------------------------

// repairCursor is where the repair goes on from, tick after tick.
type repairCursor struct {
	mu   sync.Mutex
	name string // the last name whose index entries were checked
	// The index bucket being walked ("00" to "ff", of the grant index,
	// then of the account index), its listing, and how far into it.
	account bool
	bucket  int
	listed  []string
	next    int
	// passes counts the walks over every name completed.
	passes atomic.Int64
	// fixed counts the index entries written or dropped.
	fixed atomic.Int64
}

// rereadStale reads again up to n grants another node changed, or that
// the load could not read, so that the schedule sees them as stored.
func (r *registry) rereadStale(ctx context.Context, s logical.Storage, n int) {
	names := r.load.takeStale(n)
	if len(names) == 0 {
		return
	}
	sl, err := r.keys.get(ctx, s)
	if err != nil {
		return
	}
	for _, name := range names {
		if err := r.rereadLocked(ctx, s, sl, name, false); err != nil {
			r.load.markStale(name)
		}
	}
}

// repair spends up to budget storage reads on the indexes: each name's
// index entries are checked (missing ones written), and the index's
// entries are checked against the names (stale ones dropped). It reads a grant only where something does
// not match, so a tick on an index in order reads no grant.
func (r *registry) repair(ctx context.Context, s logical.Storage, budget int) {
	sl, err := r.keys.get(ctx, s)
	if err != nil {
		return
	}
	if !r.load.done.Load() {
		return // the index in memory is not complete: nothing to compare with
	}
	if !r.repairAt.mu.TryLock() {
		return // another tick is repairing
	}
	defer r.repairAt.mu.Unlock()
	left := r.checkNames(ctx, s, sl, budget/2)
	r.checkEntries(ctx, s, sl, budget-budget/2+left)
}

func (r *registry) rereadLocked(ctx context.Context, s logical.Storage, sl *salt.Salt, name string, checkIndex bool) error {
	defer r.names.lock(name)()
	return r.reread(ctx, s, sl, name, checkIndex)
}

// checkNames checks the index entries of the next names in order, and
// returns what is left of budget.
func (r *registry) checkNames(ctx context.Context, s logical.Storage, sl *salt.Salt, budget int) int {
	cur := &r.repairAt
	for budget > 0 {
		names := r.mem.page(cur.name, budget)
		if len(names) == 0 {
			if cur.name == "" {
				return budget
			}
			cur.name = ""
			cur.passes.Add(1)
			continue
		}
		for _, name := range names {
			cur.name = name
			sum, ok := r.mem.get(name)
			if !ok {
				continue
			}
			budget -= 2
			if !r.indexedAsIs(ctx, s, name, sum) {
				cur.fixed.Add(1)
				if err := r.rereadLocked(ctx, s, sl, name, true); err != nil {
					r.log().Warn("could not repair the index entries of creds", "name", name, "error", err)
				}
			}
		}
	}
	return budget
}

// indexedAsIs reports whether the index entries of name are as its summary
// says; a read that fails counts as in order (the next pass looks again).
func (r *registry) indexedAsIs(ctx context.Context, s logical.Storage, name string, sum summary) bool {
	var claim grantClaim
	found, err := getJSON(ctx, s, sum.grantKey.storageKey(), &claim)
	if err == nil && (!found || claim.Name != name) {
		return false
	}
	entry, err := s.Get(ctx, accountKey(sum.account, name))
	return err != nil || entry != nil
}

// checkEntries checks the next entries of the storage indexes against the
// names they point to, dropping the stale ones.
func (r *registry) checkEntries(ctx context.Context, s logical.Storage, sl *salt.Salt, budget int) {
	cur := &r.repairAt
	for budget > 0 {
		if cur.next >= len(cur.listed) {
			if cur.listed != nil {
				cur.advanceBucket()
			}
			listed, err := s.List(ctx, cur.prefix())
			budget--
			if err != nil {
				return
			}
			if cur.listed, cur.next = listed, 0; len(listed) == 0 {
				cur.advanceBucket()
				continue
			}
		}
		entry := cur.listed[cur.next]
		cur.next++
		budget -= r.checkEntry(ctx, s, sl, cur.prefix()+entry, cur.account)
	}
}

func (c *repairCursor) prefix() string {
	base := grantIndexPrefix
	if c.account {
		base = accountIndexPrefix
	}
	return base + hexByte(c.bucket) + "/"
}

func (c *repairCursor) advanceBucket() {
	c.listed, c.next = nil, 0
	if c.bucket++; c.bucket == 256 {
		c.bucket, c.account = 0, !c.account
	}
}

func hexByte(b int) string { return fmt.Sprintf("%02x", b) }

// checkEntry checks one listed entry of an index bucket and returns the
// storage reads it made.
func (r *registry) checkEntry(ctx context.Context, s logical.Storage, sl *salt.Salt, key string, account bool) int {
	if !account {
		return 1 + r.checkClaim(ctx, s, sl, key)
	}
	// An account's folder: its names.
	names, err := s.List(ctx, key)
	if err != nil {
		return 1
	}
	hash := accountHashOfKey(key)
	reads := 1
	for _, name := range names {
		if sum, ok := r.mem.get(name); ok && sum.account == hash {
			continue
		}
		reads++
		r.dropStaleAccountEntry(ctx, s, sl, key+name, name, hash)
	}
	return reads
}

// checkClaim drops the claim at key if the name it points to does not hold
// that grant; it returns the grant reads it made.
func (r *registry) checkClaim(ctx context.Context, s logical.Storage, sl *salt.Salt, key string) int {
	var claim grantClaim
	found, err := getJSON(ctx, s, key, &claim)
	if err != nil || !found {
		return 0
	}
	gk, ok := grantKeyOfStorageKey(key)
	if !ok || r.now().Before(claim.AttemptLandsBy) {
		return 0 // an attempt a deleted name left may still land: kept till then
	}
	if sum, ok := r.mem.get(claim.Name); ok && sum.grantKey == gk {
		return 0
	}
	unlock, ok := r.grants.tryLock(string(gk[:]))
	if !ok {
		return 0 // being claimed right now: look again on the next pass
	}
	defer unlock()
	// Read again under the lock: a claim may have been written meanwhile.
	var now grantClaim
	if found, err := getJSON(ctx, s, key, &now); err != nil || !found || now != claim {
		return 0
	}
	g, err := r.peek(ctx, s, claim.Name)
	if err != nil || (g != nil && grantKeyOf(sl, g.RefreshToken) == gk) {
		return 1
	}
	if err := deleteEntry(ctx, s, key); err == nil {
		r.repairAt.fixed.Add(1)
	}
	return 1
}

// dropStaleAccountEntry drops the account index entry at key unless the
// grant of name is of that account.
func (r *registry) dropStaleAccountEntry(ctx context.Context, s logical.Storage, sl *salt.Salt, key, name string, hash uint64) {
	defer r.names.lock(name)()
	g, err := r.peek(ctx, s, name)
	if err != nil || (g != nil && accountHash(sl, g.AccountXID) == hash) {
		return
	}
	if err := deleteEntry(ctx, s, key); err == nil {
		r.repairAt.fixed.Add(1)
	}
}

// grantKeyOfStorageKey is the grant key a grant index key holds.
func grantKeyOfStorageKey(key string) (grantKey, bool) {
	var k grantKey
	h := strings.ReplaceAll(strings.TrimPrefix(key, grantIndexPrefix), "/", "")
	if len(h) != hex.EncodedLen(len(k)) {
		return k, false
	}
	_, err := hex.Decode(k[:], []byte(h))
	return k, err == nil
}

// accountHashOfKey is the account hash of an account index folder key.
func accountHashOfKey(key string) uint64 {
	h := strings.ReplaceAll(strings.Trim(strings.TrimPrefix(key, accountIndexPrefix), "/"), "/", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
