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
	// backgroundWorkers bounds how many refreshes the periodic scan runs at
	// once: enough to catch up quickly, few enough never to hammer Jawbone.
	backgroundWorkers = 4
	// backgroundJitterMax spreads the scan's refreshes over a few seconds so
	// many tokens entering their window together do not arrive as one burst.
	backgroundJitterMax = 5 * time.Second
	// maxChecksPerScan bounds the liveness checks of one scan (about a
	// minute apart), so that they are spread over time: 6,000 an hour at
	// most, however many creds there are.
	maxChecksPerScan = 100
)

// periodic runs on Vault's rollback tick (about once a minute) on the node
// that may write: it drops abandoned states, refreshes due tokens (so
// readers rarely wait on Jawbone), settles attempts in doubt and checks
// that Jawbone still accepts the tokens.
func (b *backend) periodic(ctx context.Context, req *logical.Request) error {
	if !b.canWriteStorage() {
		return nil
	}
	if err := b.sweepExpiredStates(ctx, req.Storage); err != nil {
		b.log().Warn("sweeping expired states failed", "error", err)
	}
	return b.refreshDueCreds(ctx, req.Storage)
}

// scanTally is what one background scan saw, each grant as the scan left
// it.
type scanTally struct {
	mu                        sync.Mutex
	seen, needReauth, failing int
}

// refreshDueCreds attends, with bounded concurrency, to every creds entry
// that is due or has an attempt in doubt, skipping entries that need
// re-authorization or are backing off; and checks with Jawbone, a few per
// scan, the healthy tokens not checked for check_interval.
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
	tally := &scanTally{seen: len(names)}
	checks := 0
	slots := make(chan struct{}, b.scanWorkers)
	var wg sync.WaitGroup
	for _, name := range names {
		g, err := b.scanGrant(ctx, s, name)
		if err != nil || g == nil {
			continue
		}
		now := b.now()
		var job func()
		switch {
		case g.wantsAttention(cfg.RefreshAhead, now):
			job = func() {
				res := b.refreshShared(ctx, s, cfg, name)
				if res.err != nil || res.fatal != nil {
					b.log().Warn("background refresh failed", "name", name, "error", errors.Join(res.err, res.fatal))
				}
				tally.count(res.grant)
			}
		case checks < maxChecksPerScan && g.checkDue(cfg.CheckInterval, now):
			checks++
			job = func() { tally.count(b.checkLiveness(ctx, s, cfg, name)) }
		default:
			tally.count(g)
			continue
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if b.waitJitter(ctx) {
				job()
			}
		}()
	}
	wg.Wait()
	b.metrics.scanned(b.now(), time.Since(started), tally.seen, tally.needReauth, tally.failing)
	return nil
}

func (t *scanTally) count(g *grant) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case g == nil:
	case g.NeedsReauth:
		t.needReauth++
	case g.LastError != "":
		t.failing++
	}
}

// checkLiveness asks Jawbone whether it still accepts the token of name.
// A token it rejects though it has not expired was killed outside Vault
// (another client refreshed the grant: an old kiefer app still running);
// it is refreshed once.
func (b *backend) checkLiveness(ctx context.Context, s logical.Storage, cfg *config, name string) (after *grant) {
	err := b.withGrantLocked(ctx, s, name, func(g *grant) error {
		after = g
		now := b.now()
		if g == nil || !g.checkDue(cfg.CheckInterval, now) {
			return nil
		}
		works, err := b.check(ctx, cfg, g)
		switch {
		case works:
			after = g.checked(now)
			return b.putGrant(ctx, s, name, after)
		case jawbone.KindOf(err) != jawbone.TokenRejected:
			b.log().Debug("liveness check got no answer", "name", name, "error", err)
			return nil
		}
		b.metrics.foundDead()
		b.log().Warn("Jawbone no longer accepts the stored access token, though it has not expired: another client refreshed the grant; refreshing", "name", name)
		res := b.refreshLocked(ctx, s, cfg, name, g, 1)
		if res.grant != nil {
			after = res.grant
		}
		return errors.Join(res.fatal, res.err)
	})
	if err != nil {
		b.log().Warn("liveness check failed", "name", name, "error", err)
	}
	return after
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
