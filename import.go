package jawbone

import (
	"context"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
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

func (b *backend) importInto(ctx context.Context, s logical.Storage, cfg *config, name string, imp grantImport) (*grant, []string, error) {
	client := b.client(cfg)
	var warnings []string
	if imp.RefreshToken == "" {
		recovered, err := client.RecoverRefreshToken(ctx, imp.AccessToken)
		if err != nil {
			return nil, nil, providerFailure(err, fixImportedAccessToken)
		}
		imp.RefreshToken = recovered
	}
	g := &grant{
		AccessToken: imp.AccessToken, RefreshToken: imp.RefreshToken, TokenType: "Bearer",
		Scopes: imp.Scopes, ExpiresAt: imp.ExpiresAt, ObtainedAt: b.now(),
	}
	if imp.AccessToken == "" || imp.ExpiresAt.IsZero() {
		tok, err := client.Refresh(ctx, imp.RefreshToken)
		if err != nil {
			return nil, nil, providerFailure(err, fixImportedRefreshToken)
		}
		if imp.AccessToken != "" {
			warnings = append(warnings, "no expires_at was given, so the grant was refreshed to learn its expiry: the imported access_token no longer works; use the one returned here")
		}
		g = newGrant(tok, imp.RefreshToken, imp.Scopes, b.now())
	}
	if err := b.storeNewGrant(ctx, s, name, g); err != nil {
		return nil, nil, err
	}
	b.Logger().Info("creds imported", "name", name, "expires_at", g.ExpiresAt)
	return g, warnings, nil
}

func fixImportedAccessToken(string) string {
	return "access_token must be a valid, unexpired token issued to this client_id"
}

func fixImportedRefreshToken(string) string {
	return "refresh_token must be a current refresh token issued to this client_id"
}
