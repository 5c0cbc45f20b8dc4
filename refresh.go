package jawbone

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

const (
	// Backoff after transient refresh failures: doubling from backoffBase,
	// capped, and never shorter than what the provider asked for.
	backoffBase = 30 * time.Second
	backoffMax  = time.Hour
	// retryAfterMax caps a Retry-After header so a broken provider cannot
	// park a token's refresh for days.
	retryAfterMax = 6 * time.Hour
)

// fixReauthFor tells the operator how to replace a grant Jawbone rejected.
func fixReauthFor(name string) string {
	return "authorize again with vault read jawbone/auth-url name=" + name + " and vault write jawbone/exchange"
}

// newEntry makes a creds entry from a fresh token reply. A reply without a
// refresh token keeps keepRefresh: Jawbone's refresh tokens do not rotate.
func (b *backend) newEntry(tok *token, keepRefresh string, scopes []string) *credsEntry {
	now := b.now()
	refresh := tok.RefreshToken
	if refresh == "" {
		refresh = keepRefresh
	}
	return &credsEntry{
		AccessToken:     tok.AccessToken,
		RefreshToken:    refresh,
		TokenType:       tok.TokenType,
		Scopes:          scopes,
		ExpiresAt:       now.Add(tok.ExpiresIn),
		ObtainedAt:      now,
		LastRefreshedAt: now,
	}
}

// refreshDue reports whether automatic refresh should run for c now: its
// window has opened, or an earlier refresh was interrupted.
func refreshDue(c *credsEntry, refreshAhead time.Duration, now time.Time) bool {
	return c.interrupted() || !now.Before(c.ExpiresAt.Add(-refreshAhead))
}

// wantsRefresh reports whether a read or the background scan should refresh c.
func wantsRefresh(c *credsEntry, refreshAhead time.Duration, now time.Time) bool {
	return refreshDue(c, refreshAhead, now) && refreshAllowed(c, now)
}

// refreshAllowed reports whether an automatic refresh may call Jawbone now:
// not for a grant Jawbone rejected, and not while backing off.
func refreshAllowed(c *credsEntry, now time.Time) bool {
	return !c.NeedsReauth && !now.Before(c.NextAttemptAt)
}

// refreshResult is what one shared refresh hands to every waiting reader.
type refreshResult struct {
	entry *credsEntry // the entry as stored afterwards
	err   error       // with entry: why the refresh failed; without: an internal error
}

// refreshCreds refreshes the creds named name if (still) needed. Concurrent
// callers for one name share a single call to Jawbone; the entry is re-read
// inside, so a caller that arrives just after a refresh sees its result
// rather than starting another.
func (b *backend) refreshCreds(ctx context.Context, s logical.Storage, cfg *jawboneConfig, name string, force bool) refreshResult {
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

func (b *backend) refreshIfNeeded(ctx context.Context, s logical.Storage, cfg *jawboneConfig, name string, force bool) refreshResult {
	// Holding the name's lock, no other refresh of it runs on this node: a
	// marker found now was left by an attempt that died.
	defer b.credsLocks.lock(name)()
	entry, err := b.getCreds(ctx, s, name)
	if err != nil || entry == nil {
		return refreshResult{entry: entry, err: err}
	}
	now := b.now()
	if !force && entry.interrupted() && refreshAllowed(entry, now) {
		// An attempt died with its outcome unknown: keep the token if
		// Jawbone still accepts it, rather than replacing a working one.
		if settled, ok := b.settleInterrupted(ctx, s, cfg, name, entry); ok {
			entry = settled
		}
	}
	if !force && !wantsRefresh(entry, cfg.RefreshAhead, now) {
		return refreshResult{entry: entry}
	}
	if !b.canWriteStorage() {
		// Jawbone kills the old access token on refresh: never refresh where
		// the new one cannot be stored. Vault forwards ErrReadOnly requests
		// to the node that can write.
		return refreshResult{entry: entry, err: logical.ErrReadOnly}
	}
	// Mark the attempt before Jawbone can replace the token, so a crash
	// between its reply and our write cannot leave a dead token trusted.
	marked := *entry
	marked.RefreshStartedAt = now
	if err := b.putCreds(ctx, s, name, &marked); err != nil {
		if errors.Is(err, logical.ErrReadOnly) {
			return refreshResult{err: logical.ErrReadOnly} // unwrapped, so Vault forwards
		}
		return refreshResult{err: fmt.Errorf("marking the refresh of creds %q: %w", name, err)}
	}
	tok, refreshErr := b.newProvider(cfg).Refresh(ctx, entry.RefreshToken)
	if refreshErr != nil {
		// A clean error reply proves this attempt replaced nothing (it says
		// nothing about an earlier, interrupted one); otherwise ask Jawbone.
		if (!entry.interrupted() && !mayHaveIssued(refreshErr)) || b.tokenStillWorks(ctx, cfg, name, entry.AccessToken) {
			marked.RefreshStartedAt = time.Time{}
		}
		return b.recordFailure(ctx, s, name, &marked, refreshErr)
	}
	fresh := b.newEntry(tok, entry.RefreshToken, entry.Scopes)
	if err := b.putCreds(ctx, s, name, fresh); err != nil {
		// Not a provider failure: no entry, so callers answer with a 500. The
		// stored grant is intact and, as refresh tokens do not rotate, the
		// next attempt can refresh again.
		b.Logger().Error("refreshed token could not be stored", "name", name, "error", err)
		return refreshResult{err: fmt.Errorf("refreshed creds %q but could not store the result: %w", name, err)}
	}
	b.metrics.refreshed(b.now())
	b.Logger().Info("creds refreshed", "name", name, "expires_at", fresh.ExpiresAt, "forced", force)
	return refreshResult{entry: fresh}
}

// tokenStillWorks reports whether Jawbone still accepts accessToken; no
// clear answer counts as no.
func (b *backend) tokenStillWorks(ctx context.Context, cfg *jawboneConfig, name, accessToken string) bool {
	works, err := b.newProvider(cfg).TokenWorks(ctx, accessToken)
	if err != nil {
		b.Logger().Warn("could not check whether the stored access token still works", "name", name, "error", err)
	}
	return works
}

// settleInterrupted clears the marker of an interrupted refresh when the
// stored access token still works, and returns the entry as stored.
func (b *backend) settleInterrupted(ctx context.Context, s logical.Storage, cfg *jawboneConfig, name string, entry *credsEntry) (*credsEntry, bool) {
	if !b.tokenStillWorks(ctx, cfg, name, entry.AccessToken) {
		return nil, false
	}
	settled := *entry
	settled.RefreshStartedAt = time.Time{}
	if err := b.putCreds(ctx, s, name, &settled); err != nil {
		return nil, false
	}
	b.Logger().Info("an interrupted refresh replaced nothing; keeping the stored token", "name", name)
	return &settled, true
}

// recordFailure stores what went wrong, keeping every token: a permanent
// rejection marks the creds for re-authorization, a transient one backs off.
func (b *backend) recordFailure(ctx context.Context, s logical.Storage, name string, entry *credsEntry, refreshErr error) refreshResult {
	now := b.now()
	failed := *entry
	failed.LastError = refreshErr.Error()
	failed.LastErrorAt = now
	failed.FailedAttempts++
	b.metrics.refreshFailed(kindOf(refreshErr))
	if isPermanent(refreshErr) {
		failed.NeedsReauth = true
		b.Logger().Error("jawbone rejected the refresh token; creds need re-authorization", "name", name, "error", refreshErr)
	} else {
		failed.NextAttemptAt = now.Add(backoff(failed.FailedAttempts, refreshErr))
		b.Logger().Warn("refresh failed; will retry", "name", name, "error", refreshErr, "next_attempt_at", failed.NextAttemptAt)
	}
	if err := b.putCreds(ctx, s, name, &failed); err != nil {
		// The tokens in storage are untouched; only the bookkeeping is lost.
		b.Logger().Error("could not record refresh failure", "name", name, "error", err)
		return refreshResult{entry: entry, err: refreshErr}
	}
	return refreshResult{entry: &failed, err: refreshErr}
}

// backoff is how long to wait after the n-th consecutive transient failure.
func backoff(n int, err error) time.Duration {
	d := backoffBase
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	var pe *providerError
	if errors.As(err, &pe) && pe.RetryAfter > d {
		d = min(pe.RetryAfter, retryAfterMax)
	}
	return d
}

// credsImport is a grant brought in from outside (kiefer's tokens).
type credsImport struct {
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time
	Scopes       []string
}

// storeGrant stores a new grant under name once no refresh of the old one is
// running, so that refresh cannot write the old grant back over it.
func (b *backend) storeGrant(ctx context.Context, s logical.Storage, name string, entry *credsEntry) error {
	defer b.credsLocks.lock(name)()
	return b.putCreds(ctx, s, name, entry)
}

// check refuses anything that cannot be a token before it is sent to Jawbone.
func (imp credsImport) check() error {
	for _, f := range []struct{ key, value string }{{keyAccessToken, imp.AccessToken}, {keyRefreshToken, imp.RefreshToken}} {
		if len(f.value) > maxImportTokenLen || strings.ContainsFunc(f.value, isSpaceOrControl) {
			return badRequest("%s does not look like a token: at most %d characters, no spaces", f.key, maxImportTokenLen)
		}
	}
	return nil
}

// importCreds stores an imported grant. A missing refresh token is recovered
// from the access token. Unless the caller knows when the access token
// expires, the grant is refreshed once: that proves the refresh token works
// and gives a token whose expiry is known.
func (b *backend) importCreds(ctx context.Context, s logical.Storage, cfg *jawboneConfig, name string, imp credsImport) (*logical.Response, error) {
	if err := imp.check(); err != nil {
		return nil, err
	}
	client := b.newProvider(cfg)
	var warnings []string
	if imp.RefreshToken == "" {
		recovered, err := client.RecoverRefreshToken(ctx, imp.AccessToken)
		if err != nil {
			return nil, providerFailure(err, "access_token must be a valid, unexpired token issued to this client_id")
		}
		imp.RefreshToken = recovered
	}
	entry := &credsEntry{
		AccessToken: imp.AccessToken, RefreshToken: imp.RefreshToken, TokenType: "Bearer",
		Scopes: imp.Scopes, ExpiresAt: imp.ExpiresAt, ObtainedAt: b.now(),
	}
	if imp.AccessToken == "" || imp.ExpiresAt.IsZero() {
		tok, err := client.Refresh(ctx, imp.RefreshToken)
		if err != nil {
			return nil, providerFailure(err, "refresh_token must be a current refresh token issued to this client_id")
		}
		if imp.AccessToken != "" {
			warnings = append(warnings, "no expires_at was given, so the grant was refreshed to learn its expiry: the imported access_token no longer works; use the one returned here")
		}
		entry = b.newEntry(tok, imp.RefreshToken, imp.Scopes)
	}
	if err := b.storeGrant(ctx, s, name, entry); err != nil {
		return nil, err
	}
	b.Logger().Info("creds imported", "name", name, "expires_at", entry.ExpiresAt)
	resp := b.credsResponse(entry, cfg, b.now())
	for _, w := range warnings {
		resp.AddWarning(w)
	}
	return resp, nil
}
