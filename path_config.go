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
	descClientID         = "The Jawbone app's client ID. Required on the first write."
	descClientSecret     = "The Jawbone app's client secret. Required on the first write. Write-only: a read shows only client_secret_set."
	descRedirectURI      = "The redirect URI registered for the app. Must use https; http is allowed only on a loopback host (127.0.0.1, ::1, localhost). Required on the first write."
	descScopes           = "Scopes to request by default, as a list or comma-separated. Each must be a Jawbone scope. Default: basic_read."
	descScope            = "Alias of scopes, so a kiefer config file (\"scope\": [...]) can be written as-is."
	descAuthURL          = "Jawbone's authorization endpoint. Override only for a Jawbone-compatible server."
	descTokenURL         = "Jawbone's token endpoint. Override only for a Jawbone-compatible server, together with api_url."
	descAPIURL           = "Base URL of the Jawbone API (used to check tokens, recover a refresh token and disconnect the app). Override only together with token_url."
	descRefreshAhead     = "Refresh an access token when less than this is left before it expires, but never before half its life is over. Jawbone tokens live a year; the default of 168h (7 days) leaves a week to ride out a Jawbone outage while the current token still works. 0 refreshes only in the token's last 30 seconds."
	descTimeout          = "How long one request to Jawbone may take. Default 30s; 1s to 5m. A request Jawbone has not completed within twice this long is taken never to complete."
	descMaxTTL           = "The longest ttl a creds read reports (default 60s, at least 10s). Vault Agent re-reads a creds when its ttl runs out, so it renders a token that changed outside the refresh schedule (a forced refresh, a new authorization, an import) within this time; scheduled refreshes are rendered within seconds either way."
	descCheckInterval    = "How often the background asks Jawbone whether it still accepts each healthy access token (default 1h, at least 1m), as far as max_checks_per_minute allows. A token Jawbone rejects though it has not expired (another client refreshed the grant, say an old kiefer app) is refreshed once and counted in status."
	descMaxChecks        = "The most liveness checks the background makes a minute (default 100, 1 to 10000): with more healthy tokens than this times check_interval in minutes, each is checked less often, the longest unchecked first (status shows the longest wait)."
	descLocalDevelopment = "For local development and tests only: allow http:// endpoints (auth_url, token_url, api_url) on a loopback host (127.0.0.1, ::1, localhost), such as the fake Jawbone of make dev. Vault sends the client secret and the tokens to token_url and api_url: never set this on a server that holds real grants."
	descCACert           = "The PEM certificate(s) of the CA that signed a Jawbone-compatible server's certificate. When set, it is the only CA trusted for the endpoints; verification cannot be turned off."
	descImportAccess     = "kiefer migration: an access token from a kiefer config file, imported as the creds named \"me\"."
	descImportRefr       = "kiefer migration: a refresh token from a kiefer config file, imported as the creds named \"me\"."
	descImportExpires    = "kiefer migration: when the file's access_token expires (RFC 3339). With it the token is kept as is, and the kiefer app using it keeps working; without it the grant is refreshed once, which kills that token."
	descImportReplace    = "kiefer migration: allow the file's grant to replace working creds \"me\" of another Jawbone account."
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
it are imported as the creds named "me" (see "vault path-help jawbone/creds/me");
add expires_at=<RFC 3339> to keep the file's access token as is (otherwise
the import refreshes once, which kills the token a running kiefer app uses:
stop it first). The reply names the creds but holds no token.

Endpoints: Jawbone's by default. token_url and api_url are overridden
together (for a Jawbone-compatible server), always https, with ca_cert for a
server behind a private CA; http on a loopback host (the fake of make dev)
needs local_development=true. Whoever may update this config can point the
endpoints anywhere and so holds every grant of the mount: grant it to the
mount's administrators only.

refresh_ahead (default 168h) decides when an access token is refreshed
(never before half its life is over); request_timeout (default 30s) bounds
each call to Jawbone; max_ttl (default 60s) bounds the ttl a creds read
reports, so Vault Agent picks up any change of a token within it;
check_interval (default 1h) is how often each token is checked with Jawbone,
at most max_checks_per_minute (default 100) checks a minute.

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
			keyRefreshAhead:   tuningDuration(descRefreshAhead, defaultRefreshAhead, "Refresh ahead"),
			keyRequestTimeout: tuningDuration(descTimeout, defaultRequestTimeout, "Request timeout"),
			keyLocalDevelopment: {Type: framework.TypeBool, Description: descLocalDevelopment,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Local development", Group: "Endpoints"}},
			keyCACert: {Type: framework.TypeString, Description: descCACert,
				DisplayAttrs: &framework.DisplayAttributes{Name: "CA certificate (PEM)", Group: "Endpoints", EditType: "textarea"}},
			keyMaxTTL:        tuningDuration(descMaxTTL, defaultMaxTTL, "Longest ttl of a creds read"),
			keyCheckInterval: tuningDuration(descCheckInterval, defaultCheckInterval, "Liveness check interval"),
			keyMaxChecksPerMinute: {Type: framework.TypeInt, Description: descMaxChecks, Default: defaultMaxChecksPerMinute,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Most liveness checks a minute", Group: "Tuning"}},
			keyExpiresAt: {Type: framework.TypeString, Description: descImportExpires,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Access token expires at (kiefer)", Group: "Migration"}},
			keyReplace: {Type: framework.TypeBool, Description: descImportReplace,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Replace another account's grant (kiefer)", Group: "Migration"}},
			keyAccessToken: {Type: framework.TypeString, Description: descImportAccess,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Access token (kiefer)", Group: "Migration", Sensitive: true}},
			keyRefreshToken: {Type: framework.TypeString, Description: descImportRefr,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Refresh token (kiefer)", Group: "Migration", Sensitive: true}},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation:   replies(readOp(b.handleConfigRead, fieldSet{}), configReplyFields),
			logical.UpdateOperation: repliesOrNothing(writeOp(logical.UpdateOperation, b.handleConfigWrite, every), kieferImportReplyFields),
			logical.DeleteOperation: repliesNothing(writeOp(logical.DeleteOperation, b.handleConfigDelete, fieldSet{})),
		},
		HelpSynopsis:    pathConfigSynopsis,
		HelpDescription: strings.TrimSpace(pathConfigHelp),
	}
}

// handleConfigRead shows the config. Durations read as a write takes them
// ("168h", "30s"), one form for all: the CLI would print max_ttl so anyway
// (it formats every field named *ttl), and a read written back is the same
// config.
func (b *backend) handleConfigRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	cfg, err := b.getConfig(ctx, req.Storage)
	if err != nil || cfg == nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		keyClientID:           cfg.ClientID,
		keySecretSet:          cfg.ClientSecret != "",
		keyRedirectURI:        cfg.RedirectURI,
		keyScopes:             cfg.Scopes,
		keyAuthURL:            cfg.AuthURL,
		keyTokenURL:           cfg.TokenURL,
		keyAPIURL:             cfg.APIURL,
		keyRefreshAhead:       shortDuration(cfg.RefreshAhead),
		keyRequestTimeout:     shortDuration(cfg.RequestTimeout),
		keyMaxTTL:             shortDuration(cfg.MaxTTL),
		keyLocalDevelopment:   cfg.LocalDevelopment,
		keyCACert:             cfg.CACert,
		keyCheckInterval:      shortDuration(cfg.CheckInterval),
		keyMaxChecksPerMinute: cfg.MaxChecksPerMinute,
	}}, nil
}

func (b *backend) handleConfigWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	imp, err := kieferImport(d)
	if err != nil {
		return nil, err
	}
	cfg, err := b.updateConfig(ctx, req.Storage, func(c *config, first bool) error {
		if err := c.update(d, first); err != nil {
			return err
		}
		return imp.check() // refused before anything is written
	})
	if err != nil {
		return nil, err
	}
	b.log().Info("config written", "client_id", cfg.ClientID, "scopes", cfg.Scopes, "token_url", cfg.TokenURL)
	if imp.AccessToken == "" && imp.RefreshToken == "" {
		return nil, nil
	}
	return b.importKieferTokens(ctx, req, imp)
}

// kieferImport is the grant a kiefer config file carries, if any: its
// scopes are the config's.
func kieferImport(d *framework.FieldData) (grantImport, error) {
	imp := grantImport{
		AccessToken:  d.Get(keyAccessToken).(string),
		RefreshToken: d.Get(keyRefreshToken).(string),
		Replace:      d.Get(keyReplace).(bool),
	}
	var err error
	imp.ExpiresAt, err = expiresAtOf(d, imp.AccessToken)
	return imp, err
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
	// The reply holds no token: a config write is not a creds read, and a
	// token shown here would reach whoever can write the config.
	mount := mountOf(req)
	resp := &logical.Response{Data: map[string]any{
		keyName:       defaultCredsName,
		keyExpiresAt:  done.grant.ExpiresAt.UTC().Format(time.RFC3339),
		keyAccountXID: done.grant.AccountXID,
	}}
	for _, w := range done.warnings {
		resp.AddWarning(w)
	}
	resp.AddWarning(fmt.Sprintf("imported the file's tokens as creds %q: read the access token with %s",
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
			then := "the config is saved, so import the tokens on their own with " + vaultCmd(m, "write", "creds/"+defaultCredsName+" refresh_token=...")
			if inner.fix == nil {
				return then
			}
			return inner.fix(m) + "; " + then
		},
	}
}

func (b *backend) handleConfigDelete(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	return nil, b.deleteConfig(ctx, req.Storage)
}

// tuningDuration is the schema of a duration setting of the Tuning group.
func tuningDuration(desc string, def time.Duration, name string) *framework.FieldSchema {
	return &framework.FieldSchema{Type: framework.TypeDurationSecond, Description: desc, Default: int(def.Seconds()),
		DisplayAttrs: &framework.DisplayAttributes{Name: name, Group: "Tuning"}}
}
