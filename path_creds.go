package jawbone

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	keyTokenType      = "token_type"
	keyExpiresIn      = "expires_in"
	keyTTL            = "ttl"
	keyRotationPeriod = "rotation_period"
	keyLastRefreshed  = "last_refreshed_at"
	keyNeedsReauth    = "needs_reauthorization"
	keyLastError      = "last_error"
	keyLastErrorAt    = "last_error_at"
	keyNextAttemptAt  = "next_refresh_attempt_at"

	descCredsName     = "Name of the creds: " + credsNameRule + "."
	descCredsAccess   = "Import: an access token. Alone, its refresh token is recovered from Jawbone (kiefer's get_refresh_token)."
	descCredsRefresh  = "Import: a refresh token. Alone, it is refreshed at once to check it and get an access token (kiefer's set_refresh_token)."
	descCredsExpires  = "Import: when access_token expires (RFC 3339). Without it the grant is refreshed once to learn the expiry, which replaces the imported access token."
	descCredsScopes   = "Import: the scopes the grant has. Default: the config's scopes."
	maxImportTokenLen = 4096

	// minTTL keeps Vault Agent from re-reading more than about every few
	// seconds while a refresh is held back.
	minTTL = 5 * time.Second
)

const pathCredsListSynopsis = "List the names of stored creds."

const pathCredsSynopsis = "Read a fresh Jawbone access token; import or delete a grant."

const pathCredsHelp = `
Read: returns the access token of the grant stored under this name, refreshing
it first when less than refresh_ahead (see jawbone/config) is left:

    $ vault read jawbone/creds/me
    $ vault read -field=access_token jawbone/creds/me

The reply has access_token, token_type, expires_at (RFC 3339), expires_in
(seconds left), scopes, and for Vault Agent ttl (seconds until the token will
be refreshed) with rotation_period, which make Agent templates re-render
right after each refresh. The refresh token is never returned.

If a refresh fails for a reason that may pass (timeout, Jawbone 5xx or 429)
the current token is returned with a warning while it is still valid, and
automatic retries back off (next_refresh_attempt_at). If Jawbone rejects the
grant (invalid_grant, invalid_client) the creds are marked
needs_reauthorization and reads fail until you authorize again (auth-url and
exchange) or a forced refresh succeeds. Stored tokens are never deleted by a
failure.

Write: imports a grant (migration from kiefer):

    $ vault write jawbone/creds/me refresh_token=...   # set_refresh_token
    $ vault write jawbone/creds/me access_token=...    # get_refresh_token
    $ vault write jawbone/creds/me access_token=... refresh_token=... expires_at=2027-01-01T00:00:00Z

Without expires_at, the grant is refreshed once to check it and learn the
expiry (so an imported access token is replaced).

Delete: forgets the grant, refresh token included. It does not revoke the
app's access at Jawbone.
`

func (b *backend) pathCreds() []*framework.Path {
	nameField := &framework.FieldSchema{Type: framework.TypeString, Description: descCredsName, Required: true,
		DisplayAttrs: &framework.DisplayAttributes{Name: "Name"}}
	return []*framework.Path{
		{
			Pattern: "creds/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: "jawbone", OperationSuffix: "creds",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: b.handleCredsList},
			},
			HelpSynopsis:    pathCredsListSynopsis,
			HelpDescription: "Lists the names under jawbone/creds/. Tokens are read one name at a time.",
		},
		b.pathCredsRefresh(nameField),
		{
			Pattern: "creds/" + framework.MatchAllRegex(keyName),
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: "jawbone", OperationSuffix: "creds",
			},
			Fields: map[string]*framework.FieldSchema{
				keyName: nameField,
				keyAccessToken: {Type: framework.TypeString, Description: descCredsAccess,
					DisplayAttrs: &framework.DisplayAttributes{Name: "Access token", Sensitive: true}},
				keyRefreshToken: {Type: framework.TypeString, Description: descCredsRefresh,
					DisplayAttrs: &framework.DisplayAttributes{Name: "Refresh token", Sensitive: true}},
				keyExpiresAt: {Type: framework.TypeString, Description: descCredsExpires,
					DisplayAttrs: &framework.DisplayAttributes{Name: "Access token expires at"}},
				keyScopes: {Type: framework.TypeCommaStringSlice, Description: descCredsScopes,
					DisplayAttrs: &framework.DisplayAttributes{Name: "Scopes"}},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation:   readOp(b.handleCredsRead),
				logical.UpdateOperation: writeOp(b.handleCredsWrite),
				logical.DeleteOperation: writeOp(b.handleCredsDelete),
			},
			HelpSynopsis:    pathCredsSynopsis,
			HelpDescription: strings.TrimSpace(pathCredsHelp),
		},
	}
}

func (b *backend) handleCredsList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, credsStoragePrefix)
	if err != nil {
		return nil, fmt.Errorf("listing creds: %w", err)
	}
	return logical.ListResponse(names), nil
}

// credsTarget is the config and validated name every creds handler starts with.
func (b *backend) credsTarget(ctx context.Context, req *logical.Request, d *framework.FieldData) (*jawboneConfig, string, error) {
	name := d.Get(keyName).(string)
	if err := validateCredsName(name); err != nil {
		return nil, "", badRequest("%v", err)
	}
	cfg, err := b.requireConfig(ctx, req.Storage)
	return cfg, name, err
}

func (b *backend) handleCredsRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	cfg, name, err := b.credsTarget(ctx, req, d)
	if err != nil {
		return respondError(err)
	}
	entry, err := b.getCreds(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	var refreshErr error
	if entry != nil && wantsRefresh(entry, cfg.RefreshAhead, b.now()) {
		res := b.refreshCreds(ctx, req.Storage, cfg, name, false)
		if (res.entry == nil && res.err != nil) || errors.Is(res.err, logical.ErrReadOnly) {
			return nil, res.err
		}
		entry, refreshErr = res.entry, res.err
	}
	if entry == nil {
		return respondError(missingCreds(name))
	}
	return b.answerCreds(name, entry, cfg, refreshErr)
}

func missingCreds(name string) error {
	return notFound("no creds named %q: authorize with vault read jawbone/auth-url name=%s and vault write jawbone/exchange, or import with vault write jawbone/creds/%s refresh_token=...", name, name, name)
}

// answerCreds returns a token that works, or an error that says what to do.
func (b *backend) answerCreds(name string, entry *credsEntry, cfg *jawboneConfig, refreshErr error) (*logical.Response, error) {
	now := b.now()
	if entry.NeedsReauth {
		return respondError(badRequest("creds %q need re-authorization: Jawbone rejected the refresh token (%s); %s", name, entry.LastError, fixReauthFor(name)))
	}
	if entry.interrupted() {
		return respondError(badGateway("the last refresh of creds %q did not complete, so Jawbone may have replaced the stored access token, and it could not be refreshed (%s); the refresh token is kept and the refresh is retried automatically, or now with vault write -f jawbone/creds/%s/refresh",
			name, entry.LastError, name))
	}
	if !now.Before(entry.ExpiresAt) {
		return respondError(badGateway("creds %q expired at %s and could not be refreshed (%s); the refresh token is kept and the refresh is retried automatically, or now with vault write -f jawbone/creds/%s/refresh",
			name, entry.ExpiresAt.UTC().Format(time.RFC3339), entry.LastError, name))
	}
	resp := b.credsResponse(entry, cfg, now)
	if refreshErr != nil || now.Before(entry.NextAttemptAt) {
		resp.AddWarning(fmt.Sprintf("refreshing creds %q failed (%s); returning the current token, valid until %s; next attempt at %s",
			name, entry.LastError, entry.ExpiresAt.UTC().Format(time.RFC3339), entry.NextAttemptAt.UTC().Format(time.RFC3339)))
	}
	return resp, nil
}

// credsResponse is the read view of a grant: never the refresh token.
func (b *backend) credsResponse(entry *credsEntry, cfg *jawboneConfig, now time.Time) *logical.Response {
	refreshAt := entry.ExpiresAt.Add(-cfg.RefreshAhead)
	if entry.NextAttemptAt.After(refreshAt) {
		refreshAt = entry.NextAttemptAt
	}
	// Sized for every field a read can carry, so the map never grows.
	data := make(map[string]any, 14)
	data[keyAccessToken] = entry.AccessToken
	data[keyTokenType] = entry.TokenType
	data[keyExpiresAt] = entry.ExpiresAt.UTC().Format(time.RFC3339)
	data[keyExpiresIn] = seconds(entry.ExpiresAt.Sub(now))
	data[keyScopes] = entry.Scopes
	// ttl with rotation_period is how consul-template (Vault Agent) knows
	// when a lease-less secret changes: it re-reads after ttl seconds.
	data[keyTTL] = seconds(max(refreshAt.Sub(now), minTTL))
	data[keyRotationPeriod] = seconds(max(entry.ExpiresAt.Sub(entry.ObtainedAt)-cfg.RefreshAhead, minTTL))
	data[keyNeedsReauth] = entry.NeedsReauth
	setTime(data, keyLastRefreshed, entry.LastRefreshedAt)
	if entry.LastError != "" {
		data[keyLastError] = entry.LastError
		setTime(data, keyLastErrorAt, entry.LastErrorAt)
	}
	setTime(data, keyNextAttemptAt, entry.NextAttemptAt)
	return &logical.Response{Data: data}
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

func setTime(data map[string]any, key string, t time.Time) {
	if !t.IsZero() {
		data[key] = t.UTC().Format(time.RFC3339)
	}
}

func (b *backend) handleCredsWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	cfg, name, err := b.credsTarget(ctx, req, d)
	if err != nil {
		return respondError(err)
	}
	imp, err := importFromRequest(cfg, d)
	if err != nil {
		return respondError(err)
	}
	resp, err := b.importCreds(ctx, req.Storage, cfg, name, imp)
	if err != nil {
		return respondError(err)
	}
	return resp, nil
}

func importFromRequest(cfg *jawboneConfig, d *framework.FieldData) (credsImport, error) {
	imp := credsImport{
		AccessToken:  strings.TrimSpace(d.Get(keyAccessToken).(string)),
		RefreshToken: strings.TrimSpace(d.Get(keyRefreshToken).(string)),
		Scopes:       cfg.Scopes,
	}
	if imp.AccessToken == "" && imp.RefreshToken == "" {
		return imp, badRequest("give %s, %s, or both: this write imports a grant (to authorize from scratch use jawbone/auth-url)", keyRefreshToken, keyAccessToken)
	}
	if raw := strings.TrimSpace(d.Get(keyExpiresAt).(string)); raw != "" {
		t, err := time.Parse(time.RFC3339, raw)
		if err != nil {
			return imp, badRequest("%s must be an RFC 3339 time such as 2027-01-31T12:00:00Z; got %q", keyExpiresAt, raw)
		}
		if imp.AccessToken == "" {
			return imp, badRequest("%s describes access_token: give it only with %s", keyExpiresAt, keyAccessToken)
		}
		imp.ExpiresAt = t
	}
	if raw, ok := d.GetOk(keyScopes); ok {
		scopes, err := normalizeScopes(keyScopes, raw.([]string))
		if err != nil {
			return imp, badRequest("%v", err)
		}
		imp.Scopes = scopes
	}
	return imp, nil
}

func (b *backend) handleCredsDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get(keyName).(string)
	if err := validateCredsName(name); err != nil {
		return respondError(badRequest("%v", err))
	}
	unlock := b.credsLocks.lock(name) // not while a refresh could write it back
	defer unlock()
	if err := b.deleteCreds(ctx, req.Storage, name); err != nil {
		return nil, fmt.Errorf("deleting creds %q: %w", name, err)
	}
	b.Logger().Info("creds deleted", "name", name)
	return nil, nil
}
