package jawbone

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

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

// refreshDueCreds refreshes, with bounded concurrency, every creds entry
// whose refresh window has opened, skipping entries that need
// re-authorization or are backing off after failures.
func (b *backend) refreshDueCreds(ctx context.Context, s logical.Storage) error {
	cfg, err := b.getConfig(ctx, s)
	if err != nil || cfg == nil {
		return err
	}
	names, err := b.listGrants(ctx, s)
	if err != nil {
		return err
	}
	started := time.Now()
	needReauth := 0
	slots := make(chan struct{}, backgroundWorkers)
	var wg sync.WaitGroup
	for _, name := range names {
		g, err := b.scanGrant(ctx, s, name)
		if err != nil || g == nil {
			continue
		}
		if g.NeedsReauth {
			needReauth++
		}
		if !g.wantsRefresh(cfg.RefreshAhead, b.now()) {
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
