package jawbone

import (
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

func TestCredsImport(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// data builds the write from a grant the fake issued out of band.
		data         func(access, refresh string) map[string]any
		tokenCalls   int
		recoverCalls int
		keepsAccess  bool
		warns        bool
	}{
		{"refresh token only", func(_, r string) map[string]any { return map[string]any{keyRefreshToken: r} }, 1, 0, false, false},
		{"access token only", func(a, _ string) map[string]any { return map[string]any{keyAccessToken: a} }, 1, 1, false, true},
		{"both without expiry", func(a, r string) map[string]any { return map[string]any{keyAccessToken: a, keyRefreshToken: r} }, 1, 0, false, true},
		{"access token with expiry", func(a, _ string) map[string]any {
			return map[string]any{keyAccessToken: a, keyExpiresAt: "2026-06-01T00:00:00Z"}
		}, 0, 1, true, false},
		{"both with expiry", func(a, r string) map[string]any {
			return map[string]any{keyAccessToken: a, keyRefreshToken: r, keyExpiresAt: "2026-06-01T00:00:00Z"}
		}, 0, 0, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newConfiguredEnv(t)
			access, refresh := e.fake.IssueTokens([]string{"basic_read"})
			resp := e.mustOK(logical.UpdateOperation, "creds/imported", tc.data(access, refresh))
			if got := e.fake.Calls(fakejawbone.EndpointToken); got != tc.tokenCalls {
				t.Errorf("token calls %d, want %d", got, tc.tokenCalls)
			}
			if got := e.fake.Calls(fakejawbone.EndpointRefreshToken); got != tc.recoverCalls {
				t.Errorf("refreshToken calls %d, want %d", got, tc.recoverCalls)
			}
			stored := e.stored("imported")
			if stored.RefreshToken != refresh {
				t.Fatal("the grant's refresh token was not stored")
			}
			if (stored.AccessToken == access) != tc.keepsAccess || !e.fake.TokenValid(stored.AccessToken) {
				t.Fatalf("stored access token kept=%v valid=%v", stored.AccessToken == access, e.fake.TokenValid(stored.AccessToken))
			}
			if resp.Data[keyAccessToken] != stored.AccessToken || (len(resp.Warnings) > 0) != tc.warns {
				t.Fatalf("import reply %#v", resp)
			}
		})
	}
}

func TestCredsImportRejections(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		data   map[string]any
		status int
		wants  []string
	}{
		{"nothing", map[string]any{}, 400, []string{"give refresh_token, access_token, or both"}},
		{"bad refresh token", map[string]any{keyRefreshToken: "nope"}, 400, []string{"invalid_grant", "refresh_token must be a current refresh token"}},
		{"bad access token", map[string]any{keyAccessToken: "nope"}, 400, []string{"HTTP 401", "access_token must be a valid"}},
		{"token with spaces", map[string]any{keyRefreshToken: "a b"}, 400, []string{"refresh_token does not look like a token"}},
		// What docs/operations.md promises the check catches.
		{"token in quotes", map[string]any{keyRefreshToken: `"tok"`}, 400, []string{"refresh_token does not look like a token", "paste the bare token"}},
		{"a JSON fragment", map[string]any{keyRefreshToken: `"refresh_token":"abc",`}, 400, []string{"refresh_token does not look like a token"}},
		{"two lines", map[string]any{keyAccessToken: "abc\ndef"}, 400, []string{"access_token does not look like a token"}},
		{"bad expiry", map[string]any{keyAccessToken: "a", keyExpiresAt: "tomorrow"}, 400, []string{"expires_at must be an RFC 3339 time"}},
		{"expiry without access token", map[string]any{keyRefreshToken: "a", keyExpiresAt: "2027-01-01T00:00:00Z"}, 400, []string{"expires_at describes access_token"}},
		{"unknown scope", map[string]any{keyRefreshToken: "a", keyScopes: "x"}, 400, []string{`"x" is not a Jawbone scope`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newConfiguredEnv(t)
			existing := e.authorize("me")
			e.mustFail(logical.UpdateOperation, "creds/me", tc.data, tc.status, tc.wants...)
			if e.stored("me").AccessToken != existing {
				t.Fatal("a rejected import changed the stored creds")
			}
		})
	}
}
