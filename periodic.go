package jawbone

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/jawbone"
)

const (
	// backgroundWorkers bounds how many refreshes the periodic tick runs at
	// once: enough to catch up quickly, few enough never to hammer Jawbone.
	backgroundWorkers = 4
	// backgroundJitterMax spreads the tick's refreshes over a few seconds so
	// many tokens entering their window together do not arrive as one burst.
	backgroundJitterMax = 5 * time.Second
	// maxAttendedPerTick bounds the refreshes and settlements of one tick
	// (about a minute apart): the most overdue go first, the rest wait for
	// the next tick, so that a backlog (after an outage) drains steadily.
	maxAttendedPerTick = 500
)

// periodic runs on Vault's rollback tick (about once a minute) on the node
// that may write: it drops abandoned states, loads the schedule after a
// start, refreshes due tokens (so readers rarely wait on Jawbone), settles
// attempts in doubt, checks that Jawbone still accepts the tokens, and
// repairs the indexes a little. It visits only what is due.
func (b *backend) periodic(ctx context.Context, req *logical.Request) error {
	if !b.canWriteStorage() {
		return nil
	}
	s := req.Storage
	if err := b.sweepExpiredStates(ctx, s); err != nil {
		b.log().Warn("sweeping expired states failed", "error", err)
	}
	b.registry.startLoading(b.background, s)
	cfg, err := b.getConfig(ctx, s)
	if err != nil || cfg == nil {
		return err
	}
	started := time.Now()
	b.registry.rereadStale(ctx, s, repairBudget)
	attended, checks := b.registry.due(cfg, b.now())
	b.runJobs(ctx, attended, func(name string) {
		res := b.refreshShared(ctx, s, cfg, name)
		if res.err != nil || res.fatal != nil {
			b.log().Warn("background refresh failed", "name", name, "error", errors.Join(res.err, res.fatal))
		}
	})
	b.runJobs(ctx, checks, func(name string) { b.checkLiveness(ctx, s, cfg, name) })
	b.registry.repair(ctx, s, repairBudget)
	b.registry.forgetOldDisconnects(ctx, s)
	b.metrics.ticked(b.now(), time.Since(started), len(attended), len(checks))
	return nil
}

// runJobs runs job for each name, with bounded concurrency and jitter (one
// worker: in turn, in this goroutine).
func (b *backend) runJobs(ctx context.Context, names []string, job func(name string)) {
	if b.scanWorkers <= 1 {
		for _, name := range names {
			if b.waitJitter(ctx) {
				job(name)
			}
		}
		return
	}
	slots := make(chan struct{}, b.scanWorkers)
	var wg sync.WaitGroup
	for _, name := range names {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if b.waitJitter(ctx) {
				job(name)
			}
		}()
	}
	wg.Wait()
}

// checkLiveness asks Jawbone whether it still accepts the token of name.
// A token it rejects though it has not expired was killed outside Vault
// (another client refreshed the grant: an old kiefer app still running);
// it is refreshed once.
func (b *backend) checkLiveness(ctx context.Context, s logical.Storage, cfg *config, name string) {
	err := b.registry.update(ctx, s, name, func(tx *grantTx) error {
		g, now := tx.current, b.now()
		if g == nil || !g.checkDue(cfg.CheckInterval, now) {
			return nil
		}
		xid, works, err := b.check(ctx, cfg, g)
		switch {
		case works:
			return tx.put(g.checked(now).learned(xid))
		case jawbone.KindOf(err) != jawbone.TokenRejected:
			// No reader waits on a liveness check: it is tried again later,
			// without a warning on the creds.
			b.log().Debug("liveness check got no answer", "name", name, "error", err)
			b.registry.deferCheck(name, now.Add(min(cfg.CheckInterval, backoffMax)))
			return nil
		}
		b.metrics.foundDead()
		b.log().Warn("Jawbone no longer accepts the stored access token, though it has not expired: another client refreshed the grant; refreshing", "name", name)
		res := b.refreshLocked(tx, cfg, g, 1, true)
		return errors.Join(res.fatal, res.err)
	})
	if err != nil {
		b.log().Warn("liveness check failed", "name", name, "error", err)
	}
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
