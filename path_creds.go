package jawbone

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	descCredsName    = "Name of the creds: " + credsNameRule + "."
	descCredsAccess  = "Import: an access token. Alone, its refresh token is recovered from Jawbone (kiefer's get_refresh_token)."
	descCredsRefresh = "Import: a refresh token. Alone, it is refreshed at once to check it and get an access token (kiefer's set_refresh_token)."
	descCredsExpires = "Import: when access_token expires (RFC 3339). Without it the grant is refreshed once to learn the expiry, which replaces the imported access token."
	descCredsScopes  = "Import: the scopes the grant has. Default: the config's scopes."
	descCredsReplace = "Import: allow the imported grant to replace working creds of another Jawbone account (or of one that cannot be checked). The same account needs no flag."
)

const pathCredsListSynopsis = "List the names of stored creds."

const pathCredsSynopsis = "Read a fresh Jawbone access token; import or delete a grant."

const pathCredsHelp = `
Read: returns the access token of the grant stored under this name, refreshing
it first when less than refresh_ahead (see jawbone/config) is left, but never
before half the token's life is over:

    $ vault read jawbone/creds/me
    $ vault read -field=access_token jawbone/creds/me

The reply has access_token, token_type, expires_at (RFC 3339), expires_in
(seconds left), scopes, account_xid (the Jawbone account behind the grant),
and for Vault Agent ttl with rotation_period, which
make Agent templates re-read the creds when the token is refreshed, and at
least every max_ttl (default 60s) so that any other change of the token
reaches them too. The refresh token is never returned.

A token is handed out without a warning only when nothing is in doubt:

  - Jawbone answered a refresh with an error that may pass (its own 5xx
    error, a 429) or with a client problem (invalid_client): the current
    token is returned with a warning while it is still valid, and automatic
    retries back off (next_refresh_attempt_at);
  - a refresh did not complete, or its answer was not Jawbone's (a timeout,
    a lost reply, a gateway's 502 or 504, a proxy's 401, Vault stopping):
    Jawbone may have made it, so until Jawbone could no longer complete it
    the token is returned with a warning, and only while Jawbone still
    accepts it;
  - Jawbone rejected the grant (invalid_grant, and only that): the creds are
    marked needs_reauthorization, and reads fail until you authorize again
    (auth-url and exchange) or a forced refresh succeeds.

Stored tokens are never deleted by a failure.

Write: imports a grant (migration from kiefer):

    $ vault write jawbone/creds/me refresh_token=...   # set_refresh_token
    $ vault write jawbone/creds/me access_token=...    # get_refresh_token
    $ vault write jawbone/creds/me access_token=... refresh_token=... expires_at=2027-01-01T00:00:00Z

Without expires_at, the grant is refreshed once to check it and learn the
expiry (so an imported access token is replaced, in any app still using it
too). Importing the grant the creds already hold changes nothing; a grant
another name holds is refused; a working grant of another Jawbone account
is replaced only with replace=true.

Delete: forgets the grant, refresh token included. It does not disconnect
the app at Jawbone: jawbone/creds/<name>/revoke does, then forgets. The
health of the creds without the token: jawbone/creds/<name>/status.
`

// credsActionPath is creds/<name>/<action>: a write, whose read answers how
// to write it instead of a bare 405.
func credsActionPath(action string, h handlerFunc, reply map[string]*framework.FieldSchema, synopsis, help string) *framework.Path {
	return &framework.Path{
		Pattern: "creds/" + framework.MatchAllRegex(keyName) + "/" + action + "$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "jawbone", OperationVerb: action, OperationSuffix: "creds",
		},
		Fields: map[string]*framework.FieldSchema{keyName: credsNameField},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: replies(writeOp(logical.UpdateOperation, h, every), reply),
			logical.ReadOperation:   writeOnly(),
		},
		HelpSynopsis:    synopsis,
		HelpDescription: strings.TrimSpace(help),
	}
}

// credsNameField is the name in every creds/<name> path.
var credsNameField = &framework.FieldSchema{Type: framework.TypeString, Description: descCredsName, Required: true,
	DisplayAttrs: &framework.DisplayAttributes{Name: "Name"}}

const pathCredsListHelp = `
Lists the names under jawbone/creds/, in order. Tokens are read one name at a
time.

A mount may hold a million creds: list them a page at a time with after (the
last name of the previous page) and limit (how many names), as query
parameters of the HTTP API (the vault CLI's list takes none):

    $ curl -H "X-Vault-Token: $VAULT_TOKEN" "$VAULT_ADDR/v1/jawbone/creds?list=true&limit=1000"
    $ curl -H "X-Vault-Token: $VAULT_TOKEN" "$VAULT_ADDR/v1/jawbone/creds?list=true&limit=1000&after=<last name>"

A page shorter than limit is the last. Without limit, every name is listed
at once (vault list jawbone/creds).
`

func (b *backend) pathCredsList() *framework.Path {
	return &framework.Path{
		Pattern: "creds/?$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "jawbone", OperationSuffix: "creds",
		},
		Fields: map[string]*framework.FieldSchema{
			keyAfter: {Type: framework.TypeString, Query: true, Description: "List the names after this one (the last of the previous page)."},
			keyLimit: {Type: framework.TypeInt, Query: true, Description: "List at most this many names; 0 or none: every name."},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ListOperation: replies(listOp(b.handleCredsList), listReplyFields),
		},
		HelpSynopsis:    pathCredsListSynopsis,
		HelpDescription: strings.TrimSpace(pathCredsListHelp),
	}
}

func (b *backend) pathCreds() *framework.Path {
	return &framework.Path{
		Pattern: "creds/" + framework.MatchAllRegex(keyName),
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "jawbone", OperationSuffix: "creds",
		},
		Fields: map[string]*framework.FieldSchema{
			keyName: credsNameField,
			keyAccessToken: {Type: framework.TypeString, Description: descCredsAccess,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Access token", Sensitive: true}},
			keyRefreshToken: {Type: framework.TypeString, Description: descCredsRefresh,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Refresh token", Sensitive: true}},
			keyExpiresAt: {Type: framework.TypeString, Description: descCredsExpires,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Access token expires at"}},
			keyScopes: {Type: framework.TypeCommaStringSlice, Description: descCredsScopes,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Scopes"}},
			keyReplace: {Type: framework.TypeBool, Description: descCredsReplace,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Replace another account's grant"}},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation:   replies(readOp(b.handleCredsRead, fieldSet{keyName}), credsReplyFields),
			logical.UpdateOperation: replies(writeOp(logical.UpdateOperation, b.handleCredsWrite, every), credsReplyFields),
			logical.DeleteOperation: repliesNothing(writeOp(logical.DeleteOperation, b.handleCredsDelete, fieldSet{keyName})),
		},
		HelpSynopsis:    pathCredsSynopsis,
		HelpDescription: strings.TrimSpace(pathCredsHelp),
	}
}

func (b *backend) handleCredsList(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	names, err := b.listCreds(ctx, req.Storage, d.Get(keyAfter).(string), d.Get(keyLimit).(int))
	if err != nil {
		return nil, err
	}
	return logical.ListResponse(names), nil
}

func (b *backend) handleCredsRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get(keyName).(string)
	read, err := b.readCreds(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	return b.answerCreds(name, read)
}

// answerCreds returns a token that works, or an error that says what to do.
// A token is handed out without a warning only when nothing is in doubt.
func (b *backend) answerCreds(name string, read *credsRead) (*logical.Response, error) {
	// Expiry is judged now, however long the read waited; the attempt in
	// doubt by the time the read judged it (credsRead.at).
	g, now, timeout := read.grant, b.now(), read.cfg.RequestTimeout
	switch {
	case g.NeedsReauth:
		return nil, badRequest("creds %q need re-authorization: Jawbone rejected the refresh token (%s)", name, g.LastError).withFix(fixReauth(name))
	case g.expired(now):
		return nil, badGateway("creds %q expired at %s and could not be refreshed%s",
			name, g.ExpiresAt.UTC().Format(time.RFC3339), because(g.LastError)).withFix(fixRetryRefresh(name))
	case g.attempting() && !g.acceptedInDoubt(read.at, timeout):
		return nil, badGateway("the last refresh of creds %q did not complete, so Jawbone may have replaced the stored access token, and it could not be checked or refreshed%s",
			name, because(g.LastError)).withFix(fixRetryRefresh(name))
	}
	resp := &logical.Response{Data: g.view(read.cfg, now)}
	switch {
	case g.attempting():
		resp.AddWarning(fmt.Sprintf("the last refresh of creds %q did not complete%s; Jawbone still accepted this token at %s, but may replace it until %s: read the creds again after then",
			name, because(g.LastError), g.CheckedAt.UTC().Format(time.RFC3339), g.AttemptLandsBy.UTC().Format(time.RFC3339)))
	case read.refreshErr != nil || g.backingOff(now):
		resp.AddWarning(fmt.Sprintf("refreshing creds %q failed (%s); returning the current token, valid until %s; next attempt at %s",
			name, g.LastError, g.ExpiresAt.UTC().Format(time.RFC3339), g.NextAttemptAt.UTC().Format(time.RFC3339)))
	}
	return resp, nil
}

// because is an error's text in parentheses, if there is one.
func because(err string) string {
	if err == "" {
		return ""
	}
	return " (" + err + ")"
}

func (b *backend) handleCredsWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	imp, err := importFromRequest(d)
	if err != nil {
		return nil, err
	}
	imported, err := b.importGrant(ctx, req.Storage, d.Get(keyName).(string), imp)
	if err != nil {
		return nil, err
	}
	resp := &logical.Response{Data: imported.grant.view(imported.cfg, b.now())}
	for _, w := range imported.warnings {
		resp.AddWarning(w)
	}
	return resp, nil
}

// importFromRequest reads the grant a creds write imports; its scopes are
// nil when the write gives none (the config's apply).
func importFromRequest(d *framework.FieldData) (grantImport, error) {
	imp := grantImport{
		AccessToken:  strings.TrimSpace(d.Get(keyAccessToken).(string)),
		RefreshToken: strings.TrimSpace(d.Get(keyRefreshToken).(string)),
		Replace:      d.Get(keyReplace).(bool),
	}
	if imp.AccessToken == "" && imp.RefreshToken == "" {
		return imp, badRequest("give %s, %s, or both: this write imports a grant", keyRefreshToken, keyAccessToken).withFix(fixAuthorizeFromScratch)
	}
	var err error
	if imp.ExpiresAt, err = expiresAtOf(d, imp.AccessToken); err != nil {
		return imp, err
	}
	if raw, ok := d.GetOk(keyScopes); ok {
		imp.Scopes = raw.([]string)
	}
	return imp, nil
}

// expiresAtOf reads the expires_at of an imported access token.
func expiresAtOf(d *framework.FieldData, accessToken string) (time.Time, error) {
	raw := strings.TrimSpace(d.Get(keyExpiresAt).(string))
	if raw == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return time.Time{}, badRequest("%s must be an RFC 3339 time such as 2027-01-31T12:00:00Z; got %q", keyExpiresAt, raw)
	}
	if accessToken == "" {
		return time.Time{}, badRequest("%s describes access_token: give it only with %s", keyExpiresAt, keyAccessToken)
	}
	return t, nil
}

func fixAuthorizeFromScratch(m string) string {
	return "to authorize from scratch, use " + vaultCmd(m, "read", "auth-url")
}

func (b *backend) handleCredsDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return nil, b.forgetGrant(ctx, req.Storage, d.Get(keyName).(string))
}
