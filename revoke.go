package jawbone

// Revoking a grant: disconnecting the app from the Jawbone account behind
// it, then forgetting it. Deleting creds only forgets them, and leaves the
// app connected to the person's account.
//
// A disconnect kills every token of the account, so it is an attempt like a
// refresh, on every grant of the account at once: each is marked before the
// call (their names' critical sections taken together), and what the
// answer proves decides what becomes of the marks (jawbone.Outcome):
// carried out, the grant is forgotten and the account's other grants are
// left to be found dead by their next read; not carried out, the marks are
// taken back; unknown, they stay, so that no token of the account is handed
// out again before Jawbone says it still accepts it.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

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

// revokeTries bounds how often a revoke starts over because the grant of
// the name moved to another account meanwhile.
const revokeTries = 3

// revokeGrant disconnects the app from the account of name's grant at
// Jawbone (DELETE users/@me/PartnerAppMembership), then forgets the grant.
// If Jawbone does not disconnect it, nothing is forgotten. A token Jawbone
// no longer accepts is refreshed once first, to have one that it does.
func (b *backend) revokeGrant(ctx context.Context, s logical.Storage, name string) (*revoked, error) {
	cfg, g, err := b.loadGrant(ctx, s, name)
	if err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx) // once disconnected, the grant must be forgotten
	for range revokeTries {
		others, err := b.concernedBy(ctx, s, g.AccountXID, name)
		if err != nil {
			return nil, err
		}
		var done *revoked
		err = b.registry.updateAll(ctx, s, append([]string{name}, others...), func(txs []*grantTx) error {
			tx := txs[0]
			switch {
			case tx.current == nil:
				return missingCreds(name)
			case tx.current.AccountXID != g.AccountXID:
				g = tx.current // another account's grant now: start over
				return nil
			case g.AccountXID == "":
				// Which creds the disconnect ends depends on the account:
				// learn it first, then start over.
				xid, err := b.accountHeld(tx, cfg)
				if err != nil {
					return unknownAccountRevoke(name, err)
				}
				g = tx.current.ofAccount(xid)
				return nil
			}
			// No name joins the account while it is being disconnected;
			// one that joined since the names were listed starts it over.
			tx.lockAccounts("", g.AccountXID)
			now, err := b.concernedBy(ctx, s, g.AccountXID, name)
			if err != nil || !isSubset(now, others) {
				return err
			}
			done, err = b.revokeLocked(tx, concerned(txs[1:], g.AccountXID), cfg)
			return err
		})
		if err != nil || done != nil {
			return done, err
		}
	}
	return nil, conflict("the grant of creds %q kept changing while it was being revoked", name).withFix(fixForgetAnyway(name))
}

func isSubset(names, of []string) bool {
	return !slices.ContainsFunc(names, func(n string) bool { return !slices.Contains(of, n) })
}

// concernedBy are the names other than except whose token a disconnect of
// account xid kills: its other names, and the names whose account is not
// known (it may be this one).
func (b *backend) concernedBy(ctx context.Context, s logical.Storage, xid, except string) ([]string, error) {
	same, err := b.registry.namesOfAccount(ctx, s, xid, except)
	if err != nil || xid == "" {
		return same, err
	}
	unknown, err := b.registry.namesOfAccount(ctx, s, "", except)
	return append(same, unknown...), err
}

// concerned are the transactions whose grant a disconnect of account
// kills, or may: of the account, or of an account not known.
func concerned(txs []*grantTx, account string) []*grantTx {
	return slices.DeleteFunc(slices.Clone(txs), func(tx *grantTx) bool {
		return tx.current == nil || (tx.current.AccountXID != account && tx.current.AccountXID != "")
	})
}

// revokeLocked disconnects the app from the account of tx's grant, with
// the critical sections of the account's other names (siblings) held, and
// forgets tx's grant.
func (b *backend) revokeLocked(tx *grantTx, siblings []*grantTx, cfg *config) (*revoked, error) {
	g, err := b.disconnectLocked(tx, siblings, cfg)
	if err != nil {
		return nil, err
	}
	if err := tx.delete(); err != nil {
		return nil, fmt.Errorf("the app was disconnected at Jawbone, but forgetting creds %q failed: %w", tx.name, err)
	}
	done := &revoked{name: tx.name, account: g.AccountXID}
	for _, sib := range siblings {
		if sib.current.AccountXID == g.AccountXID && g.AccountXID != "" {
			done.alsoDead = append(done.alsoDead, sib.name)
		}
	}
	slices.Sort(done.alsoDead)
	b.log().Info("creds revoked at Jawbone and forgotten", "name", tx.name, "account", done.account, "also_disconnected", done.alsoDead)
	return done, nil
}

// disconnectLocked asks Jawbone to disconnect the app, every grant of the
// account marked first; with a refreshed token when Jawbone does not accept
// the stored one. It returns the grant as it was used.
func (b *backend) disconnectLocked(tx *grantTx, siblings []*grantTx, cfg *config) (*grant, error) {
	all := append([]*grantTx{tx}, siblings...)
	for refreshed := false; ; refreshed = true {
		g := tx.current
		before, err := b.markForDisconnect(all, g.AccountXID, cfg.RequestTimeout)
		if err != nil {
			return nil, err
		}
		err = b.client(cfg).Disconnect(tx.ctx, g.AccessToken)
		switch outcome := jawbone.OutcomeOf(err); {
		case err == nil:
			b.registry.settleDisconnect(tx.ctx, tx.s, g.AccountXID)
			return g, b.settleAll(all, before)
		case outcome == jawbone.NotCarriedOut:
			b.registry.settleDisconnect(tx.ctx, tx.s, g.AccountXID)
			if err := restoreAll(all, before); err != nil {
				return nil, err
			}
			if refreshed || jawbone.KindOf(err) != jawbone.TokenRejected || g.RefreshToken == "" || g.NeedsReauth {
				return nil, revokeFailed(tx.name, g.AccountXID, err)
			}
			if g.attempting() && g.mayLand(b.now(), cfg.RequestTimeout) {
				// A refresh for a token Jawbone takes would race the one in
				// doubt, which could kill it.
				return nil, conflict("Jawbone does not accept the token of creds %q, and an earlier refresh of theirs may still be carried out until %s; nothing was forgotten",
					tx.name, g.landsBy(cfg.RequestTimeout).UTC().Format(time.RFC3339)).withFix(fixRevokeLater(tx.name))
			}
			res := b.refreshLocked(tx, cfg, g, 0, true)
			switch {
			case res.fatal != nil:
				return nil, res.fatal
			case res.err != nil:
				return nil, revokeFailed(tx.name, g.AccountXID, res.err)
			}
		default:
			if outcome == jawbone.UnknownFinished {
				b.registry.settleDisconnect(tx.ctx, tx.s, g.AccountXID)
				// A mark that cannot be settled stays as it was: in doubt,
				// which is safe (settleAll logs it).
				_ = b.settleAll(all, before)
			}
			return nil, revokeInDoubt(tx.name, g.AccountXID, err)
		}
	}
}

// markForDisconnect marks every grant of txs as in an attempt, and records
// the disconnect of account xid, so that the marks cover the disconnect
// sent right after: Jawbone may carry it out until twice timeout after it
// is sent, and the writes of many names take a while. The marks first
// allow timeout for the writes; writes that took longer are made again
// allowing twice as long, and so on, three times at most. It returns the
// grants as they were.
func (b *backend) markForDisconnect(txs []*grantTx, xid string, timeout time.Duration) ([]*grant, error) {
	tx := txs[0]
	before := make([]*grant, len(txs))
	for i, t := range txs {
		before[i] = t.current
	}
	for round := range markRounds {
		markedAt := b.now()
		sendBy := markedAt.Add(timeout << round)
		for i, t := range txs {
			if err := t.put(before[i].withAttempt(markedAt, timeout, false).sentAt(sendBy, timeout)); err != nil {
				// Nothing was called: a mark that cannot be taken back is
				// only a check more.
				marked := txs[:i]
				if round > 0 {
					marked = txs
				}
				_ = restoreAll(marked, before)
				return nil, err
			}
		}
		if err := b.registry.noteDisconnect(tx.ctx, tx.s, xid, tx.current.landsBy(timeout)); err != nil {
			_ = restoreAll(txs, before)
			return nil, err
		}
		if !b.now().After(sendBy) {
			return before, nil
		}
	}
	_ = restoreAll(txs, before)
	return nil, fmt.Errorf("marking the %d creds of Jawbone account %s took longer than %s, so nothing was sent to Jawbone; try again", len(txs), xid, timeout<<(markRounds-1))
}

// markRounds bounds how often a revoke marks the account's names again.
const markRounds = 3

// restoreAll stores each grant as it was before markAll.
func restoreAll(txs []*grantTx, before []*grant) error {
	var first error
	for i, tx := range txs {
		if err := tx.put(before[i]); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// settleAll stores each grant marked by markAll (before: as they were) as
// after a disconnect that can no longer land: their next read checks them.
func (b *backend) settleAll(txs []*grantTx, before []*grant) error {
	var first error
	for i, tx := range txs {
		if err := tx.put(tx.current.landed(b.now(), before[i])); err != nil {
			b.log().Error("could not record the outcome of a disconnect", "name", tx.name, "error", err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

func revokeFailed(name, account string, err error) error {
	re := &requestError{status: 502, fix: fixForgetAnyway(name)}
	if k := jawbone.KindOf(err); k == jawbone.GrantRejected || k == jawbone.TokenRejected || k == jawbone.ClientRejected {
		re.status = 400
	}
	re.msg = fmt.Sprintf("Jawbone did not disconnect the app from %s (%v), so nothing was forgotten", accountText(account, nil), err)
	return re
}

func fixRevokeLater(name string) remedy {
	return func(m string) string {
		return "revoke again after then with " + vaultCmd(m, "write -f", "creds/"+name+"/revoke") +
			", or forget the creds without disconnecting with " + vaultCmd(m, "delete", "creds/"+name)
	}
}

// unknownAccountRevoke refuses to disconnect the app from an account
// Jawbone would not name: which other creds it would end is not known.
func unknownAccountRevoke(name string, err error) error {
	var re *requestError
	errors.As(providerFailure(err, fixForgetAnyway(name), nil), &re)
	return &requestError{status: re.status, fix: fixForgetAnyway(name),
		msg: fmt.Sprintf("the Jawbone account of creds %q is not known, and Jawbone would not name it (%v), so nothing was disconnected or forgotten", name, err)}
}

// revokeInDoubt answers a disconnect whose outcome is not known.
func revokeInDoubt(name, account string, err error) error {
	return badGateway("Jawbone may have disconnected the app from %s, or not: its answer does not say (%v); nothing was forgotten, and no token of the account's creds is handed out again before Jawbone says it still accepts it",
		accountText(account, nil), err).withFix(fixForgetAnyway(name))
}
