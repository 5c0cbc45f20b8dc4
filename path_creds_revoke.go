package jawbone

import (
	"context"
	"fmt"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const pathCredsRevokeSynopsis = "Disconnect the app from the Jawbone account of a grant, then forget the grant."

const pathCredsRevokeHelp = `
Revokes the grant stored under this name at Jawbone, then forgets it:

    $ vault write -f jawbone/creds/me/revoke

Vault asks Jawbone to disconnect the app from the account behind the grant
(DELETE users/@me/PartnerAppMembership, with the grant's access token,
refreshed first if Jawbone no longer accepts it). Afterwards none of the
app's tokens for that account work, those of other creds of the same
account included (the reply names them, and their next read says they need
re-authorization). Only then are the creds deleted.

Every creds of the account is marked before Jawbone is asked. If Jawbone
says it did not disconnect the app, the marks are taken back, nothing is
forgotten and the error says so. If its answer does not say (a lost reply,
a gateway's 5xx), nothing is forgotten either, and no token of the account
is handed out again before Jawbone says it still accepts it. To forget the
creds without disconnecting (Jawbone is gone, the account was deleted),
delete them:

    $ vault delete jawbone/creds/me

A policy can allow deleting creds without revoking them, or revoking
without deleting: they are separate paths.
`

func (b *backend) pathCredsRevoke() *framework.Path {
	return credsActionPath("revoke", b.handleCredsRevoke, revokeReplyFields, pathCredsRevokeSynopsis, pathCredsRevokeHelp)
}

func (b *backend) handleCredsRevoke(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	done, err := b.revokeGrant(ctx, req.Storage, d.Get(keyName).(string))
	if err != nil {
		return nil, err
	}
	resp := &logical.Response{Data: map[string]any{
		keyName:       done.name,
		keyAccountXID: done.account,
		keyRevoked:    true,
	}}
	if len(done.alsoDead) > 0 {
		resp.AddWarning(fmt.Sprintf("Jawbone disconnected the app from the whole account, so the creds %s of the same account no longer work either (their next read finds them rejected): delete them with %s, or authorize them again with %s",
			quoteAll(done.alsoDead), vaultCmd(mountOf(req), "delete", "creds/<name>"), vaultCmd(mountOf(req), "read", "auth-url name=<name>")))
	}
	return resp, nil
}
