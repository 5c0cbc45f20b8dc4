package jawbone

// Which Jawbone account is behind a grant, and whether a new grant may take
// the place of the one a name holds. A name is pinned to its account: it
// may be authorized (or imported) again for the same account without any
// flag, as kiefer's get_access_token() simply runs again, but a working
// grant of one account is replaced by another account's only when the
// caller asked for it (replace=true, which a policy can deny). The
// authorization URL is a bearer capability, not bound to a browser: whoever
// opens it first can sign in with their own account, and this check is
// what keeps that from silently swapping the grant an application uses.

import (
	"context"
	"fmt"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/jawbone"
)

// accountOf asks Jawbone whose account accessToken belongs to; "" with an
// error when Jawbone does not say.
func (b *backend) accountOf(ctx context.Context, cfg *config, accessToken string) (string, error) {
	acct, err := b.client(cfg).Me(ctx, accessToken)
	if err != nil {
		return "", err
	}
	return acct.XID, nil
}

// replacement is what taking a name's place comes to.
type replacement struct {
	// previous is the account of the grant replaced ("" when the name held
	// no working grant, or one of the same account).
	previous string
	// warning says what could not be checked, if anything.
	warning string
}

// mayReplace decides whether a grant of account incoming (or of an account
// that could not be checked, incoming == "" with why) may take the place
// of current, under name's lock. A name with no grant, a rejected one or
// one Jawbone no longer accepts may always be filled; a working grant of
// the same account may be re-authorized; anything else needs replace.
func (b *backend) mayReplace(ctx context.Context, s logical.Storage, cfg *config, name string, current *grant, incoming string, why error, replace bool, fix remedy) (replacement, error) {
	if current == nil || current.NeedsReauth {
		return replacement{}, nil
	}
	held, working, err := b.accountHeld(ctx, s, cfg, name, current)
	switch {
	case !working:
		return replacement{}, nil
	case incoming != "" && incoming == held:
		return replacement{}, nil
	case replace:
		return replacement{previous: held, warning: unknownAccount(incoming, why, held, err)}, nil
	}
	return replacement{}, accountConflict(name, held, incoming, why, err).withFix(fix)
}

// accountHeld is the account of current's grant and whether Jawbone still
// accepts its token; for a grant stored before accounts were recorded it
// asks Jawbone (and records the answer). A grant whose account cannot be
// learned counts as working, of an unknown account.
func (b *backend) accountHeld(ctx context.Context, s logical.Storage, cfg *config, name string, current *grant) (xid string, working bool, err error) {
	if current.AccountXID != "" && !current.attempting() {
		return current.AccountXID, true, nil
	}
	xid, err = b.accountOf(ctx, cfg, current.AccessToken)
	switch {
	case jawbone.KindOf(err) == jawbone.TokenRejected:
		return current.AccountXID, false, nil
	case err != nil:
		return current.AccountXID, true, err
	}
	if current.AccountXID == "" {
		if err := b.putGrant(ctx, s, name, current.ofAccount(xid)); err != nil {
			b.Logger().Warn("could not record the account of creds", "name", name, "error", err)
		}
	}
	return xid, true, nil
}

func accountConflict(name, held, incoming string, whyIncoming, whyHeld error) *requestError {
	return badRequest("creds %q hold a working grant of %s, and this one is of %s, so nothing was stored",
		name, accountText(held, whyHeld), accountText(incoming, whyIncoming))
}

func unknownAccount(incoming string, whyIncoming error, held string, whyHeld error) string {
	switch {
	case incoming == "":
		return fmt.Sprintf("the account of the new grant could not be checked (%v)", whyIncoming)
	case held == "":
		return fmt.Sprintf("the account of the replaced grant could not be checked (%v)", whyHeld)
	}
	return ""
}

// accountText names an account for a message.
func accountText(xid string, why error) string {
	switch {
	case xid != "":
		return "Jawbone account " + xid
	case why != nil:
		return fmt.Sprintf("an account Jawbone would not name (%v)", why)
	}
	return "an account not recorded"
}
