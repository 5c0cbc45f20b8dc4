package jawbone

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// disconnectLog records the revokes' disconnects of accounts, so that a
// grant a flow got while its account was being disconnected (or that a
// disconnect still in doubt may end) is not stored as if it surely worked.
// A disconnect ends every grant of the account, the ones stored after it
// was sent included, so what it may still end is not a mark on the grants
// it found: it is kept by account, in storage (index/disconnect/<account>),
// where the node that takes over after a failover or a crash finds it.
// Each node keeps the entries in memory, read once (there are only the
// disconnects of the last hour) and again after another node wrote one.
type disconnectLog struct {
	// write is held while the entries are read from storage, and while one
	// is written or deleted (revokes are rare: one at a time is plenty).
	write keyLocks

	mu     sync.Mutex
	loaded bool
	// landsBy is, by account hash, until when the account's last
	// disconnect may end a token (when it was settled, once it was).
	landsBy map[uint64]time.Time
}

// disconnectEntry is the stored form of one account's last disconnect.
type disconnectEntry struct {
	LandsBy time.Time `json:"lands_by"`
}

// disconnectLogTTL is how long a disconnect is remembered once it can no
// longer land: far longer than any flow takes from its first call to
// Jawbone to its write (a few calls, each within request_timeout).
const disconnectLogTTL = time.Hour

func disconnectKey(account uint64) string {
	return disconnectPrefix + fmt.Sprintf("%016x", account)
}

// settleDisconnect records that the disconnect of the account of xid can no
// longer land. Should that write fail, the disconnect stays in doubt until
// the time noted, which is safe.
func (r *registry) settleDisconnect(ctx context.Context, s logical.Storage, xid string) {
	if err := r.noteDisconnect(ctx, s, xid, r.now()); err != nil {
		r.log().Warn("a disconnect stays in doubt until it can no longer land", "error", err)
	}
}

// noteDisconnect records, before the call, that the account of xid is
// being disconnected by a call Jawbone may carry out until landsBy.
func (r *registry) noteDisconnect(ctx context.Context, s logical.Storage, xid string, landsBy time.Time) error {
	sl, err := r.keys.get(ctx, s)
	if err != nil {
		return err
	}
	d := &r.disconnects
	if err := d.ensureLoaded(ctx, s); err != nil {
		return err
	}
	defer d.write.lock("")()
	account := accountHash(sl, xid)
	if err := putJSON(ctx, s, disconnectKey(account), disconnectEntry{LandsBy: landsBy}); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.landsBy[account] = landsBy
	return nil
}

// concerning reports whether a disconnect may have ended, or may still
// end, a token of account (any account, for 0: one not known) that a flow
// began to get at beganAt: one that could still land then or after. until
// is when the last of them can no longer land.
func (d *disconnectLog) concerning(ctx context.Context, s logical.Storage, account uint64, beganAt time.Time) (until time.Time, ok bool, err error) {
	if err := d.ensureLoaded(ctx, s); err != nil {
		return time.Time{}, false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for a, landsBy := range d.landsBy {
		if (account == 0 || a == account) && !landsBy.Before(beganAt) {
			until, ok = later(until, landsBy), true
		}
	}
	return until, ok, nil
}

// ensureLoaded reads the entries from storage unless this node has them.
func (d *disconnectLog) ensureLoaded(ctx context.Context, s logical.Storage) error {
	if d.isLoaded() {
		return nil
	}
	defer d.write.lock("")()
	if d.isLoaded() {
		return nil
	}
	keys, err := s.List(ctx, disconnectPrefix)
	if err != nil {
		return storageError("listing", disconnectPrefix, err)
	}
	landsBy := make(map[uint64]time.Time, len(keys))
	for _, k := range keys {
		account, perr := strconv.ParseUint(k, 16, 64)
		var e disconnectEntry
		found, err := getJSON(ctx, s, disconnectPrefix+k, &e)
		if err != nil {
			return err
		}
		if perr == nil && found {
			landsBy[account] = e.LandsBy
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.landsBy, d.loaded = landsBy, true
	return nil
}

func (d *disconnectLog) isLoaded() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.loaded
}

// forget makes the next use read the entries again: another node wrote one.
func (d *disconnectLog) forget() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.loaded = false
}

// forgetOldDisconnects deletes what no flow can still be concerned with.
// There are only the disconnects of the last hour: the tick pays for them.
func (r *registry) forgetOldDisconnects(ctx context.Context, s logical.Storage) {
	d := &r.disconnects
	if !d.isLoaded() {
		return // nothing was read or written here since a start
	}
	now := r.now()
	d.mu.Lock()
	var old []uint64
	for account, landsBy := range d.landsBy {
		if now.Sub(landsBy) > disconnectLogTTL {
			old = append(old, account)
		}
	}
	d.mu.Unlock()
	for _, account := range old {
		r.forgetDisconnect(ctx, s, account, now)
	}
}

// forgetDisconnect deletes the disconnect of account if it is still old
// (no revoke noted a new one meanwhile).
func (r *registry) forgetDisconnect(ctx context.Context, s logical.Storage, account uint64, now time.Time) {
	d := &r.disconnects
	defer d.write.lock("")()
	d.mu.Lock()
	landsBy, ok := d.landsBy[account]
	d.mu.Unlock()
	if !ok || now.Sub(landsBy) <= disconnectLogTTL {
		return
	}
	if err := deleteEntry(ctx, s, disconnectKey(account)); err != nil {
		r.log().Debug("an old disconnect is kept until the next tick", "error", err)
		return
	}
	d.mu.Lock()
	delete(d.landsBy, account)
	d.mu.Unlock()
}
