package jawbone

import (
	"context"
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
}

// check refuses anything that cannot be a token before it is sent to Jawbone.
func (imp grantImport) check() error {
	for _, f := range []struct{ key, value string }{{keyAccessToken, imp.AccessToken}, {keyRefreshToken, imp.RefreshToken}} {
		if len(f.value) > maxImportTokenLen || strings.ContainsFunc(f.value, isSpaceOrControl) {
			return badRequest("%s does not look like a token: at most %d characters, no spaces", f.key, maxImportTokenLen)
		}
	}
	return nil
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
// applied again, an old token pasted twice).
func (b *backend) importInto(ctx context.Context, s logical.Storage, cfg *config, name string, imp grantImport) (*grant, []string, error) {
	// The calls outlive the caller: a refresh done is a token to store.
	ctx = context.WithoutCancel(ctx)
	var stored *grant
	var warnings []string
	err := b.withGrantLocked(ctx, s, name, func(current *grant) error {
		client := b.client(cfg)
		if imp.RefreshToken == "" {
			recovered, err := client.RecoverRefreshToken(ctx, imp.AccessToken)
			if err != nil {
				return providerFailure(err, fixImportedAccessToken, nil)
			}
			imp.RefreshToken = recovered
		}
		if current != nil && current.RefreshToken == imp.RefreshToken && imp.ExpiresAt.IsZero() {
			stored = current
			warnings = append(warnings, fmt.Sprintf("creds %q already hold this grant, so nothing was changed: refreshing it would kill the access token they hand out", name))
			return nil
		}
		g, warning, err := b.importedGrant(ctx, client, imp)
		if err != nil {
			return err
		}
		if err := b.putGrant(ctx, s, name, g); err != nil {
			return err
		}
		stored = g
		if warning != "" {
			warnings = append(warnings, warning)
		}
		b.Logger().Info("creds imported", "name", name, "expires_at", g.ExpiresAt)
		return nil
	})
	return stored, warnings, err
}

// importedGrant is the grant imp makes. Unless the caller knows when the
// access token expires, the grant is refreshed once, which proves the
// refresh token works and gives a token whose expiry is known. Such a
// refresh is of the imported grant, never of the one stored under the name
// (that one would have the same refresh token): so no attempt is marked.
func (b *backend) importedGrant(ctx context.Context, client *jawbone.Client, imp grantImport) (*grant, string, error) {
	if imp.AccessToken != "" && !imp.ExpiresAt.IsZero() {
		return &grant{
			AccessToken: imp.AccessToken, RefreshToken: imp.RefreshToken, TokenType: "Bearer",
			Scopes: imp.Scopes, ExpiresAt: imp.ExpiresAt, ObtainedAt: importedObtainedAt(imp.ExpiresAt, b.now()),
		}, "", nil
	}
	sentAt := b.now()
	tok, err := client.Refresh(ctx, imp.RefreshToken)
	if err != nil {
		return nil, "", providerFailure(err, fixImportedRefreshToken, nil)
	}
	var warning string
	if imp.AccessToken != "" {
		warning = "no expires_at was given, so the grant was refreshed to learn its expiry: the imported access_token no longer works; use the one returned here"
	}
	return newGrant(tok, imp.RefreshToken, imp.Scopes, sentAt), warning, nil
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

func fixImportedAccessToken(string) string {
	return "access_token must be a valid, unexpired token issued to this client_id"
}

func fixImportedRefreshToken(string) string {
	return "refresh_token must be a current refresh token issued to this client_id"
}
