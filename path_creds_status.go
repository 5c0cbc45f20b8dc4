package jawbone

import (
	"context"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const pathCredsStatusSynopsis = "A grant's health, without its token."

const pathCredsStatusHelp = `
Shows how the grant stored under this name is doing, without handing out
its access token and without calling Jawbone:

    $ vault read jawbone/creds/me/status

The reply has account_xid (the Jawbone account), expires_at, expires_in,
last_refreshed_at, checked_at (when Jawbone last accepted the token in a
check), needs_reauthorization and, when something went wrong, last_error,
last_error_at and next_refresh_attempt_at; refresh_in_doubt_until while a
refresh that did not complete could still be carried out by Jawbone.

A policy can grant this path to an operator who must watch the creds but
must not read their tokens (jawbone/creds/<name> hands out the token).
`

func (b *backend) pathCredsStatus() *framework.Path {
	return &framework.Path{
		Pattern: "creds/" + framework.MatchAllRegex(keyName) + "/status$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "jawbone", OperationVerb: "read", OperationSuffix: "creds-status",
		},
		Fields: map[string]*framework.FieldSchema{keyName: credsNameField},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: replies(readOp(b.handleCredsStatus, every), healthReplyFields),
		},
		HelpSynopsis:    pathCredsStatusSynopsis,
		HelpDescription: strings.TrimSpace(pathCredsStatusHelp),
	}
}

func (b *backend) handleCredsStatus(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	_, g, err := b.loadGrant(ctx, req.Storage, d.Get(keyName).(string))
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: g.health(b.now())}, nil
}
