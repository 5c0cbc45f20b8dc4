package jawbone

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	descClientID      = "The Jawbone app's client ID. Required on the first write."
	descClientSecret  = "The Jawbone app's client secret. Required on the first write. Write-only: a read shows only client_secret_set."
	descRedirectURI   = "The redirect URI registered for the app. Must use https; http is allowed only on a loopback host (127.0.0.1, ::1, localhost). Required on the first write."
	descScopes        = "Scopes to request by default, as a list or comma-separated. Each must be a Jawbone scope. Default: basic_read."
	descScope         = "Alias of scopes, so a kiefer config file (\"scope\": [...]) can be written as-is."
	descAuthURL       = "Jawbone's authorization endpoint. Override only for a Jawbone-compatible server."
	descTokenURL      = "Jawbone's token endpoint. Override only for a Jawbone-compatible server."
	descAPIURL        = "Base URL of the Jawbone API (used to recover a refresh token from an access token)."
	descRefreshAhead  = "Refresh an access token when less than this is left before it expires. Jawbone tokens live a year; the default of 168h (7 days) leaves a week to ride out a Jawbone outage while the current token still works. 0 refreshes only once expired."
	descTimeout       = "How long one request to Jawbone may take. Default 30s; 1s to 5m. A request Jawbone has not completed within twice this long is taken never to complete."
	descMaxTTL        = "The longest ttl a creds read reports (default 60s, at least 10s). Vault Agent re-reads a creds when its ttl runs out, so it renders a token that changed outside the refresh schedule (a forced refresh, a new authorization, an import) within this time; scheduled refreshes are rendered within seconds either way."
	descCheckInterval = "How often the background scan asks Jawbone whether it still accepts each healthy access token (default 1h, at least 1m). A token Jawbone rejects though it has not expired (another client refreshed the grant, say an old kiefer app) is refreshed once and counted in status."
	descImportAccess  = "kiefer migration: an access token from a kiefer config file, imported as the creds named \"me\"."
	descImportRefr    = "kiefer migration: a refresh token from a kiefer config file, imported as the creds named \"me\"."
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

refresh_ahead (default 168h) decides when an access token is refreshed
(never before half its life is over); request_timeout (default 30s) bounds
each call to Jawbone; max_ttl (default 60s) bounds the ttl a creds read
reports, so Vault Agent picks up any change of a token within it;
check_interval (default 1h) is how often each token is checked with Jawbone.

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
			keyMaxTTL: {Type: framework.TypeDurationSecond, Description: descMaxTTL,
				Default:      int(defaultMaxTTL.Seconds()),
				DisplayAttrs: &framework.DisplayAttributes{Name: "Longest ttl of a creds read", Group: "Tuning"}},
			keyCheckInterval: {Type: framework.TypeDurationSecond, Description: descCheckInterval,
				Default:      int(defaultCheckInterval.Seconds()),
				DisplayAttrs: &framework.DisplayAttributes{Name: "Liveness check interval", Group: "Tuning"}},
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
		keyMaxTTL:         int64(cfg.MaxTTL.Seconds()),
		keyCheckInterval:  int64(cfg.CheckInterval.Seconds()),
	}}, nil
}

func (b *backend) handleConfigWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	imp := kieferImport(d)
	cfg, err := b.updateConfig(ctx, req.Storage, func(c *config, first bool) error {
		if err := c.update(d, first); err != nil {
			return err
		}
		return imp.check() // refused before anything is written
	})
	if err != nil {
		return nil, err
	}
	b.Logger().Info("config written", "client_id", cfg.ClientID, "scopes", cfg.Scopes, "token_url", cfg.TokenURL)
	if imp.AccessToken == "" && imp.RefreshToken == "" {
		return nil, nil
	}
	return b.importKieferTokens(ctx, req, imp)
}

// kieferImport is the grant a kiefer config file carries, if any: its
// scopes are the config's.
func kieferImport(d *framework.FieldData) grantImport {
	return grantImport{
		AccessToken:  d.Get(keyAccessToken).(string),
		RefreshToken: d.Get(keyRefreshToken).(string),
	}
}

// importKieferTokens imports tokens found in a kiefer config file as the
// creds named "me". The config is already stored: a failed import says so.
func (b *backend) importKieferTokens(ctx context.Context, req *logical.Request, imp grantImport) (*logical.Response, error) {
	done, err := b.importGrant(ctx, req.Storage, defaultCredsName, imp)
	var re *requestError
	if errors.As(err, &re) {
		return nil, kieferImportFailed(re)
	}
	if err != nil {
		return nil, err
	}
	mount := mountOf(req)
	resp := &logical.Response{Data: done.grant.view(done.cfg, b.now())}
	for _, w := range done.warnings {
		resp.AddWarning(w)
	}
	resp.AddWarning(fmt.Sprintf("imported the file's tokens as creds %q: read them with %s",
		defaultCredsName, vaultCmd(mount, "read", "creds/"+defaultCredsName)))
	return resp, nil
}

// kieferImportFailed says that the config was saved though its tokens were
// refused, and how to import them on their own.
func kieferImportFailed(re *requestError) *requestError {
	inner := *re
	return &requestError{
		status: re.status,
		msg:    fmt.Sprintf("config saved, but importing its tokens as creds %q failed: %s", defaultCredsName, inner.msg),
		fix: func(m string) string {
			again := "fix the tokens and retry with " + vaultCmd(m, "write", "creds/"+defaultCredsName)
			if inner.fix == nil {
				return again
			}
			return inner.fix(m) + "; " + again
		},
	}
}

func (b *backend) handleConfigDelete(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	return nil, b.deleteConfig(ctx, req.Storage)
}
