package jawbone

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/oauth2"
)

const (
	keyName      = "name"
	keyURL       = "url"
	keyState     = "state"
	keyExpiresAt = "expires_at"
	// keyCallbackInUse tells the CLI user whether the browser comes back to
	// Vault's callback (nothing to paste) or to a redirect_uri elsewhere.
	keyCallbackInUse = "callback_in_use"
	keyReplace       = "replace"
	descReplace      = "Allow the authorization to replace creds that hold a working grant. Without it, only a new name or creds needing re-authorization can be filled."

	descAuthName   = "Name of the creds the authorization will fill (read them at creds/<name>). Default: me."
	descAuthScopes = "Scopes to ask for, as a list or comma-separated. Default: the config's scopes."

	defaultCredsName = "me"
	// stateTTL matches the life of a Jawbone authorization code: a state older
	// than that could not come back with a code that still works.
	stateTTL = 10 * time.Minute
	// stateBytes gives 256 random bits, well above the 128 a state needs.
	stateBytes = 32
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
  name    the creds the tokens will be stored as (default "me")
  scopes  the scopes to ask for (default: the config's scopes)

    $ vault read jawbone/auth-url name=alice scopes=basic_read,sleep_read

The state is random (256 bits), kept in Vault storage so any node can finish
the flow, works once, and expires after 10 minutes (as Jawbone's codes do).
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
			logical.ReadOperation:   readOp(b.handleAuthURL),
			logical.UpdateOperation: writeOp(b.handleAuthURL),
		},
		HelpSynopsis:    pathAuthURLSynopsis,
		HelpDescription: strings.TrimSpace(pathAuthURLHelp),
	}
}

func (b *backend) handleAuthURL(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	cfg, err := b.requireConfig(ctx, req.Storage)
	if err != nil {
		return respondError(err)
	}
	pending, err := pendingFromRequest(cfg, d)
	if err != nil {
		return respondError(err)
	}
	if err := b.checkReplace(ctx, req.Storage, pending); err != nil {
		return respondError(err)
	}
	pending.ExpiresAt = b.now().Add(stateTTL)
	state, err := newState()
	if err != nil {
		return nil, err
	}
	if err := putState(ctx, req.Storage, state, pending); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		keyURL:       authCodeURL(cfg, pending.Scopes, state),
		keyState:     state,
		keyExpiresAt: pending.ExpiresAt.UTC().Format(time.RFC3339),
		keyName:      pending.Name,
		keyScopes:    pending.Scopes,
		// true: the browser comes back to jawbone/callback, nothing to paste.
		keyCallbackInUse: callbackInUse(cfg.RedirectURI, req.MountPoint),
	}}, nil
}

// pendingFromRequest reads the options of an authorization.
func pendingFromRequest(cfg *jawboneConfig, d *framework.FieldData) (*stateEntry, error) {
	name := d.Get(keyName).(string)
	if err := validateCredsName(name); err != nil {
		return nil, badRequest("%v", err)
	}
	scopes := cfg.Scopes
	if raw, ok := d.GetOk(keyScopes); ok {
		var err error
		if scopes, err = normalizeScopes(keyScopes, raw.([]string)); err != nil {
			return nil, badRequest("%v", err)
		}
	}
	return &stateEntry{Name: name, Scopes: scopes, RedirectURI: cfg.RedirectURI, Replace: d.Get(keyReplace).(bool)}, nil
}

// checkReplace keeps an authorization from silently replacing a working
// grant: auth-url is a read, and whoever can read it must not be able to
// swap the creds an application depends on for a grant of their own.
func (b *backend) checkReplace(ctx context.Context, s logical.Storage, pending *stateEntry) error {
	if pending.Replace {
		return nil
	}
	existing, err := b.getCreds(ctx, s, pending.Name)
	if err != nil || existing == nil || existing.NeedsReauth {
		return err
	}
	return badRequest("creds %q already hold a working grant; to replace it with a new authorization, run vault read jawbone/auth-url name=%s %s=true",
		pending.Name, pending.Name, keyReplace)
}

func newState() (string, error) {
	buf := make([]byte, stateBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generating state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(buf), nil
}

// authCodeURL is Jawbone's authorization URL: response_type=code, client_id,
// redirect_uri, space-separated scope and state.
func authCodeURL(cfg *jawboneConfig, scopes []string, state string) string {
	oc := oauth2.Config{
		ClientID:    cfg.ClientID,
		RedirectURL: cfg.RedirectURI,
		Scopes:      scopes,
		Endpoint:    oauth2.Endpoint{AuthURL: cfg.AuthURL},
	}
	return oc.AuthCodeURL(state)
}
