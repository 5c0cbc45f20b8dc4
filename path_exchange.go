package jawbone

import (
	"context"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	descRedirectURL = "The full URL the browser landed on after Jawbone's consent page, as copied from its address bar (redirect_uri?code=...&state=...)."
	descCode        = "The authorization code, if you pass code and state separately instead of redirect_url."
	descState       = "The state from the redirect, if you pass code and state separately instead of redirect_url."
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
spent on the first try, whether the exchange succeeds or not. A state issued
while redirect_uri was this mount's callback (callback_in_use true) is
completed there, by the browser, not here. If the user
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
			logical.UpdateOperation: replies(writeOp(logical.UpdateOperation, b.handleExchange, every), authorizedReplyFields),
		},
		HelpSynopsis:    pathExchangeSynopsis,
		HelpDescription: strings.TrimSpace(pathExchangeHelp),
	}
}

func (b *backend) handleExchange(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	done, err := b.exchangePasted(ctx, req.Storage, mountOf(req), pastedRedirect{
		URL:   strings.TrimSpace(d.Get(keyRedirectURL).(string)),
		Code:  strings.TrimSpace(d.Get(keyCode).(string)),
		State: strings.TrimSpace(d.Get(keyState).(string)),
	})
	if err != nil {
		return nil, err
	}
	return authorizedReply(done), nil
}

// authorizedReply is the reply to a completed authorization: never a token.
func authorizedReply(done *completedAuth) *logical.Response {
	resp := &logical.Response{Data: map[string]any{
		keyName:       done.name,
		keyScopes:     done.grant.Scopes,
		keyExpiresAt:  done.grant.ExpiresAt.UTC().Format(time.RFC3339),
		keyAccountXID: done.grant.AccountXID,
	}}
	if done.replaced != "" {
		resp.Data[keyReplaced] = done.replaced
		resp.AddWarning(replacedWarning(done.name, done.grant, done.replaced))
	}
	if done.warning != "" {
		resp.AddWarning(done.warning)
	}
	return resp
}
