package jawbone

import (
	"context"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	descReplace    = "Allow the authorization to replace creds that hold a grant of another Jawbone account. Without it, a new name, the account the creds hold, and creds needing re-authorization can be filled, but not another account's grant."
	descAuthName   = "Name of the creds the authorization will fill (read them at creds/<name>). Default: me."
	descAuthScopes = "Scopes to ask for, as a list or comma-separated. Default: the config's scopes."
)

const pathAuthURLSynopsis = "Start an authorization: get the URL to send the user to."

const pathAuthURLHelp = `
Returns the Jawbone authorization URL for the configured app, with a fresh
state. Open the URL in a browser, sign in to Jawbone and allow access; the
browser then lands on the redirect_uri with ?code=...&state=... in its
address bar. Paste that whole URL into jawbone/exchange:

    $ vault read -field=url jawbone/auth-url
    $ vault write jawbone/exchange redirect_url='<the URL the browser landed on>'

Options (as query parameters on read, or fields on write):
  name     the creds the tokens will be stored as (default "me"); or in
           the path: jawbone/auth-url/alice, for policies templated per
           Vault identity (jawbone/auth-url/user-{{identity.entity.id}})
  scopes   the scopes to ask for (default: the config's scopes)
  replace  allow replacing a working grant of another Jawbone account

    $ vault read jawbone/auth-url name=alice scopes=basic_read,sleep_read
    $ vault read jawbone/auth-url/alice

Each creds name is pinned to its Jawbone account: the account that
completes the authorization is asked from Jawbone and stored with the grant
(account_xid). A new name, the account the creds hold, and creds needing
re-authorization are filled without any flag; another account's grant
(even one whose token Jawbone rejects for now: its refresh token may still
work) is refused unless the authorization was started with replace=true, and the reply then says which account
replaced which. Whoever opens the URL first could sign in with their own
account, so a policy can deny replace (denied_parameters) to those who only
connect accounts.

The state is random (256 bits), kept in Vault storage so any node can finish
the flow, works once, and expires after 10 minutes (as Jawbone's codes do).
A state is kept, used or not, until it expires. Each name may have 5
authorizations started and not completed, and the mount 100,000 states, so
that nobody who may start authorizations of one name can keep others from
starting theirs.
The reply shows url, state, expires_at, name, scopes and callback_in_use:
true when redirect_uri is this mount's own callback
(https://<vault>/v1/jawbone/callback), so the browser comes back to Vault,
which finishes the flow itself and there is nothing to paste.
`

func (b *backend) pathAuthURL() *framework.Path {
	return &framework.Path{
		Pattern: "auth-url$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "jawbone",
			OperationSuffix: "authorization-url",
		},
		Fields: map[string]*framework.FieldSchema{
			keyReplace: {Type: framework.TypeBool, Description: descReplace,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Replace working creds"}},
			keyName: {Type: framework.TypeString, Description: descAuthName, Default: defaultCredsName,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Creds name"}},
			keyScopes: {Type: framework.TypeCommaStringSlice, Description: descAuthScopes,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Scopes"}},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation:   replies(writingReadOp(b.handleAuthURL, every), authURLReplyFields),
			logical.UpdateOperation: replies(writeOp(logical.UpdateOperation, b.handleAuthURL, every), authURLReplyFields),
		},
		HelpSynopsis:    pathAuthURLSynopsis,
		HelpDescription: strings.TrimSpace(pathAuthURLHelp),
	}
}

// pathAuthURLForName is auth-url with the name in the path, so that one
// templated policy can let each Vault identity authorize only its own
// creds (Vault templates policies by path, not by parameter).
func (b *backend) pathAuthURLForName() *framework.Path {
	p := b.pathAuthURL()
	p.Pattern = "auth-url/" + framework.MatchAllRegex(keyName)
	p.DisplayAttrs = &framework.DisplayAttributes{OperationPrefix: "jawbone", OperationSuffix: "authorization-url-for-name"}
	p.Fields = map[string]*framework.FieldSchema{
		keyName:    credsNameField,
		keyScopes:  p.Fields[keyScopes],
		keyReplace: p.Fields[keyReplace],
	}
	p.HelpSynopsis = pathAuthURLForNameSynopsis
	p.HelpDescription = strings.TrimSpace(pathAuthURLForNameHelp)
	return p
}

const pathAuthURLForNameSynopsis = "Start an authorization of the creds named in the path."

const pathAuthURLForNameHelp = `
The same as jawbone/auth-url name=<name>, with the name in the path, so that
a policy can grant it per name: a templated policy then lets every Vault
identity authorize, and read, only its own creds. Template it with the
entity's id, never its name (a name can be a glob, or an application's
creds name), in a namespace of names no application's creds use:

    path "jawbone/auth-url/user-{{identity.entity.id}}" { capabilities = ["read"] }
    path "jawbone/creds/user-{{identity.entity.id}}"    { capabilities = ["read"] }

    $ vault read -field=url jawbone/auth-url/user-$(vault read -field=entity_id auth/token/lookup-self)

The URL is a bearer capability: whoever signs in with it fills these creds
with their own Jawbone account. Never open one someone else sent you.

Options: scopes, replace (see vault path-help jawbone/auth-url).
`

func (b *backend) handleAuthURL(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	ar := authRequest{Name: d.Get(keyName).(string), Replace: d.Get(keyReplace).(bool)}
	if raw, ok := d.GetOk(keyScopes); ok {
		ar.Scopes = raw.([]string)
	}
	started, err := b.startAuthorization(ctx, req.Storage, req.MountPoint, ar)
	if err != nil {
		return nil, err
	}
	resp := &logical.Response{Data: map[string]any{
		keyURL:           started.url,
		keyState:         started.state,
		keyExpiresAt:     started.pending.ExpiresAt.UTC().Format(time.RFC3339),
		keyName:          started.pending.Name,
		keyScopes:        started.pending.Scopes,
		keyCallbackInUse: started.callbackInUse,
	}}
	if started.warning != "" {
		resp.AddWarning(started.warning)
	}
	return resp, nil
}
