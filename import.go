package jawbone

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/jawbone"
)

// maxImportTokenLen bounds an imported token: Jawbone's are far shorter.
const maxImportTokenLen = 4096

// grantImport is a grant brought in from outside: kiefer's tokens, from a
// creds write or a kiefer config file.
type grantImport struct {
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time
	Scopes       []string
	// Replace allows taking the place of a working grant of another
	// account (account.go).
	Replace bool
}

// check refuses anything that cannot be a token before it is sent to
// Jawbone: a paste of the wrong thing (quotes, a JSON fragment, a newline)
// must not reach Jawbone, or the log as a "token".
func (imp grantImport) check() error {
	for _, f := range []struct{ key, value string }{{keyAccessToken, imp.AccessToken}, {keyRefreshToken, imp.RefreshToken}} {
		if len(f.value) > maxImportTokenLen || strings.ContainsFunc(f.value, notInAToken) {
			return badRequest("%s does not look like a token: at most %d characters, without spaces, quotes or JSON punctuation; paste the bare token", f.key, maxImportTokenLen)
		}
	}
	return nil
}

// notInAToken is what no OAuth token holds (RFC 6750's b64token, and what
// Jawbone's looked like, has letters, digits and - . _ ~ + / = only).
func notInAToken(r rune) bool {
	return isSpaceOrControl(r) || r > 0x7e || strings.ContainsRune(`"'`+"`"+`{}[],;:<>\`, r)
}

// imported is the outcome of an import.
type imported struct {
	cfg      *config
	grant    *grant
	warnings []string
}

// importGrant stores an imported grant under name and returns it, with
// warnings for the caller. A missing refresh token is recovered from the
// access token. Unless the caller knows when the access token expires, the
// grant is refreshed once: that proves the refresh token works and gives a
// token whose expiry is known. Scopes nil are the config's.
func (b *backend) importGrant(ctx context.Context, s logical.Storage, name string, imp grantImport) (*imported, error) {
	if err := validateCredsName(name); err != nil {
		return nil, err
	}
	cfg, err := b.requireConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	if err := imp.check(); err != nil {
		return nil, err
	}
	if imp.Scopes == nil {
		imp.Scopes = cfg.Scopes
	} else if imp.Scopes, err = normalizeScopes(keyScopes, imp.Scopes); err != nil {
		return nil, err
	}
	g, warnings, err := b.importInto(ctx, s, cfg, name, imp)
	if err != nil {
		return nil, err
	}
	return &imported{cfg: cfg, grant: g, warnings: warnings}, nil
}

// importInto imports imp as the grant of name, inside its critical
// section. Re-importing the grant name already holds changes nothing: its
// refresh would kill the access token the creds hand out (a kiefer file
// applied again, an old token pasted twice). A grant stored under another
// name is refused: two names sharing one grant kill each other's token on
// every refresh. The grant stays locked from that check to the write.
func (b *backend) importInto(ctx context.Context, s logical.Storage, cfg *config, name string, imp grantImport) (*grant, []string, error) {
	// The calls outlive the caller: a refresh done is a token to store.
	ctx = context.WithoutCancel(ctx)
	var stored *grant
	var warnings []string
	err := b.registry.update(ctx, s, name, func(tx *grantTx) error {
		current, client := tx.current, b.client(cfg)
		if imp.RefreshToken == "" {
			recovered, err := client.RecoverRefreshToken(ctx, imp.AccessToken)
			if err != nil {
				return providerFailure(err, fixImportedAccessToken, nil)
			}
			imp.RefreshToken = recovered
		}
		if b.holdsAlready(ctx, cfg, current, imp) {
			stored = current
			warnings = append(warnings, sameGrantWarning(name, current))
			return nil
		}
		held, err := tx.holder(imp.RefreshToken)
		if err != nil {
			return err
		}
		if held.name != "" {
			return sharedGrant(held.name)
		}
		imp, checked := b.checkImportedToken(ctx, cfg, current, imp)
		if current != nil && checked.xid != "" {
			// Refused before any refresh, which would kill the token the
			// import brings only to learn what is known already.
			if _, err := b.mayReplace(tx, cfg, checked.xid, nil, imp.Replace, fixReplaceImport(name)); err != nil {
				return err
			}
		}
		if current != nil && current.RefreshToken == imp.RefreshToken && (imp.AccessToken == "" || imp.ExpiresAt.IsZero()) {
			// Jawbone rejects both the creds' token and the imported one
			// (holdsAlready, checkImportedToken): the import is a refresh of
			// the creds' own grant, an attempt on their entry like any.
			res := b.refreshLocked(tx, cfg, current, 0, true)
			if err := errors.Join(res.fatal, res.err); err != nil {
				return providerFailure(err, fixImportedRefreshToken, nil)
			}
			stored = tx.current
			warnings = append(warnings, checked.warning)
			return nil
		}
		g, warning, err := b.importedGrant(tx, cfg, client, imp, held)
		if err != nil {
			return err
		}
		xid, whyNot := checked.xid, checked.err
		if g.AccessToken != imp.AccessToken {
			xid, whyNot = b.accountOf(ctx, cfg, g.AccessToken)
		}
		repl, err := b.mayReplace(tx, cfg, xid, whyNot, imp.Replace, fixReplaceImport(name))
		if err != nil {
			return err
		}
		keptUnasked := g.AccessToken == imp.AccessToken && checked.xid == ""
		if keptUnasked {
			g = g.unverified(b.now())
		}
		if err := tx.put(g.ofAccount(xid)); err != nil {
			return err
		}
		stored = tx.current
		warnings = appendNonEmpty(warnings, checked.warning, warning, repl.warning, replacedWarning(name, g, repl.previous))
		switch {
		case keptUnasked:
			warnings = append(warnings, fmt.Sprintf("Jawbone could not be asked about the imported access_token (%v), so its account is not recorded and the token is checked with Jawbone before it is handed out", whyNot))
		case xid == "" && repl.warning == "":
			warnings = append(warnings, fmt.Sprintf("the Jawbone account of the imported grant could not be checked (%v): it is not recorded", whyNot))
		}
		b.log().Info("creds imported", "name", name, "account", xid, "replaced_account", repl.previous, "expires_at", g.ExpiresAt)
		return nil
	})
	return stored, warnings, err
}

// tokenCheck is what Jawbone said of an imported access token.
type tokenCheck struct {
	xid     string // its account; "" when Jawbone did not say
	err     error  // why not
	warning string
}

// checkImportedToken asks Jawbone, once, about an imported access token
// that would be kept as is (or whose account decides whether the import
// may replace current). A token Jawbone rejects (it expired, or another
// client refreshed the grant) is not kept: the grant is refreshed instead,
// and the import says so.
func (b *backend) checkImportedToken(ctx context.Context, cfg *config, current *grant, imp grantImport) (grantImport, tokenCheck) {
	if imp.AccessToken == "" || (current == nil && imp.ExpiresAt.IsZero()) {
		return imp, tokenCheck{}
	}
	xid, err := b.accountOf(ctx, cfg, imp.AccessToken)
	if jawbone.KindOf(err) != jawbone.TokenRejected {
		return imp, tokenCheck{xid: xid, err: err}
	}
	imp.AccessToken, imp.ExpiresAt = "", time.Time{}
	return imp, tokenCheck{err: err, warning: "Jawbone no longer accepts the imported access_token (it expired, or another client refreshed the grant), so the grant was refreshed: the creds hand out a new token"}
}

// holdsAlready reports whether current is the grant imp brings, with an
// access token as good as imp's: nothing to change. Refreshing it would
// kill the creds' token, and could race an attempt of theirs still in
// flight (the same refresh token). The access token that comes with the
// same grant is the creds' own, an older one (a file applied after a
// refresh), or a newer one (an app still running on the file refreshed the
// grant): only when Jawbone rejects the creds' token, no attempt of theirs
// is in flight, and imp says when its own expires is imp's taken, with no
// call to the token URL.
func (b *backend) holdsAlready(ctx context.Context, cfg *config, current *grant, imp grantImport) bool {
	if current == nil || current.RefreshToken != imp.RefreshToken {
		return false
	}
	if imp.AccessToken == "" || imp.AccessToken == current.AccessToken || imp.ExpiresAt.IsZero() || current.attempting() {
		// (An attempt of the creds' that may still land would kill imp's
		// token too: the lifecycle settles it first.)
		return true
	}
	_, err := b.accountOf(ctx, cfg, current.AccessToken)
	return jawbone.KindOf(err) != jawbone.TokenRejected
}

func sameGrantWarning(name string, current *grant) string {
	if current.NeedsReauth {
		return fmt.Sprintf("creds %q already hold this grant, so nothing was changed: Jawbone rejected it, so it needs a new authorization, not an import", name)
	}
	return fmt.Sprintf("creds %q already hold this grant, so nothing was changed: refreshing it would kill the access token they hand out", name)
}

func appendNonEmpty(list []string, items ...string) []string {
	for _, it := range items {
		if it != "" {
			list = append(list, it)
		}
	}
	return list
}

// importedGrant is the grant imp makes. Unless the caller knows when the
// access token expires, the grant is refreshed once, which proves the
// refresh token works and gives a token whose expiry is known. That
// refresh is an attempt like any: marked on the grant (in the grant index:
// no name holds it yet) before the call, so that if its outcome is not
// known, a later import of the grant waits for it rather than refresh a
// token it may kill; and while an earlier one may still land, no refresh is
// made.
func (b *backend) importedGrant(tx *grantTx, cfg *config, client *jawbone.Client, imp grantImport, held heldBy) (*grant, string, error) {
	now := b.now()
	if imp.AccessToken != "" && !imp.ExpiresAt.IsZero() {
		return &grant{
			AccessToken: imp.AccessToken, RefreshToken: imp.RefreshToken, TokenType: "Bearer",
			Scopes: imp.Scopes, ExpiresAt: imp.ExpiresAt, ObtainedAt: importedObtainedAt(imp.ExpiresAt, now),
		}, "", nil
	}
	if held.inDoubt(now) {
		return nil, "", conflict("an earlier refresh of this grant did not complete, and Jawbone may still carry it out until %s, which would kill the token an import gets now",
			held.attemptLandsBy.UTC().Format(time.RFC3339)).withFix(fixImportLater(tx.name))
	}
	landsBy := now.Add(landingFactor * cfg.RequestTimeout)
	if err := tx.markAttempt(imp.RefreshToken, now, landsBy); err != nil {
		return nil, "", err
	}
	tok, err := client.Refresh(tx.ctx, imp.RefreshToken)
	switch {
	case err == nil, !jawbone.MayHaveIssued(err):
		// Known: the mark goes (a refresh that worked leaves none, whether
		// or not the import then stores its grant).
		if err := tx.markAttempt(imp.RefreshToken, time.Time{}, time.Time{}); err != nil {
			b.log().Warn("could not clear the mark of an import's refresh", "name", tx.name, "error", err)
		}
	case !jawbone.InFlight(err):
		if err := tx.markAttempt(imp.RefreshToken, now, b.now()); err != nil {
			b.log().Warn("could not record that an import's refresh can no longer land", "name", tx.name, "error", err)
		}
	}
	if err != nil {
		return nil, "", providerFailure(err, fixImportedRefreshToken, nil)
	}
	var warning string
	if imp.AccessToken != "" {
		warning = "no expires_at was given, so the grant was refreshed to learn its expiry: the imported access_token no longer works (nor in any app still using it); the creds hand out the new one"
	}
	return newGrant(tok, imp.RefreshToken, imp.Scopes, now), warning, nil
}

// importedObtainedAt is when an imported access token is taken to have been
// issued: nobody knows, so a Jawbone lifetime before it expires (it has
// been in use elsewhere), never later than now. Its refresh is then due
// refresh_ahead before it expires, as for any Jawbone token.
func importedObtainedAt(expiresAt, now time.Time) time.Time {
	issued := expiresAt.Add(-jawbone.DefaultTokenLifetime)
	if issued.After(now) {
		return now
	}
	return issued
}

func fixReplaceImport(name string) remedy {
	return func(m string) string {
		return "to replace it, import again with " + keyReplace + "=true: " + vaultCmd(m, "write", "creds/"+name+" ... "+keyReplace+"=true") +
			" (a refresh token imported alone was refreshed to learn its account, so its old access token no longer works)"
	}
}

func fixSharedGrant(other string) remedy {
	return func(m string) string {
		return "read it with " + vaultCmd(m, "read", "creds/"+other) + ", or move it with " + vaultCmd(m, "delete", "creds/"+other) + " first"
	}
}

func fixImportedAccessToken(string) string {
	return "access_token must be a valid, unexpired token issued to this client_id"
}

func fixImportLater(name string) remedy {
	return func(m string) string {
		return "import it again after then with " + vaultCmd(m, "write", "creds/"+name+" refresh_token=...")
	}
}

func fixImportedRefreshToken(string) string {
	return "refresh_token must be a current refresh token issued to this client_id"
}
