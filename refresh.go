package jawbone

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/jawbone"
)

// credsRead is a grant as a read finds it: refreshed first when it was due.
type credsRead struct {
	cfg   *config
	grant *grant
	// refreshErr is why a refresh the read attempted failed; the grant is
	// then the one stored before.
	refreshErr error
}

// readCreds reads the grant of name, refreshing it first when it is due.
func (b *backend) readCreds(ctx context.Context, s logical.Storage, name string) (*credsRead, error) {
	if err := validateCredsName(name); err != nil {
		return nil, err
	}
	cfg, err := b.requireConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	g, err := b.getGrant(ctx, s, name)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, missingCreds(name)
	}
	read := &credsRead{cfg: cfg, grant: g}
	if g.wantsRefresh(cfg.RefreshAhead, b.now()) {
		res := b.refreshCreds(ctx, s, cfg, name, false)
		if (res.grant == nil && res.err != nil) || errors.Is(res.err, logical.ErrReadOnly) {
			return nil, res.err
		}
		if res.grant == nil {
			return nil, missingCreds(name) // deleted meanwhile
		}
		read.grant, read.refreshErr = res.grant, res.err
	}
	return read, nil
}

// forceRefresh refreshes the grant of name now, whatever its state; a
// failure is an error.
func (b *backend) forceRefresh(ctx context.Context, s logical.Storage, name string) (*credsRead, error) {
	if err := validateCredsName(name); err != nil {
		return nil, err
	}
	cfg, err := b.requireConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	res := b.refreshCreds(ctx, s, cfg, name, true)
	switch {
	case res.grant == nil && res.err == nil:
		return nil, missingCreds(name)
	case res.grant == nil, errors.Is(res.err, logical.ErrReadOnly):
		return nil, res.err
	case res.err != nil:
		return nil, providerFailure(res.err, fixReauth(name))
	}
	return &credsRead{cfg: cfg, grant: res.grant}, nil
}

func missingCreds(name string) error {
	return notFound("no creds named %q", name).withFix(fixMissingCreds(name))
}

// refreshResult is what one shared refresh hands to every waiting reader.
type refreshResult struct {
	grant *grant // the grant as stored afterwards
	err   error  // with grant: why the refresh failed; without: an internal error
}

// refreshCreds refreshes the creds named name if (still) needed. Concurrent
// callers for one name share a single call to Jawbone; the grant is re-read
// inside, so a caller that arrives just after a refresh sees its result
// rather than starting another.
func (b *backend) refreshCreds(ctx context.Context, s logical.Storage, cfg *config, name string, force bool) refreshResult {
	key := name
	if force {
		key = "force\x00" + name
	}
	// The shared call outlives any one caller's cancellation: its result is
	// stored and used by everyone waiting on it.
	shared := context.WithoutCancel(ctx)
	v, _, _ := b.refreshes.Do(key, func() (any, error) {
		return b.refreshIfNeeded(shared, s, cfg, name, force), nil
	})
	return v.(refreshResult)
}

func (b *backend) refreshIfNeeded(ctx context.Context, s logical.Storage, cfg *config, name string, force bool) refreshResult {
	// Holding the name's lock, no other refresh of it runs on this node: a
	// marker found now was left by an attempt that died.
	defer b.credsLocks.lock(name)()
	g, err := b.getGrant(ctx, s, name)
	if err != nil || g == nil {
		return refreshResult{grant: g, err: err}
	}
	now := b.now()
	if !force && g.interrupted() && g.mayRefresh(now) {
		// An attempt died with its outcome unknown: keep the token if
		// Jawbone still accepts it, rather than replacing a working one.
		if settled, ok := b.settleInterrupted(ctx, s, cfg, name, g); ok {
			g = settled
		}
	}
	if !force && !g.wantsRefresh(cfg.RefreshAhead, now) {
		return refreshResult{grant: g}
	}
	if !b.canWriteStorage() {
		// Jawbone kills the old access token on refresh: never refresh where
		// the new one cannot be stored. Vault forwards ErrReadOnly requests
		// to the node that can write.
		return refreshResult{grant: g, err: logical.ErrReadOnly}
	}
	// Mark the attempt before Jawbone can replace the token, so a crash
	// between its reply and our write cannot leave a dead token trusted.
	marked := g.markedRefreshing(now)
	if err := b.putGrant(ctx, s, name, marked); err != nil {
		if errors.Is(err, logical.ErrReadOnly) {
			return refreshResult{err: logical.ErrReadOnly} // unwrapped, so Vault forwards
		}
		return refreshResult{err: fmt.Errorf("marking the refresh of creds %q: %w", name, err)}
	}
	tok, refreshErr := b.client(cfg).Refresh(ctx, g.RefreshToken)
	if refreshErr != nil {
		// A clean error reply proves this attempt replaced nothing (it says
		// nothing about an earlier, interrupted one); otherwise ask Jawbone.
		if (!g.interrupted() && !jawbone.MayHaveIssued(refreshErr)) || b.tokenStillWorks(ctx, cfg, name, g.AccessToken) {
			marked = marked.settled()
		}
		return b.recordFailure(ctx, s, name, marked, refreshErr)
	}
	fresh := newGrant(tok, g.RefreshToken, g.Scopes, b.now())
	if err := b.putGrant(ctx, s, name, fresh); err != nil {
		// Not a provider failure: no grant, so callers answer with a 500. The
		// stored grant is intact and, as refresh tokens do not rotate, the
		// next attempt can refresh again.
		b.Logger().Error("refreshed token could not be stored", "name", name, "error", err)
		return refreshResult{err: fmt.Errorf("refreshed creds %q but could not store the result: %w", name, err)}
	}
	b.metrics.refreshed(b.now())
	b.Logger().Info("creds refreshed", "name", name, "expires_at", fresh.ExpiresAt, "forced", force)
	return refreshResult{grant: fresh}
}

// tokenStillWorks reports whether Jawbone still accepts accessToken; no
// clear answer counts as no.
func (b *backend) tokenStillWorks(ctx context.Context, cfg *config, name, accessToken string) bool {
	works, err := b.client(cfg).TokenWorks(ctx, accessToken)
	if err != nil {
		b.Logger().Warn("could not check whether the stored access token still works", "name", name, "error", err)
	}
	return works
}

// settleInterrupted clears the marker of an interrupted refresh when the
// stored access token still works, and returns the grant as stored.
func (b *backend) settleInterrupted(ctx context.Context, s logical.Storage, cfg *config, name string, g *grant) (*grant, bool) {
	if !b.tokenStillWorks(ctx, cfg, name, g.AccessToken) {
		return nil, false
	}
	settled := g.settled()
	if err := b.putGrant(ctx, s, name, settled); err != nil {
		return nil, false
	}
	b.Logger().Info("an interrupted refresh replaced nothing; keeping the stored token", "name", name)
	return settled, true
}

// recordFailure stores what went wrong, keeping every token: a rejected
// grant is marked for re-authorization, any other failure backs off.
func (b *backend) recordFailure(ctx context.Context, s logical.Storage, name string, g *grant, refreshErr error) refreshResult {
	failed := g.failed(refreshErr, b.now())
	b.metrics.refreshFailed(jawbone.KindOf(refreshErr))
	if failed.NeedsReauth {
		b.Logger().Error("jawbone rejected the refresh token; creds need re-authorization", "name", name, "error", refreshErr)
	} else {
		b.Logger().Warn("refresh failed; will retry", "name", name, "error", refreshErr, "next_attempt_at", failed.NextAttemptAt)
	}
	if err := b.putGrant(ctx, s, name, failed); err != nil {
		// The tokens in storage are untouched; only the bookkeeping is lost.
		b.Logger().Error("could not record refresh failure", "name", name, "error", err)
		return refreshResult{grant: g, err: refreshErr}
	}
	return refreshResult{grant: failed, err: refreshErr}
}
