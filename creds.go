package jawbone

// The creds flows that neither refresh, import nor revoke: listing the
// names, and forgetting a grant.

import (
	"context"

	"github.com/hashicorp/vault/sdk/logical"
)

// listCreds is up to limit creds names after after, in order; limit 0:
// every name.
func (b *backend) listCreds(ctx context.Context, s logical.Storage, after string, limit int) ([]string, error) {
	if limit < 0 {
		return nil, badRequest("%s must be 0 (every name) or more; got %d", keyLimit, limit)
	}
	return b.registry.list(ctx, s, after, limit)
}

// forgetGrant forgets the grant of name, waiting for any refresh of it so
// that the refresh cannot write it back.
func (b *backend) forgetGrant(ctx context.Context, s logical.Storage, name string) error {
	if err := validateCredsName(name); err != nil {
		return err
	}
	return b.registry.update(ctx, s, name, func(tx *grantTx) error {
		if err := tx.delete(); err != nil {
			return err
		}
		b.log().Info("creds deleted", "name", name)
		return nil
	})
}
