package jawbone

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	keyRedirectURL = "redirect_url"
	keyCode        = "code"

	descRedirectURL = "The full URL the browser landed on after Jawbone's consent page, as copied from its address bar (redirect_uri?code=...&state=...)."
	descCode        = "The authorization code, if you pass code and state separately instead of redirect_url."
	descState       = "The state from the redirect, if you pass code and state separately instead of redirect_url."

	// maxRedirectURLBytes is far above any real redirect and far below what
	// could hurt: a pasted URL is a few hundred bytes.
	maxRedirectURLBytes = 8 << 10

	fixRestart = "start again with vault read jawbone/auth-url"
)

const pathExchangeSynopsis = "Finish an authorization: turn the redirect URL into tokens."

const pathExchangeHelp = `
Completes the flow started at jawbone/auth-url. Paste the whole URL the
browser landed on (the redirect_uri with ?code=...&state=...):

    $ vault write jawbone/exchange redirect_url='https://app.example/cb?code=...&state=...'

or give the two values separately:

    $ vault write jawbone/exchange code=... state=...

The URL must be for the configured redirect_uri (scheme, host and path). The
state must come from auth-url, be unexpired (10 minutes) and unused: it is
spent on the first try, whether the exchange succeeds or not. If the user
denied access, the URL carries error=access_denied and the exchange says so.

On success the tokens are stored as the creds named when the auth-url was
made (default "me"), and the reply shows name, scopes and expires_at. The
tokens themselves are read from jawbone/creds/<name>.
`

func (b *backend) pathExchange() *framework.Path {
	return &framework.Path{
		Pattern: "exchange$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "jawbone",
			OperationVerb:   "exchange",
			OperationSuffix: "authorization-code",
		},
		Fields: map[string]*framework.FieldSchema{
			keyRedirectURL: {Type: framework.TypeString, Description: descRedirectURL,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Redirect URL"}},
			keyCode: {Type: framework.TypeString, Description: descCode,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Code", Sensitive: true}},
			keyState: {Type: framework.TypeString, Description: descState,
				DisplayAttrs: &framework.DisplayAttributes{Name: "State"}},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: writeOp(b.handleExchange),
		},
		HelpSynopsis:    pathExchangeSynopsis,
		HelpDescription: strings.TrimSpace(pathExchangeHelp),
	}
}

func (b *backend) handleExchange(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	cfg, err := b.requireConfig(ctx, req.Storage)
	if err != nil {
		return respondError(err)
	}
	cb, err := callbackFromRequest(cfg, d)
	if err != nil {
		return respondError(err)
	}
	name, entry, err := b.completeAuthorization(ctx, req.Storage, cfg, cb)
	if err != nil {
		return respondError(err)
	}
	return &logical.Response{Data: map[string]any{
		keyName:      name,
		keyScopes:    entry.Scopes,
		keyExpiresAt: entry.ExpiresAt.UTC().Format(time.RFC3339),
	}}, nil
}

// callback is what came back from Jawbone's authorization page.
type callback struct {
	Code, State      string
	Error, ErrorDesc string
}

func callbackFromRequest(cfg *jawboneConfig, d *framework.FieldData) (*callback, error) {
	raw := strings.TrimSpace(d.Get(keyRedirectURL).(string))
	code := strings.TrimSpace(d.Get(keyCode).(string))
	state := strings.TrimSpace(d.Get(keyState).(string))
	switch {
	case raw != "" && (code != "" || state != ""):
		return nil, badRequest("give either %s, or %s and %s, not both", keyRedirectURL, keyCode, keyState)
	case raw != "":
		return parseRedirectURL(raw, cfg.RedirectURI)
	case code == "" && state == "":
		return nil, badRequest("%s is required: paste the full URL the browser landed on after allowing access (or give %s and %s)", keyRedirectURL, keyCode, keyState)
	}
	return &callback{Code: code, State: state}, nil
}

// parseRedirectURL checks that raw is a redirect to redirectURI and pulls out
// the callback parameters. It does not judge code or state: that comes after
// the state is spent.
func parseRedirectURL(raw, redirectURI string) (*callback, error) {
	if len(raw) > maxRedirectURLBytes {
		return nil, badRequest("%s is %d bytes, more than a redirect can be (%d): paste only the URL from the address bar", keyRedirectURL, len(raw), maxRedirectURLBytes)
	}
	got, err := url.Parse(raw)
	if err != nil || got.Scheme == "" || got.Host == "" {
		return nil, badRequest("%s is not an absolute URL: paste the full URL from the browser's address bar, starting with https://", keyRedirectURL)
	}
	want, err := url.Parse(redirectURI)
	if err != nil {
		return nil, badRequest("the configured %s does not parse; rewrite it with vault write jawbone/config %s=<value>", keyRedirectURI, keyRedirectURI)
	}
	if !sameEndpoint(got, want) {
		return nil, badRequest("%s is for %s://%s%s but the configured %s is %s: paste the URL the browser landed on after Jawbone's consent page",
			keyRedirectURL, got.Scheme, got.Host, got.Path, keyRedirectURI, redirectURI)
	}
	q, err := url.ParseQuery(got.RawQuery)
	if err != nil {
		return nil, badRequest("%s has a malformed query string: %v", keyRedirectURL, err)
	}
	for _, key := range []string{keyCode, keyState, "error"} {
		if len(q[key]) > 1 {
			return nil, badRequest("%s has %d %q parameters; a Jawbone redirect has one", keyRedirectURL, len(q[key]), key)
		}
	}
	return &callback{Code: q.Get(keyCode), State: q.Get(keyState),
		Error: q.Get("error"), ErrorDesc: q.Get("error_description")}, nil
}

// sameEndpoint compares scheme, host (with port) and path, ignoring case
// where URLs do and a trailing slash.
func sameEndpoint(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Host, b.Host) &&
		strings.TrimSuffix(a.Path, "/") == strings.TrimSuffix(b.Path, "/")
}

// completeAuthorization spends the state, then (if all checks pass) exchanges
// the code and stores the tokens under the name the state was bound to.
func (b *backend) completeAuthorization(ctx context.Context, s logical.Storage, cfg *jawboneConfig, cb *callback) (string, *credsEntry, error) {
	var pending *stateEntry
	if cb.State != "" {
		var err error
		if pending, err = b.states.spend(ctx, s, cb.State); err != nil {
			return "", nil, err
		}
	}
	if err := b.checkCallback(cfg, cb, pending); err != nil {
		return "", nil, err
	}
	if err := b.checkReplace(ctx, s, pending); err != nil {
		return "", nil, err // checked again: the creds may have been filled since auth-url
	}
	// Counted only here, past the state checks: anonymous junk sent to the
	// callback must not be able to move the metric.
	tok, err := b.newProvider(cfg).Exchange(ctx, cb.Code)
	b.metrics.exchanged(err)
	if err != nil {
		b.Logger().Warn("code exchange failed", "name", pending.Name, "error", err)
		return "", nil, providerFailure(err, "codes work once and live 10 minutes: "+fixRestart)
	}
	entry := b.newEntry(tok, "", pending.Scopes)
	if err := b.storeGrant(ctx, s, pending.Name, entry); err != nil {
		return "", nil, err
	}
	b.Logger().Info("authorization completed", "name", pending.Name, "scopes", pending.Scopes, "expires_at", entry.ExpiresAt)
	return pending.Name, entry, nil
}

// checkCallback applies the checks in the order a user can act on them.
func (b *backend) checkCallback(cfg *jawboneConfig, cb *callback, pending *stateEntry) error {
	switch {
	case cb.Error != "":
		return badRequest("authorization was denied: %s%s; %s", cb.Error, describe(cb.ErrorDesc), fixRestart)
	case cb.Code == "":
		return badRequest("the redirect carries no %s, so it is not a complete Jawbone redirect; use the full URL Jawbone sent the browser to, or %s", keyCode, fixRestart)
	case cb.State == "":
		return badRequest("the redirect carries no %s, so it is not a complete Jawbone redirect; use the full URL Jawbone sent the browser to, or %s", keyState, fixRestart)
	case pending == nil:
		return badRequest("state is unknown or was already used (each state works once); %s", fixRestart)
	case !b.now().Before(pending.ExpiresAt):
		return badRequest("state expired at %s (a state lives %s, like Jawbone's codes); %s",
			pending.ExpiresAt.UTC().Format(time.RFC3339), stateTTL, fixRestart)
	case pending.RedirectURI != cfg.RedirectURI:
		return badRequest("%s changed in the config since this state was issued; %s", keyRedirectURI, fixRestart)
	}
	return nil
}

func describe(desc string) string {
	if desc == "" {
		return ""
	}
	return " (" + desc + ")"
}
