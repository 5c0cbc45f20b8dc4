package jawbone

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	// backgroundWorkers bounds how many refreshes the periodic scan runs at
	// once: enough to catch up quickly, few enough never to hammer Jawbone.
	backgroundWorkers = 4
	// backgroundJitterMax spreads the scan's refreshes over a few seconds so
	// many tokens entering their window together do not arrive as one burst.
	backgroundJitterMax = 5 * time.Second
)

// periodic runs on Vault's rollback tick (about once a minute) on the node
// that may write: it drops abandoned states and refreshes due tokens, so
// readers rarely wait on Jawbone.
func (b *backend) periodic(ctx context.Context, req *logical.Request) error {
	if !b.canWriteStorage() {
		return nil
	}
	if err := b.sweepExpiredStates(ctx, req.Storage); err != nil {
		b.Logger().Warn("sweeping expired states failed", "error", err)
	}
	return b.refreshDueCreds(ctx, req.Storage)
}

// canWriteStorage is false where refreshed tokens could not be stored:
// performance standbys, DR secondaries, and performance secondaries except
// for a local mount (whose storage the secondary owns).
func (b *backend) canWriteStorage() bool {
	sys := b.System()
	if sys == nil {
		return true
	}
	state := sys.ReplicationState()
	if state.HasState(consts.ReplicationPerformanceStandby | consts.ReplicationDRSecondary) {
		return false
	}
	return sys.LocalMount() || !state.HasState(consts.ReplicationPerformanceSecondary)
}

// refreshDueCreds refreshes, with bounded concurrency, every creds entry
// whose refresh window has opened, skipping entries that need
// re-authorization or are backing off after failures.
func (b *backend) refreshDueCreds(ctx context.Context, s logical.Storage) error {
	cfg, err := b.getConfig(ctx, s)
	if err != nil || cfg == nil {
		return err
	}
	names, err := s.List(ctx, credsStoragePrefix)
	if err != nil {
		return err
	}
	started := time.Now()
	needReauth := 0
	slots := make(chan struct{}, backgroundWorkers)
	var wg sync.WaitGroup
	for _, name := range names {
		entry, err := b.scanCreds(ctx, s, name)
		if err != nil || entry == nil {
			continue
		}
		if entry.NeedsReauth {
			needReauth++
		}
		now := b.now()
		if !wantsRefresh(entry, cfg.RefreshAhead, now) {
			continue
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if !b.waitJitter(ctx) {
				return
			}
			if res := b.refreshCreds(ctx, s, cfg, name, false); res.err != nil {
				b.Logger().Warn("background refresh failed", "name", name, "error", res.err)
			}
		}()
	}
	wg.Wait()
	b.metrics.scanned(b.now(), time.Since(started), len(names), needReauth)
	return nil
}

// scanCreds reads an entry for the scan without filling the cache, so a
// scan over many creds does not push out the entries readers use.
func (b *backend) scanCreds(ctx context.Context, s logical.Storage, name string) (*credsEntry, error) {
	key := credsStoragePrefix + name
	if v, ok, _ := b.cache.get(key); ok {
		return v.(*credsEntry), nil
	}
	var c credsEntry
	found, err := getJSON(ctx, s, key, &c)
	if !found || err != nil {
		return nil, err
	}
	return &c, nil
}

// waitJitter waits a random moment, or returns false if ctx ends first.
func (b *backend) waitJitter(ctx context.Context) bool {
	d := b.jitter()
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func randomJitter() time.Duration {
	return rand.N(backgroundJitterMax)
}
