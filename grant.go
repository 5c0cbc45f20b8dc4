package jawbone

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/jawbone"
)

// grant is one creds entry: the tokens of one authorization and what we know
// about their health, as stored under creds/<name>.
type grant struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	TokenType    string    `json:"token_type"`
	Scopes       []string  `json:"scopes"`
	ExpiresAt    time.Time `json:"expires_at"`
	// ObtainedAt is when the current access token was issued.
	ObtainedAt      time.Time `json:"obtained_at"`
	LastRefreshedAt time.Time `json:"last_refreshed_at,omitempty"`

	// NeedsReauth is set when Jawbone rejected the grant for good; only a new
	// exchange, an import or a forced refresh clears it.
	NeedsReauth    bool      `json:"needs_reauth,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	LastErrorAt    time.Time `json:"last_error_at,omitempty"`
	FailedAttempts int       `json:"failed_attempts,omitempty"`
	// NextAttemptAt holds automatic refreshes back after transient failures,
	// so a provider outage is not met with a refresh on every read.
	NextAttemptAt time.Time `json:"next_attempt_at,omitempty"`
	// RefreshStartedAt is stored before every call to the token endpoint
	// and cleared by its outcome. Found set with no refresh running, it means
	// an attempt died after Jawbone may have replaced the access token (a
	// crash, a lost reply): the stored access token is then not trusted.
	RefreshStartedAt time.Time `json:"refresh_started_at,omitempty"`
}

const (
	// Backoff after transient refresh failures: doubling from backoffBase,
	// capped, and never shorter than what the provider asked for.
	backoffBase = 30 * time.Second
	backoffMax  = time.Hour
	// retryAfterMax caps a Retry-After header so a broken provider cannot
	// park a token's refresh for days.
	retryAfterMax = 6 * time.Hour
	// minTTL keeps Vault Agent from re-reading more than about every few
	// seconds while a refresh is held back.
	minTTL = 5 * time.Second
)

// newGrant makes a grant from a fresh token reply. A reply without a refresh
// token keeps keepRefresh: Jawbone's refresh tokens do not rotate.
func newGrant(tok *jawbone.Token, keepRefresh string, scopes []string, now time.Time) *grant {
	refresh := tok.RefreshToken
	if refresh == "" {
		refresh = keepRefresh
	}
	return &grant{
		AccessToken:     tok.AccessToken,
		RefreshToken:    refresh,
		TokenType:       tok.TokenType,
		Scopes:          scopes,
		ExpiresAt:       now.Add(tok.ExpiresIn),
		ObtainedAt:      now,
		LastRefreshedAt: now,
	}
}

// interrupted reports whether a refresh of g began and never finished.
func (g *grant) interrupted() bool { return !g.RefreshStartedAt.IsZero() }

// due reports whether g's refresh window has opened, or an earlier refresh
// was interrupted.
func (g *grant) due(refreshAhead time.Duration, now time.Time) bool {
	return g.interrupted() || !now.Before(g.ExpiresAt.Add(-refreshAhead))
}

// mayRefresh reports whether an automatic refresh may call Jawbone now: not
// for a grant Jawbone rejected, and not while backing off.
func (g *grant) mayRefresh(now time.Time) bool {
	return !g.NeedsReauth && !now.Before(g.NextAttemptAt)
}

// wantsRefresh reports whether a read or the background scan should refresh g.
func (g *grant) wantsRefresh(refreshAhead time.Duration, now time.Time) bool {
	return g.due(refreshAhead, now) && g.mayRefresh(now)
}

// markedRefreshing is g with the refresh marker set, stored before Jawbone
// can replace the access token.
func (g *grant) markedRefreshing(now time.Time) *grant {
	marked := *g
	marked.RefreshStartedAt = now
	return &marked
}

// settled is g with its refresh marker cleared: the attempt is known to have
// replaced nothing.
func (g *grant) settled() *grant {
	s := *g
	s.RefreshStartedAt = time.Time{}
	return &s
}

// failed is g after a refresh failure: every token is kept; a rejected grant
// is marked for re-authorization, any other failure backs off.
func (g *grant) failed(err error, now time.Time) *grant {
	f := *g
	f.LastError = err.Error()
	f.LastErrorAt = now
	f.FailedAttempts++
	if jawbone.KindOf(err) == jawbone.GrantRejected {
		f.NeedsReauth = true
	} else {
		f.NextAttemptAt = now.Add(backoff(f.FailedAttempts, err))
	}
	return &f
}

// backoff is how long to wait after the n-th consecutive transient failure.
func backoff(n int, err error) time.Duration {
	d := backoffBase
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	if after := jawbone.RetryAfter(err); after > d {
		d = min(after, retryAfterMax)
	}
	return d
}

// view is the read view of g: never the refresh token.
func (g *grant) view(cfg *config, now time.Time) map[string]any {
	refreshAt := g.ExpiresAt.Add(-cfg.RefreshAhead)
	if g.NextAttemptAt.After(refreshAt) {
		refreshAt = g.NextAttemptAt
	}
	// Sized for every field a read can carry, so the map never grows.
	data := make(map[string]any, 14)
	data[keyAccessToken] = g.AccessToken
	data[keyTokenType] = g.TokenType
	data[keyExpiresAt] = g.ExpiresAt.UTC().Format(time.RFC3339)
	data[keyExpiresIn] = seconds(g.ExpiresAt.Sub(now))
	data[keyScopes] = g.Scopes
	// ttl with rotation_period is how consul-template (Vault Agent) knows
	// when a lease-less secret changes: it re-reads after ttl seconds.
	data[keyTTL] = seconds(max(refreshAt.Sub(now), minTTL))
	data[keyRotationPeriod] = seconds(max(g.ExpiresAt.Sub(g.ObtainedAt)-cfg.RefreshAhead, minTTL))
	data[keyNeedsReauth] = g.NeedsReauth
	setTime(data, keyLastRefreshed, g.LastRefreshedAt)
	if g.LastError != "" {
		data[keyLastError] = g.LastError
		setTime(data, keyLastErrorAt, g.LastErrorAt)
	}
	setTime(data, keyNextAttemptAt, g.NextAttemptAt)
	return data
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

func setTime(data map[string]any, key string, t time.Time) {
	if !t.IsZero() {
		data[key] = t.UTC().Format(time.RFC3339)
	}
}

// Values handed out by getGrant are shared with the cache: treat them as
// read-only and store changed copies with putGrant.

func (b *backend) getGrant(ctx context.Context, s logical.Storage, name string) (*grant, error) {
	return cachedGet[grant](ctx, b.cache, s, credsStoragePrefix+name)
}

// scanGrant reads a grant for the background scan without filling the cache.
func (b *backend) scanGrant(ctx context.Context, s logical.Storage, name string) (*grant, error) {
	return peekGet[grant](ctx, b.cache, s, credsStoragePrefix+name)
}

func (b *backend) putGrant(ctx context.Context, s logical.Storage, name string, g *grant) error {
	return cachedPut(ctx, b.cache, s, credsStoragePrefix+name, g)
}

func (b *backend) listGrants(ctx context.Context, s logical.Storage) ([]string, error) {
	names, err := s.List(ctx, credsStoragePrefix)
	if err != nil {
		return nil, fmt.Errorf("listing creds: %w", err)
	}
	return names, nil
}

// storeNewGrant stores a new grant under name once no refresh of the old
// one is running, so that refresh cannot write the old grant back over it.
func (b *backend) storeNewGrant(ctx context.Context, s logical.Storage, name string, g *grant) error {
	defer b.credsLocks.lock(name)()
	return b.putGrant(ctx, s, name, g)
}

// deleteGrant forgets the grant of name, waiting for any refresh of it so
// that the refresh cannot write it back.
func (b *backend) deleteGrant(ctx context.Context, s logical.Storage, name string) error {
	if err := validateCredsName(name); err != nil {
		return err
	}
	defer b.credsLocks.lock(name)()
	if err := cachedDelete(ctx, b.cache, s, credsStoragePrefix+name); err != nil {
		return fmt.Errorf("deleting creds %q: %w", name, err)
	}
	b.Logger().Info("creds deleted", "name", name)
	return nil
}
