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
	keyClientID       = "client_id"
	keyClientSecret   = "client_secret"
	keyRedirectURI    = "redirect_uri"
	keyScopes         = "scopes"
	keyScope          = "scope"
	keyAuthURL        = "auth_url"
	keyTokenURL       = "token_url"
	keyAPIURL         = "api_url"
	keyRefreshAhead   = "refresh_ahead"
	keyRequestTimeout = "request_timeout"
	keyAccessToken    = "access_token"
	keyRefreshToken   = "refresh_token"
	keySecretSet      = "client_secret_set"

	descClientID     = "The Jawbone app's client ID. Required on the first write."
	descClientSecret = "The Jawbone app's client secret. Required on the first write. Write-only: a read shows only client_secret_set."
	descRedirectURI  = "The redirect URI registered for the app. Must use https; http is allowed only on a loopback host (127.0.0.1, ::1, localhost). Required on the first write."
	descScopes       = "Scopes to request by default, as a list or comma-separated. Each must be a Jawbone scope. Default: basic_read."
	descScope        = "Alias of scopes, so a kiefer config file (\"scope\": [...]) can be written as-is."
	descAuthURL      = "Jawbone's authorization endpoint. Override only for a Jawbone-compatible server."
	descTokenURL     = "Jawbone's token endpoint. Override only for a Jawbone-compatible server."
	descAPIURL       = "Base URL of the Jawbone API (used to recover a refresh token from an access token)."
	descRefreshAhead = "Refresh an access token when less than this is left before it expires. Jawbone tokens live a year; the default of 168h (7 days) leaves a week to ride out a Jawbone outage while the current token still works. 0 refreshes only once expired."
	descTimeout      = "How long one request to Jawbone may take. Default 30s; 1s to 5m."
	descImportAccess = "kiefer migration: an access token from a kiefer config file, imported as the creds named \"me\"."
	descImportRefr   = "kiefer migration: a refresh token from a kiefer config file, imported as the creds named \"me\"."

	defaultAuthURL        = "https://jawbone.com/auth/oauth2/auth"
	defaultTokenURL       = "https://jawbone.com/auth/oauth2/token"
	defaultAPIURL         = "https://jawbone.com/nudge/api/v.1.1"
	defaultRefreshAhead   = 7 * 24 * time.Hour
	defaultRequestTimeout = 30 * time.Second
	maxRequestTimeout     = 5 * time.Minute
	maxRefreshAhead       = 364 * 24 * time.Hour
	// Generous bounds on what a Jawbone registration holds, so a stray
	// megabyte is refused rather than stored and sent to Jawbone.
	maxClientIDLen     = 256
	maxClientSecretLen = 1024
	maxURLLen          = 2048

	// kieferCredsName is where tokens found in a kiefer config file go.
	kieferCredsName = "me"
)

const pathConfigSynopsis = "Configure the Jawbone app this engine brokers tokens for."

const pathConfigHelp = `
Holds the Jawbone app registration: client_id, client_secret and redirect_uri,
the default scopes, and (for Jawbone-compatible servers and tests) the three
endpoint URLs. Writes are partial: fields you leave out keep their value.

The client secret is write-only; reading the config shows client_secret_set.

Migrating from kiefer: write the kiefer JSON config file as-is:

    $ vault write jawbone/config @config.json

Its "scope" list is taken as scopes, and any access_token/refresh_token in
it are imported as the creds named "me" (see "vault path-help jawbone/creds/me").

refresh_ahead (default 168h) decides when an access token is refreshed;
request_timeout (default 30s) bounds each call to Jawbone.

Deleting the config keeps all creds; reads of creds fail until a config is
written again.
`

func (b *backend) pathConfig() *framework.Path {
	return &framework.Path{
		Pattern: "config$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "jawbone",
			OperationSuffix: "configuration",
		},
		Fields: map[string]*framework.FieldSchema{
			keyClientID: {Type: framework.TypeString, Description: descClientID,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Client ID", Group: "Client"}},
			keyClientSecret: {Type: framework.TypeString, Description: descClientSecret,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Client secret", Group: "Client", Sensitive: true}},
			keyRedirectURI: {Type: framework.TypeString, Description: descRedirectURI,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Redirect URI", Group: "Client"}},
			keyScopes: {Type: framework.TypeCommaStringSlice, Description: descScopes,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Scopes", Group: "Client"}},
			keyScope: {Type: framework.TypeCommaStringSlice, Description: descScope,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Scope (kiefer)", Group: "Migration"}},
			keyAuthURL: {Type: framework.TypeString, Description: descAuthURL, Default: defaultAuthURL,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Authorization URL", Group: "Endpoints"}},
			keyTokenURL: {Type: framework.TypeString, Description: descTokenURL, Default: defaultTokenURL,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Token URL", Group: "Endpoints"}},
			keyAPIURL: {Type: framework.TypeString, Description: descAPIURL, Default: defaultAPIURL,
				DisplayAttrs: &framework.DisplayAttributes{Name: "API URL", Group: "Endpoints"}},
			keyRefreshAhead: {Type: framework.TypeDurationSecond, Description: descRefreshAhead,
				Default:      int(defaultRefreshAhead.Seconds()),
				DisplayAttrs: &framework.DisplayAttributes{Name: "Refresh ahead", Group: "Tuning"}},
			keyRequestTimeout: {Type: framework.TypeDurationSecond, Description: descTimeout,
				Default:      int(defaultRequestTimeout.Seconds()),
				DisplayAttrs: &framework.DisplayAttributes{Name: "Request timeout", Group: "Tuning"}},
			keyAccessToken: {Type: framework.TypeString, Description: descImportAccess,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Access token (kiefer)", Group: "Migration", Sensitive: true}},
			keyRefreshToken: {Type: framework.TypeString, Description: descImportRefr,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Refresh token (kiefer)", Group: "Migration", Sensitive: true}},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation:   readOp(b.handleConfigRead),
			logical.UpdateOperation: writeOp(b.handleConfigWrite),
			logical.DeleteOperation: writeOp(b.handleConfigDelete),
		},
		HelpSynopsis:    pathConfigSynopsis,
		HelpDescription: strings.TrimSpace(pathConfigHelp),
	}
}

func (b *backend) handleConfigRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	cfg, err := b.getConfig(ctx, req.Storage)
	if err != nil || cfg == nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		keyClientID:       cfg.ClientID,
		keySecretSet:      cfg.ClientSecret != "",
		keyRedirectURI:    cfg.RedirectURI,
		keyScopes:         cfg.Scopes,
		keyAuthURL:        cfg.AuthURL,
		keyTokenURL:       cfg.TokenURL,
		keyAPIURL:         cfg.APIURL,
		keyRefreshAhead:   int64(cfg.RefreshAhead.Seconds()),
		keyRequestTimeout: int64(cfg.RequestTimeout.Seconds()),
	}}, nil
}

func (b *backend) handleConfigWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	stored, err := b.getConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	// Work on a copy: the stored value is shared with the cache.
	cfg := &jawboneConfig{}
	if stored != nil {
		*cfg = *stored
	}
	if err := applyConfigFields(cfg, d, stored == nil); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	if err := kieferImport(d, cfg).check(); err != nil {
		return respondError(err) // refused before anything is written
	}
	if err := b.putConfig(ctx, req.Storage, cfg); err != nil {
		return nil, err
	}
	b.Logger().Info("config written", "client_id", cfg.ClientID, "scopes", cfg.Scopes, "token_url", cfg.TokenURL)
	return b.importKieferTokens(ctx, req, d, cfg)
}

// applyConfigFields merges the written fields into cfg (a partial update),
// fills defaults on the first write, and validates the result as a whole.
func applyConfigFields(cfg *jawboneConfig, d *framework.FieldData, first bool) error {
	setString(d, keyClientID, &cfg.ClientID)
	setString(d, keyClientSecret, &cfg.ClientSecret)
	setString(d, keyRedirectURI, &cfg.RedirectURI)
	setStringOrDefault(d, keyAuthURL, &cfg.AuthURL, first)
	setStringOrDefault(d, keyTokenURL, &cfg.TokenURL, first)
	setStringOrDefault(d, keyAPIURL, &cfg.APIURL, first)
	setDurationOrDefault(d, keyRefreshAhead, &cfg.RefreshAhead, first)
	setDurationOrDefault(d, keyRequestTimeout, &cfg.RequestTimeout, first)
	if err := applyScopes(cfg, d); err != nil {
		return err
	}
	return validateConfig(cfg)
}

func setString(d *framework.FieldData, key string, dst *string) {
	if v, ok := d.GetOk(key); ok {
		*dst = strings.TrimSpace(v.(string))
	}
}

// setStringOrDefault sets a field that has a schema default: the written
// value, else on the first write the default, else the stored value.
func setStringOrDefault(d *framework.FieldData, key string, dst *string, first bool) {
	if _, ok := d.GetOk(key); ok || first {
		*dst = strings.TrimSpace(d.Get(key).(string))
	}
}

// setDurationOrDefault is setStringOrDefault for durations; a stored 0 is a
// value (refresh_ahead=0), not a gap to fill.
func setDurationOrDefault(d *framework.FieldData, key string, dst *time.Duration, first bool) {
	if _, ok := d.GetOk(key); ok || first {
		*dst = time.Duration(d.Get(key).(int)) * time.Second
	}
}

func applyScopes(cfg *jawboneConfig, d *framework.FieldData) error {
	raw, okScopes := d.GetOk(keyScopes)
	kiefer, okScope := d.GetOk(keyScope)
	switch {
	case okScopes && okScope:
		return fmt.Errorf("give %s or %s (the kiefer name), not both", keyScopes, keyScope)
	case okScope:
		raw, okScopes = kiefer, true
	}
	if !okScopes && len(cfg.Scopes) > 0 {
		return nil
	}
	var list []string
	if okScopes {
		list = raw.([]string)
	}
	scopes, err := normalizeScopes(keyScopes, list)
	if err != nil {
		return err
	}
	cfg.Scopes = scopes
	return nil
}

func validateConfig(cfg *jawboneConfig) error {
	required := []struct{ key, value string }{
		{keyClientID, cfg.ClientID}, {keyClientSecret, cfg.ClientSecret}, {keyRedirectURI, cfg.RedirectURI},
	}
	for _, f := range required {
		if f.value == "" {
			return fmt.Errorf("%s is required: set it with vault write jawbone/config %s=<value>", f.key, f.key)
		}
	}
	limits := []struct {
		key, value string
		max        int
	}{
		{keyClientID, cfg.ClientID, maxClientIDLen}, {keyClientSecret, cfg.ClientSecret, maxClientSecretLen},
		{keyRedirectURI, cfg.RedirectURI, maxURLLen}, {keyAuthURL, cfg.AuthURL, maxURLLen},
		{keyTokenURL, cfg.TokenURL, maxURLLen}, {keyAPIURL, cfg.APIURL, maxURLLen},
	}
	for _, f := range limits {
		if len(f.value) > f.max {
			return fmt.Errorf("%s is %d bytes long; at most %d are allowed", f.key, len(f.value), f.max)
		}
	}
	if strings.ContainsFunc(cfg.ClientID, isSpaceOrControl) {
		return fmt.Errorf("%s must not contain spaces or control characters", keyClientID)
	}
	urls := []struct{ key, value string }{
		{keyRedirectURI, cfg.RedirectURI}, {keyAuthURL, cfg.AuthURL}, {keyTokenURL, cfg.TokenURL}, {keyAPIURL, cfg.APIURL},
	}
	for _, f := range urls {
		if err := validateSecureURL(f.key, f.value); err != nil {
			return err
		}
	}
	if cfg.RefreshAhead < 0 || cfg.RefreshAhead > maxRefreshAhead {
		return fmt.Errorf("%s must be between 0 and %s (tokens live a year); got %s", keyRefreshAhead, maxRefreshAhead, cfg.RefreshAhead)
	}
	if cfg.RequestTimeout < time.Second || cfg.RequestTimeout > maxRequestTimeout {
		return fmt.Errorf("%s must be between 1s and %s; got %s", keyRequestTimeout, maxRequestTimeout, cfg.RequestTimeout)
	}
	return nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// kieferImport is the grant a kiefer config file carries, if any.
func kieferImport(d *framework.FieldData, cfg *jawboneConfig) credsImport {
	return credsImport{
		AccessToken:  d.Get(keyAccessToken).(string),
		RefreshToken: d.Get(keyRefreshToken).(string),
		Scopes:       cfg.Scopes,
	}
}

// importKieferTokens imports tokens found in a kiefer config file as the
// creds named "me". The config is already stored: a failed import says so.
func (b *backend) importKieferTokens(ctx context.Context, req *logical.Request, d *framework.FieldData, cfg *jawboneConfig) (*logical.Response, error) {
	imp := kieferImport(d, cfg)
	if imp.AccessToken == "" && imp.RefreshToken == "" {
		return nil, nil
	}
	resp, err := b.importCreds(ctx, req.Storage, cfg, kieferCredsName, imp)
	if err != nil {
		var re *requestError
		if errors.As(err, &re) {
			re.msg = fmt.Sprintf("config saved, but importing its tokens as creds %q failed: %s; fix the tokens and retry with vault write jawbone/creds/%s", kieferCredsName, re.msg, kieferCredsName)
		}
		return respondError(err)
	}
	resp.AddWarning(fmt.Sprintf("imported the file's tokens as creds %q: read them with vault read jawbone/creds/%s", kieferCredsName, kieferCredsName))
	return resp, nil
}

func (b *backend) handleConfigDelete(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if err := b.deleteConfig(ctx, req.Storage); err != nil {
		return nil, fmt.Errorf("deleting config: %w", err)
	}
	return nil, nil
}

// requireConfig loads the config or explains how to write one.
func (b *backend) requireConfig(ctx context.Context, s logical.Storage) (*jawboneConfig, error) {
	cfg, err := b.getConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, badRequest("the engine is not configured: write jawbone/config first (client_id, client_secret, redirect_uri)")
	}
	return cfg, nil
}
