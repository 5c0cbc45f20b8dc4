package jawbone

// The grant registry: the one place that knows where grants are stored,
// how they are indexed, cached and locked. Flows read grants through it and
// change them only inside its critical section (update), whose writes keep
// storage, the indexes, the cache and the in-memory schedule in step.
//
// Storage (every key below creds/ and index/ is seal-wrapped, as is salt):
//
//	creds/<name>                        the grant (the layout of v0.1, kept)
//	index/grant/<h:2>/<h:30>            which name holds the grant whose refresh
//	                                    token hashes to h
//	index/account/<a:2>/<a:14>/<name>   name holds a grant of the account that
//	                                    hashes to a
//	index/meta                          every grant is in the indexes
//	salt                                the key of the hashes (HMAC-SHA256)
//
// Why these two indexes live in storage: they decide who may write (a grant
// held by another name is refused; a revoke affects the account's other
// names), so they must be exact from the first request after a restart or
// a failover, before anything could be rebuilt. Storage has no transactions
// across keys, so they are hints that every use verifies against the grant
// they point to, and writes are ordered so that a crash leaves at worst a
// stale entry (a claim written before the grant; an old one not yet
// dropped), never a missing one: a paced repair (reindex.go) drops the
// stale ones. The hashes are keyed, so a storage key never holds a refresh
// token or anything that leads to one.
//
// Why the schedule lives in memory (memindex.go): when each grant is next
// due, and when its token was last checked, changes with nearly every write
// and with the config (refresh_ahead, check_interval); kept in storage it
// would double the writes of every refresh and need a rewrite of every
// entry on a config change. In memory it is exact, ordered and costs about
// 130–160 bytes a grant (memindex.go). Only the node that can write
// keeps it (the background runs nowhere else); it is rebuilt from storage
// in the background when the plugin starts, while reads, which never need
// it, are served at once.

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/salt"
	"github.com/hashicorp/vault/sdk/logical"
)

// Storage layout. Every prefix here is listed in PathsSpecial.SealWrapStorage.
const (
	configStoragePath  = "config"
	credsStoragePrefix = "creds/"
	stateStoragePrefix = "state/"
	indexPrefix        = "index/"
	grantIndexPrefix   = indexPrefix + "grant/"
	accountIndexPrefix = indexPrefix + "account/"
	disconnectPrefix   = indexPrefix + "disconnect/"
	indexMetaPath      = indexPrefix + "meta"
	saltStoragePath    = "salt"
)

// grantLayout is stamped on every grant this version writes: a grant
// without it was written by v0.1.x (or by it after a downgrade), which kept
// no indexes, and is indexed when the registry loads.
const grantLayout = 2

// registry is where grants are stored, indexed, cached and locked.
type registry struct {
	cache  *entryCache
	names  keyLocks // one critical section per creds name
	grants keyLocks // one per grant, by its key
	mem    *memIndex
	keys   keyring
	log    func() hclog.Logger
	now    func() time.Time
	// spawn runs the background load: in a goroutine of its own (the
	// concurrent simulation runs it in the tick, where its scheduler sees
	// it).
	spawn func(func())
	// accounts are locks by Jawbone account: held by a revoke from listing
	// the account's names to the end of its disconnect, and by a write
	// that adds a name to an account.
	accounts    keyLocks
	disconnects disconnectLog

	// indexed is set once the storage indexes are known to hold every
	// grant (index/meta); until then, whether another name holds a grant
	// is answered by reading every grant, as v0.1 did.
	indexed atomic.Bool
	// load is the background load of the schedule (reindex.go).
	load loadState
	// repairAt is where the index repair goes on from (reindex.go).
	repairAt repairCursor
}

func newRegistry(cacheBytes int, log func() hclog.Logger, now func() time.Time) *registry {
	return &registry{cache: newEntryCache(cacheBytes), mem: newMemIndex(), log: log, now: now, spawn: func(f func()) { go f() }}
}

// grantKey is the keyed hash of a refresh token: what the grant index is
// keyed by. 128 bits: no two of a million grants share one.
type grantKey [16]byte

func (k grantKey) storageKey() string {
	h := hex.EncodeToString(k[:])
	return grantIndexPrefix + h[:2] + "/" + h[2:]
}

// accountKey is where the account index records that name holds a grant
// of the account that hashes to account.
func accountKey(account uint64, name string) string {
	return accountDir(account) + name
}

// accountDir is the folder of an account's entries; account 0 is the
// grants whose account is not known (any revoke may concern them).
func accountDir(account uint64) string {
	if account == 0 {
		return accountIndexPrefix + "00/unknown/"
	}
	h := fmt.Sprintf("%016x", account)
	return accountIndexPrefix + h[:2] + "/" + h[2:] + "/"
}

// keyring hashes refresh tokens and accounts with the mount's key, made
// (and stored) on first use with the SDK's salt helper. Its lock is held
// across the storage calls, so that two first uses cannot make two keys.
type keyring struct {
	lock keyLocks
	salt *salt.Salt
}

func (k *keyring) get(ctx context.Context, s logical.Storage) (*salt.Salt, error) {
	defer k.lock.lock(saltStoragePath)()
	if k.salt == nil {
		sl, err := salt.NewSalt(ctx, s, &salt.Config{Location: saltStoragePath})
		if err != nil {
			return nil, storageError("reading", saltStoragePath, err)
		}
		k.salt = sl
	}
	return k.salt, nil
}

func (k *keyring) forget() {
	defer k.lock.lock(saltStoragePath)()
	k.salt = nil
}

// grantKeyOf is the key of the grant whose refresh token is refresh.
func grantKeyOf(sl *salt.Salt, refresh string) grantKey {
	var k grantKey
	sum, _ := hex.DecodeString(sl.GetHMAC("grant:" + refresh))
	copy(k[:], sum)
	return k
}

// accountHash is the hash of a Jawbone account; 0 for one not known.
func accountHash(sl *salt.Salt, xid string) uint64 {
	if xid == "" {
		return 0
	}
	sum, _ := hex.DecodeString(sl.GetHMAC("account:" + xid))
	return max(binary.BigEndian.Uint64(sum), 1)
}

// grantClaim is an entry of the grant index: the name that holds the
// grant, and, once that name is deleted, an attempt on the grant made for
// it that Jawbone may still carry out until AttemptLandsBy. What may still
// land outlives the name: whoever stores the grant again before then
// inherits the attempt.
type grantClaim struct {
	Name             string    `json:"name"`
	AttemptStartedAt time.Time `json:"attempt_started_at,omitzero"`
	AttemptLandsBy   time.Time `json:"attempt_lands_by,omitzero"`
}

// heldBy is what the grant index says of a grant: the name that holds it
// (verified against its grant), and an attempt on it that a deleted name
// left.
type heldBy struct {
	name             string
	attemptStartedAt time.Time
	attemptLandsBy   time.Time
}

// inDoubt reports whether a deleted name's attempt on the grant may still
// land at now.
func (h heldBy) inDoubt(now time.Time) bool { return now.Before(h.attemptLandsBy) }

// --- reads ----------------------------------------------------------------

// Grants handed out by get and peek are shared with the cache: treat them
// as read-only, and store changed copies with grantTx.put.

// get is the grant of name, through the cache; nil if there is none.
func (r *registry) get(ctx context.Context, s logical.Storage, name string) (*grant, error) {
	return cachedGet[grant](ctx, r.cache, s, credsStoragePrefix+name)
}

// peek is get without filling the cache, for background work over many
// grants, which must not push out the ones readers use.
func (r *registry) peek(ctx context.Context, s logical.Storage, name string) (*grant, error) {
	return peekGet[grant](ctx, r.cache, s, credsStoragePrefix+name)
}

// list is up to limit names after after, in order (limit <= 0: every
// name). It is served from memory once the registry is loaded, and from
// storage until then.
func (r *registry) list(ctx context.Context, s logical.Storage, after string, limit int) ([]string, error) {
	if r.load.done.Load() {
		return r.mem.page(after, limit), nil
	}
	names, err := s.List(ctx, credsStoragePrefix)
	if err != nil {
		return nil, fmt.Errorf("listing creds: %w", err)
	}
	slices.Sort(names)
	i, _ := slices.BinarySearch(names, after)
	if i < len(names) && names[i] == after {
		i++
	}
	names = names[i:]
	if limit > 0 && len(names) > limit {
		names = names[:limit]
	}
	return names, nil
}

// namesOfAccount are the names other than except holding a grant of
// account xid ("": whose account is not known), from the account index,
// each verified against its grant; from every grant, until the indexes
// are complete (the first load after an upgrade from v0.1).
func (r *registry) namesOfAccount(ctx context.Context, s logical.Storage, xid, except string) ([]string, error) {
	sl, err := r.keys.get(ctx, s)
	if err != nil {
		return nil, err
	}
	indexed, err := r.isIndexed(ctx, s)
	if err != nil {
		return nil, err
	}
	var listed []string
	if indexed {
		listed, err = s.List(ctx, accountDir(accountHash(sl, xid)))
	} else {
		listed, err = s.List(ctx, credsStoragePrefix)
	}
	if err != nil {
		return nil, fmt.Errorf("listing the names of an account: %w", err)
	}
	read := r.get
	if !indexed {
		read = r.peek // a scan: not worth caching
	}
	var names []string
	for _, n := range listed {
		if n == except {
			continue
		}
		g, err := read(ctx, s, n)
		if err != nil {
			return nil, err
		}
		if g != nil && g.AccountXID == xid {
			names = append(names, n)
		}
	}
	return names, nil
}

// due is what the background must attend to by now (at most
// maxAttendedPerTick) and the liveness checks due by now (at most the
// config's rate), the most overdue first.
func (r *registry) due(cfg *config, now time.Time) (attend, check []string) {
	r.mem.configure(cfg.RefreshAhead, cfg.CheckInterval)
	return r.mem.dueForAttention(now, maxAttendedPerTick), r.mem.dueForCheck(now, cfg.MaxChecksPerMinute)
}

// deferCheck puts the liveness check of name off until at, in memory
// only: a check that got no answer is tried again later.
func (r *registry) deferCheck(name string, at time.Time) {
	r.mem.deferCheck(name, at)
}

// --- the critical section ---------------------------------------------------

// grantTx is one critical section of one name: its grant as stored, and
// the writes that keep storage, the indexes, the cache and the schedule in
// step. It also holds the lock of every grant whose holder it checked, so
// that the check still holds when it writes.
type grantTx struct {
	r       *registry
	ctx     context.Context
	s       logical.Storage
	name    string
	current *grant // as stored; nil: none
	checked map[grantKey]heldBy
	// beganAt is when tx began (see disconnects).
	beganAt time.Time
	// locks are the grant and account locks tx holds: shared by the
	// transactions of one updateAll, which run in one goroutine and must
	// not wait on a lock one of them holds.
	locks *heldLocks
}

// heldLocks are the grant and account locks held by a transaction, or by
// the transactions of one updateAll.
type heldLocks struct {
	grants   map[grantKey]func()
	accounts map[string]func()
	order    []func() // every unlock, in the order taken
}

// release unlocks everything, in reverse order, once.
func (h *heldLocks) release() {
	for _, unlock := range slices.Backward(h.order) {
		unlock()
	}
	*h = heldLocks{}
}

// update runs fn inside name's critical section, with the grant as stored.
// It is the only way to change a grant, and the only way to call Jawbone
// about it: no two writers of one name overwrite each other's result, and
// a check made in fn still holds when fn writes.
func (r *registry) update(ctx context.Context, s logical.Storage, name string, fn func(tx *grantTx) error) error {
	defer r.names.lock(name)()
	current, err := r.get(ctx, s, name)
	if err != nil {
		return err
	}
	tx := &grantTx{r: r, ctx: ctx, s: s, name: name, current: current, beganAt: r.now(), locks: &heldLocks{}}
	defer tx.locks.release()
	return fn(tx)
}

// updateAll runs fn inside the critical sections of every name, taken in
// order (so that two callers never wait on each other), with a grantTx for
// each name in the order given.
func (r *registry) updateAll(ctx context.Context, s logical.Storage, names []string, fn func(txs []*grantTx) error) error {
	for _, name := range slices.Compact(slices.Sorted(slices.Values(names))) {
		defer r.names.lock(name)()
	}
	locks := &heldLocks{}
	defer locks.release()
	txs := make([]*grantTx, len(names))
	for i, name := range names {
		current, err := r.get(ctx, s, name)
		if err != nil {
			return err
		}
		txs[i] = &grantTx{r: r, ctx: ctx, s: s, name: name, current: current, beganAt: r.now(), locks: locks}
	}
	return fn(txs)
}

// lockGrant takes the lock of the grant key k for the rest of tx.
func (tx *grantTx) lockGrant(k grantKey) {
	h := tx.locks
	if _, ok := h.grants[k]; ok {
		return
	}
	if h.grants == nil {
		h.grants = map[grantKey]func(){}
	}
	unlock := tx.r.grants.lock(string(k[:]))
	h.grants[k] = unlock
	h.order = append(h.order, unlock)
}

// holder is who holds the grant of refresh, other than tx's name (name
// "": nobody), and any attempt on it a deleted name left in doubt. The
// grant stays locked until tx ends: no other name can take it meanwhile,
// and tx may store it.
func (tx *grantTx) holder(refresh string) (heldBy, error) {
	sl, err := tx.r.keys.get(tx.ctx, tx.s)
	if err != nil {
		return heldBy{}, err
	}
	k := grantKeyOf(sl, refresh)
	tx.lockGrant(k)
	held, err := tx.r.holderLocked(tx.ctx, tx.s, k, refresh, tx.name)
	if err == nil {
		if tx.checked == nil {
			tx.checked = map[grantKey]heldBy{}
		}
		tx.checked[k] = held
	}
	return held, err
}

// holderLocked answers holder under the grant's lock: from the grant index,
// verified against the grant it names, once every grant is indexed; by
// reading every grant before then.
func (r *registry) holderLocked(ctx context.Context, s logical.Storage, k grantKey, refresh, except string) (heldBy, error) {
	var claim grantClaim
	found, err := getJSON(ctx, s, k.storageKey(), &claim)
	if err != nil {
		return heldBy{}, err
	}
	held := heldBy{attemptStartedAt: claim.AttemptStartedAt, attemptLandsBy: claim.AttemptLandsBy}
	indexed, err := r.isIndexed(ctx, s)
	if err != nil {
		return heldBy{}, err
	}
	if !indexed {
		held.name, err = r.scanForHolder(ctx, s, refresh, except)
		return held, err
	}
	if !found || claim.Name == except {
		return held, nil
	}
	g, err := r.get(ctx, s, claim.Name)
	if err != nil {
		return heldBy{}, err
	}
	if g != nil && g.RefreshToken == refresh {
		held.name = claim.Name
	}
	return held, nil // else a stale claim: its name holds another grant now
}

// scanForHolder reads every grant: the answer before the indexes are
// complete (the first load after an upgrade from v0.1).
func (r *registry) scanForHolder(ctx context.Context, s logical.Storage, refresh, except string) (string, error) {
	names, err := s.List(ctx, credsStoragePrefix)
	if err != nil {
		return "", fmt.Errorf("listing creds: %w", err)
	}
	for _, n := range names {
		if n == except {
			continue
		}
		g, err := r.peek(ctx, s, n)
		if err != nil {
			return "", err
		}
		if g != nil && g.RefreshToken == refresh {
			return n, nil
		}
	}
	return "", nil
}

// isIndexed reports whether every grant is in the storage indexes.
func (r *registry) isIndexed(ctx context.Context, s logical.Storage) (bool, error) {
	if r.indexed.Load() {
		return true, nil
	}
	var meta indexMeta
	found, err := getJSON(ctx, s, indexMetaPath, &meta)
	if err != nil {
		return false, err
	}
	if found && meta.Indexed {
		r.indexed.Store(true)
	}
	return r.indexed.Load(), nil
}

// indexMeta is index/meta.
type indexMeta struct {
	Indexed bool `json:"indexed"`
}

// sharedGrant refuses to store under a second name a grant that the
// creds other hold: two names that share a grant kill each other's
// access token with every refresh.
func sharedGrant(other string) *requestError {
	return badRequest("this grant is stored as the creds %q already: two names that share a grant kill each other's access token with every refresh", other).withFix(fixSharedGrant(other)).withPublic(sharedGrantForAnyone())
}

// put stores g as the grant of tx's name. The order makes every crash
// safe: the claim of a new grant and the account entry first (a crash
// leaves a claim its name does not hold, which every use sees through),
// then the grant, then the old grant's claim and account entry are
// dropped (a crash leaves them stale, the same). A grant another name
// holds is refused, whether or not fn asked holder first.
//
// The locks are taken grants first, then the account, which is held only
// for this write: a transaction may store twice, under two accounts (an
// exchange that learns the account of the grant it replaces, then stores
// one whose account it could not check), and holding the first while
// waiting for the second would wait on a revoke that holds the second and
// waits for the first.
func (tx *grantTx) put(g *grant) error {
	sl, err := tx.r.keys.get(tx.ctx, tx.s)
	if err != nil {
		return err
	}
	newKey, newAccount := grantKeyOf(sl, g.RefreshToken), accountHash(sl, g.AccountXID)
	var oldKey grantKey
	var oldAccount uint64
	old := tx.current
	if old != nil {
		oldKey, oldAccount = grantKeyOf(sl, old.RefreshToken), accountHash(sl, old.AccountXID)
	}
	indexedOld := old != nil && old.Layout >= grantLayout
	if !indexedOld || oldKey != newKey {
		held, err := tx.claim(newKey, g.RefreshToken)
		if err != nil {
			return err
		}
		if held.inDoubt(tx.r.now()) && !g.attempting() {
			g = g.withInheritedAttempt(held.attemptStartedAt, held.attemptLandsBy)
		}
	}
	keptOld := false
	if old != nil && oldKey != newKey {
		if keptOld, err = tx.keepAttempt(oldKey, old); err != nil {
			return err
		}
	}
	if !indexedOld || oldAccount != newAccount {
		// The name joins the account: under the account's lock, so that a
		// revoke of the account sees it, or it sees the revoke.
		defer tx.lockAccountForWrite(g.AccountXID)()
		if err := putJSON(tx.ctx, tx.s, accountKey(newAccount, tx.name), struct{}{}); err != nil {
			return err
		}
	}
	if newToken := old == nil || old.AccessToken != g.AccessToken; newToken && !g.attempting() {
		until, ok, err := tx.r.disconnects.concerning(tx.ctx, tx.s, newAccount, tx.beganAt)
		if err != nil {
			return err
		}
		if ok {
			// The account was being disconnected while tx got this token,
			// or a disconnect of it may still land: the token may be dead,
			// or die. It is stored in doubt, and checked before it is
			// handed out, until the disconnect can no longer land.
			g = g.withInheritedAttempt(tx.r.now(), later(until, tx.r.now()))
		}
	}
	stamped := *g
	stamped.Layout = grantLayout
	if err := cachedPut(tx.ctx, tx.r.cache, tx.s, credsStoragePrefix+tx.name, &stamped); err != nil {
		return err
	}
	tx.current = &stamped
	tx.r.mem.set(tx.name, summarize(&stamped, newKey, newAccount))
	if old != nil && oldKey != newKey && !keptOld {
		tx.r.dropClaim(tx.ctx, tx.s, oldKey, tx.name, tx.locks.grants)
	}
	if old != nil && oldAccount != newAccount {
		tx.r.dropAccountEntry(tx.ctx, tx.s, oldAccount, tx.name)
	}
	return nil
}

// markAttempt records on the grant of refresh, which tx holds the lock of
// and no name holds yet, an attempt on it that Jawbone may carry out until
// landsBy (zero times: none): a later store of the grant inherits it, and
// a later import waits for it. tx itself, should the attempt succeed,
// stores the grant without it.
func (tx *grantTx) markAttempt(refresh string, started, landsBy time.Time) error {
	sl, err := tx.r.keys.get(tx.ctx, tx.s)
	if err != nil {
		return err
	}
	k := grantKeyOf(sl, refresh)
	claim := grantClaim{Name: tx.name, AttemptStartedAt: started, AttemptLandsBy: landsBy}
	return putJSON(tx.ctx, tx.s, k.storageKey(), claim)
}

// lockAccounts takes the locks of the accounts xids (in order: "", the
// grants whose account is not known, first) for the rest of tx; those it
// holds already are kept. Only a revoke holds account locks beyond one
// write, and takes them at once.
func (tx *grantTx) lockAccounts(xids ...string) {
	h := tx.locks
	for _, xid := range slices.Compact(slices.Sorted(slices.Values(xids))) {
		if _, ok := h.accounts[xid]; ok {
			continue
		}
		if h.accounts == nil {
			h.accounts = map[string]func(){}
		}
		unlock := tx.r.accounts.lock(xid)
		h.accounts[xid] = unlock
		h.order = append(h.order, unlock)
	}
}

// lockAccountForWrite takes the lock of account xid for one write of tx,
// unless tx holds it already (a revoke's accounts); it returns the unlock.
func (tx *grantTx) lockAccountForWrite(xid string) (unlock func()) {
	if _, ok := tx.locks.accounts[xid]; ok {
		return func() {}
	}
	return tx.r.accounts.lock(xid)
}

// claim records in the grant index that tx's name holds the grant k,
// unless another name verifiably holds it, and returns what the index said
// of the grant before.
func (tx *grantTx) claim(k grantKey, refresh string) (heldBy, error) {
	tx.lockGrant(k)
	held, checked := tx.checked[k]
	if !checked {
		var err error
		if held, err = tx.r.holderLocked(tx.ctx, tx.s, k, refresh, tx.name); err != nil {
			return heldBy{}, err
		}
	}
	if held.name != "" {
		return heldBy{}, sharedGrant(held.name)
	}
	return held, putJSON(tx.ctx, tx.s, k.storageKey(), grantClaim{Name: tx.name})
}

// delete forgets tx's grant: the grant, then its index entries (but an
// attempt on it that may still land, see keepAttempt).
func (tx *grantTx) delete() error {
	old := tx.current
	if old == nil {
		return nil
	}
	sl, err := tx.r.keys.get(tx.ctx, tx.s)
	if err != nil {
		return err
	}
	k := grantKeyOf(sl, old.RefreshToken)
	kept, err := tx.keepAttempt(k, old)
	if err != nil {
		return err
	}
	if err := cachedDelete(tx.ctx, tx.r.cache, tx.s, credsStoragePrefix+tx.name); err != nil {
		return err
	}
	tx.current = nil
	tx.r.mem.remove(tx.name)
	if !kept {
		tx.r.dropClaim(tx.ctx, tx.s, k, tx.name, tx.locks.grants)
	}
	tx.r.dropAccountEntry(tx.ctx, tx.s, accountHash(sl, old.AccountXID), tx.name)
	return nil
}

// keepAttempt records, in the claim of grant k that tx is about to stop
// holding (old: deleted, or replaced by another grant), an attempt on it
// that Jawbone may still carry out: what may still land outlives the name,
// and whoever stores the grant before then inherits it. It is written
// while the name still holds the grant (a crash then leaves the claim
// with the attempt), and stays until the attempt can no longer land (the
// repair drops it then). kept reports whether there was one.
func (tx *grantTx) keepAttempt(k grantKey, old *grant) (kept bool, err error) {
	landsBy := old.landsBy(maxRequestTimeout)
	if !old.attempting() || !tx.r.now().Before(landsBy) {
		return false, nil
	}
	tx.lockGrant(k)
	claim := grantClaim{Name: tx.name, AttemptStartedAt: old.AttemptStartedAt, AttemptLandsBy: landsBy}
	return true, putJSON(tx.ctx, tx.s, k.storageKey(), claim)
}

// dropClaim deletes the claim k if it still names name. It takes the
// grant's lock only if it is free (held: the locks tx holds): whoever
// holds it may be claiming the grant for another name, and a claim left
// stale is harmless (every use verifies it; the repair drops it).
func (r *registry) dropClaim(ctx context.Context, s logical.Storage, k grantKey, name string, held map[grantKey]func()) {
	if _, ok := held[k]; !ok {
		unlock, ok := r.grants.tryLock(string(k[:]))
		if !ok {
			return
		}
		defer unlock()
	}
	var claim grantClaim
	found, err := getJSON(ctx, s, k.storageKey(), &claim)
	if err == nil && found && claim.Name == name {
		err = deleteEntry(ctx, s, k.storageKey())
	}
	if err != nil {
		r.log().Debug("a stale grant index entry is left for the repair", "name", name, "error", err)
	}
}

func (r *registry) dropAccountEntry(ctx context.Context, s logical.Storage, account uint64, name string) {
	if err := deleteEntry(ctx, s, accountKey(account, name)); err != nil {
		r.log().Debug("a stale account index entry is left for the repair", "name", name, "error", err)
	}
}

// invalidated is told of every storage key Vault says changed underneath
// this node (another node's write): the cache drops it, and a grant is
// read again for the schedule at the next tick.
func (r *registry) invalidated(key string) {
	switch key {
	case saltStoragePath:
		r.keys.forget()
	case indexMetaPath:
		r.indexed.Store(false)
	}
	if strings.HasPrefix(key, disconnectPrefix) {
		r.disconnects.forget()
	}
	// Only a node that loads the schedule (the one that can write) keeps
	// what changed: a performance standby would keep every name.
	if name, ok := strings.CutPrefix(key, credsStoragePrefix); ok && name != "" && r.load.started.Load() {
		r.load.markStale(name)
	}
}
