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
	// none, one of the same account, or one whose account is not known).
	previous string
	// warning says what could not be checked, if anything.
	warning string
}

// mayReplace decides whether a grant of account incoming (or of an account
// that could not be checked, incoming == "" with why) may take the place
// of current, under name's lock. A name with no grant or a rejected one
// (needs_reauthorization) may always be filled; the same account may
// re-authorize its own; anything else needs replace.
func (b *backend) mayReplace(tx *grantTx, cfg *config, incoming string, why error, replace bool, fix remedy) (replacement, error) {
	current := tx.current
	switch {
	case current == nil || current.NeedsReauth:
		return replacement{previous: otherAccount(current, incoming)}, nil
	case incoming != "" && incoming == current.AccountXID:
		return replacement{}, nil // re-authorized by the account it holds
	}
	held, err := b.accountHeld(tx, cfg)
	switch {
	case incoming != "" && incoming == held:
		return replacement{}, nil
	case replace:
		return replacement{previous: held, warning: unknownAccount(incoming, why, held, err)}, nil
	}
	return replacement{}, accountConflict(tx.name, held, incoming, why, err).withFix(fix)
}

// otherAccount is the account of a rejected grant being replaced, if it is
// recorded and not the incoming one: the reply still says whose it was.
func otherAccount(current *grant, incoming string) string {
	if current == nil || current.AccountXID == incoming {
		return ""
	}
	return current.AccountXID
}

// accountHeld is the account of current's grant. A recorded account is the answer: a token Jawbone rejects says
// nothing about the grant, whose refresh token may still work (another
// client refreshed it, or a refresh in doubt landed), so it is never taken
// as a sign that another account may take the name without replace=true;
// only invalid_grant (needs_reauthorization) is. For a grant stored before
// accounts were recorded it asks Jawbone, and records the answer; "" with
// why when Jawbone does not say.
func (b *backend) accountHeld(tx *grantTx, cfg *config) (string, error) {
	current := tx.current
	if current.AccountXID != "" {
		return current.AccountXID, nil
	}
	xid, err := b.accountOf(tx.ctx, cfg, current.AccessToken)
	if jawbone.KindOf(err) == jawbone.TokenRejected && !current.attempting() {
		// Known dead now: not handed out again before it is checked and
		// refreshed.
		if err := tx.put(current.tokenRejected(b.now())); err != nil {
			b.log().Warn("could not record that Jawbone rejects the token of creds", "name", tx.name, "error", err)
		}
	}
	if err != nil {
		return "", err
	}
	if err := tx.put(current.ofAccount(xid)); err != nil {
		b.log().Warn("could not record the account of creds", "name", tx.name, "error", err)
	}
	return xid, nil
}

// accountConflict refuses a grant of incoming's account for name, whose
// grant is of held's. Whoever is not a user of the mount (the callback's
// browser) is told that the accounts differ, not which they are.
func accountConflict(name, held, incoming string, whyIncoming, whyHeld error) *requestError {
	public := badRequest("creds %q hold a grant of another Jawbone account than the one that signed in, so nothing was stored", name)
	if held == "" || incoming == "" {
		public = badRequest("creds %q hold a grant whose Jawbone account could not be compared with the one that signed in, so nothing was stored", name)
	}
	return badRequest("creds %q hold a grant of %s, and this one is of %s, so nothing was stored",
		name, accountText(held, whyHeld), accountText(incoming, whyIncoming)).withPublic(public)
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
// replacedWarning says that name's grant of account previous was replaced
// by g ("" when nothing was replaced).
func replacedWarning(name string, g *grant, previous string) string {
	if previous == "" {
		return ""
	}
	return fmt.Sprintf("creds %q now hold a grant of %s, replacing one of account %s", name, accountText(g.AccountXID, nil), previous)
}

func accountText(xid string, why error) string {
	switch {
	case xid != "":
		return "Jawbone account " + xid
	case why != nil:
		return fmt.Sprintf("an account Jawbone would not name (%v)", why)
	}
	return "an account not recorded"
}
