package jawbone

// Revoking a grant: disconnecting the app from the Jawbone account behind
// it, then forgetting it. Deleting creds only forgets them, and leaves the
// app connected to the person's account.

import (
	"context"
	"fmt"
	"slices"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/jawbone"
)

// revoked is the outcome of a revocation.
type revoked struct {
	name    string
	account string
	// alsoDead are other creds of the same account: Jawbone disconnects
	// the app from the whole account.
	alsoDead []string
}

// revokeGrant disconnects the app from the account of name's grant at
// Jawbone (DELETE users/@me/PartnerAppMembership), then forgets the grant.
// If Jawbone does not disconnect it, nothing is forgotten. A token Jawbone
// no longer accepts is refreshed once first, to have one that it does.
func (b *backend) revokeGrant(ctx context.Context, s logical.Storage, name string) (*revoked, error) {
	cfg, _, err := b.loadGrant(ctx, s, name)
	if err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx) // once disconnected, the grant must be forgotten
	var done *revoked
	err = b.registry.update(ctx, s, name, func(tx *grantTx) error {
		if tx.current == nil {
			return missingCreds(name)
		}
		g, err := b.disconnectLocked(tx, cfg)
		if err != nil {
			return err
		}
		if err := tx.delete(); err != nil {
			return fmt.Errorf("the app was disconnected at Jawbone, but forgetting creds %q failed: %w", name, err)
		}
		done = &revoked{name: name, account: g.AccountXID}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if done.alsoDead, err = b.registry.namesOfAccount(ctx, s, done.account, name); err != nil {
		b.log().Warn("could not list the other creds of the revoked account", "account", done.account, "error", err)
	}
	slices.Sort(done.alsoDead)
	b.log().Info("creds revoked at Jawbone and forgotten", "name", name, "account", done.account)
	return done, nil
}

// disconnectLocked asks Jawbone to disconnect the app, with a refreshed
// token when the stored one is no longer accepted; it returns the grant
// as it was used.
func (b *backend) disconnectLocked(tx *grantTx, cfg *config) (*grant, error) {
	g, client := tx.current, b.client(cfg)
	err := client.Disconnect(tx.ctx, g.AccessToken)
	if jawbone.KindOf(err) == jawbone.TokenRejected && g.RefreshToken != "" && !g.NeedsReauth {
		res := b.refreshLocked(tx, cfg, g, 0)
		switch {
		case res.fatal != nil:
			return nil, res.fatal
		case res.err == nil:
			g = res.grant
			err = client.Disconnect(tx.ctx, g.AccessToken)
		default:
			err = res.err
		}
	}
	if err != nil {
		return nil, revokeFailed(tx.name, g.AccountXID, err)
	}
	return g, nil
}

func revokeFailed(name, account string, err error) error {
	re := &requestError{status: 502, fix: fixForgetAnyway(name)}
	if k := jawbone.KindOf(err); k == jawbone.GrantRejected || k == jawbone.TokenRejected || k == jawbone.ClientRejected {
		re.status = 400
	}
	re.msg = fmt.Sprintf("Jawbone did not disconnect the app from %s (%v), so nothing was forgotten", accountText(account, nil), err)
	return re
}
