package jawbone

import (
	"context"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const pathCredsRefreshSynopsis = "Refresh a grant's access token now (kiefer's refresh_access_token)."

const pathCredsRefreshHelp = `
Refreshes the access token of the named creds at once, whatever its expiry,
and returns it like a read of jawbone/creds/<name>:

    $ vault write -f jawbone/creds/me/refresh

Jawbone invalidates the previous access token when it issues a new one, so
anything still holding the old token must read the new one (Vault Agent
does within max_ttl). A forced refresh ignores any backoff and, when it
succeeds, clears needs_reauthorization. Unlike a read, a failed forced
refresh is always an error; while an earlier refresh that did not complete
could still be carried out by Jawbone, it answers 409 with the time after
which it can be forced.
`

func (b *backend) pathCredsRefresh() *framework.Path {
	return credsActionPath("refresh", b.handleCredsRefresh, credsReplyFields, pathCredsRefreshSynopsis, pathCredsRefreshHelp)
}

func (b *backend) handleCredsRefresh(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	read, err := b.forceRefresh(ctx, req.Storage, d.Get(keyName).(string))
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: read.grant.view(read.cfg, b.now())}, nil
}
