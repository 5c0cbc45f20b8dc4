package jawbone

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// Storage layout. Every prefix here is listed in PathsSpecial.SealWrapStorage.
const (
	configStoragePath  = "config"
	credsStoragePrefix = "creds/"
	stateStoragePrefix = "state/"
)

// jawboneConfig is the client registration and how to reach Jawbone.
type jawboneConfig struct {
	ClientID       string        `json:"client_id"`
	ClientSecret   string        `json:"client_secret"`
	RedirectURI    string        `json:"redirect_uri"`
	Scopes         []string      `json:"scopes"`
	AuthURL        string        `json:"auth_url"`
	TokenURL       string        `json:"token_url"`
	APIURL         string        `json:"api_url"`
	RefreshAhead   time.Duration `json:"refresh_ahead"`
	RequestTimeout time.Duration `json:"request_timeout"`
}

// credsEntry is one grant: the tokens and what we know about their health.
type credsEntry struct {
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

// interrupted reports whether a refresh of c began and never finished.
func (c *credsEntry) interrupted() bool { return !c.RefreshStartedAt.IsZero() }

// stateEntry is a pending authorization, keyed by a hash of its state value.
type stateEntry struct {
	Name        string    `json:"name"`
	Scopes      []string  `json:"scopes"`
	RedirectURI string    `json:"redirect_uri"`
	ExpiresAt   time.Time `json:"expires_at"`
	// Replace allows filling creds that already hold a working grant.
	Replace bool `json:"replace,omitempty"`
}

func getJSON(ctx context.Context, s logical.Storage, key string, out any) (bool, error) {
	entry, err := s.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("reading %s from storage: %w", key, err)
	}
	if entry == nil {
		return false, nil
	}
	if err := entry.DecodeJSON(out); err != nil {
		return false, fmt.Errorf("decoding %s from storage: %w", key, err)
	}
	return true, nil
}

// putJSON writes one whole entry: storage replaces an entry atomically, so a
// failed write leaves the previous value in place.
func putJSON(ctx context.Context, s logical.Storage, key string, v any) error {
	entry, err := logical.StorageEntryJSON(key, v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", key, err)
	}
	entry.SealWrap = true
	if err := s.Put(ctx, entry); err != nil {
		if errors.Is(err, logical.ErrReadOnly) {
			return logical.ErrReadOnly // unwrapped, so Vault forwards the request
		}
		return fmt.Errorf("writing %s to storage: %w", key, err)
	}
	return nil
}

// cachedGet reads key through the cache, decoding a miss into a new T.
func cachedGet[T any](ctx context.Context, c *entryCache, s logical.Storage, key string) (*T, error) {
	value, ok, gen := c.get(key)
	if ok {
		return value.(*T), nil
	}
	out := new(T)
	found, err := getJSON(ctx, s, key, out)
	if !found || err != nil {
		return nil, err
	}
	c.fill(key, gen, out)
	return out, nil
}

// cachedPut writes key and then drops it from the cache (see entryCache).
func cachedPut(ctx context.Context, c *entryCache, s logical.Storage, key string, v any) error {
	err := putJSON(ctx, s, key, v)
	c.invalidate(key)
	return err
}

func cachedDelete(ctx context.Context, c *entryCache, s logical.Storage, key string) error {
	err := s.Delete(ctx, key)
	c.invalidate(key)
	return err
}

// Values handed out by these getters are shared with the cache: treat them
// as read-only and write changed copies back with the putters.

func (b *backend) getConfig(ctx context.Context, s logical.Storage) (*jawboneConfig, error) {
	return cachedGet[jawboneConfig](ctx, b.cache, s, configStoragePath)
}

func (b *backend) putConfig(ctx context.Context, s logical.Storage, cfg *jawboneConfig) error {
	return cachedPut(ctx, b.cache, s, configStoragePath, cfg)
}

func (b *backend) deleteConfig(ctx context.Context, s logical.Storage) error {
	return cachedDelete(ctx, b.cache, s, configStoragePath)
}

func (b *backend) getCreds(ctx context.Context, s logical.Storage, name string) (*credsEntry, error) {
	return cachedGet[credsEntry](ctx, b.cache, s, credsStoragePrefix+name)
}

func (b *backend) putCreds(ctx context.Context, s logical.Storage, name string, c *credsEntry) error {
	return cachedPut(ctx, b.cache, s, credsStoragePrefix+name, c)
}

func (b *backend) deleteCreds(ctx context.Context, s logical.Storage, name string) error {
	return cachedDelete(ctx, b.cache, s, credsStoragePrefix+name)
}

// stateKey stores a state under its hash, so the value a browser carries
// never appears as a storage key.
func stateKey(state string) string {
	sum := sha256.Sum256([]byte(state))
	return stateStoragePrefix + hex.EncodeToString(sum[:])
}

func putState(ctx context.Context, s logical.Storage, state string, e *stateEntry) error {
	return putJSON(ctx, s, stateKey(state), e)
}

// stateSpender makes "get, then delete" of a state atomic on this node, so two
// exchanges racing with one state cannot both use it.
type stateSpender struct{ mu sync.Mutex }

// spend returns the pending authorization for state and deletes it, whether
// or not the caller goes on to succeed. nil means unknown or already used.
func (sp *stateSpender) spend(ctx context.Context, s logical.Storage, state string) (*stateEntry, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	var e stateEntry
	key := stateKey(state)
	found, err := getJSON(ctx, s, key, &e)
	if !found || err != nil {
		return nil, err
	}
	if err := s.Delete(ctx, key); err != nil {
		return nil, fmt.Errorf("spending state: %w", err)
	}
	return &e, nil
}

// sweepExpiredStates deletes authorizations nobody completed, so abandoned
// auth-url calls do not accumulate in storage.
func (b *backend) sweepExpiredStates(ctx context.Context, s logical.Storage) error {
	keys, err := s.List(ctx, stateStoragePrefix)
	if err != nil {
		return fmt.Errorf("listing states: %w", err)
	}
	now := b.now()
	for _, k := range keys {
		var e stateEntry
		found, err := getJSON(ctx, s, stateStoragePrefix+k, &e)
		if err != nil || !found || now.Before(e.ExpiresAt) {
			continue
		}
		if err := s.Delete(ctx, stateStoragePrefix+k); err != nil {
			return fmt.Errorf("deleting expired state: %w", err)
		}
	}
	return nil
}
