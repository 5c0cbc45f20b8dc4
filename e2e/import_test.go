package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// TestImport covers kiefer's ways of bringing a grant in, and the forced
// refresh.
func TestImport(t *testing.T) {
	f := StartFake(t)
	v := StartVaultWithPlugin(t)
	v.ConfigureFor(f)

	t.Run("access token only", func(t *testing.T) {
		v := v.For(t)
		access, _ := f.Issue()
		f.ResetCalls()
		res := v.CLI("write", mountPath+"/creds/from-access", "access_token="+access)
		res.requireOK(t)
		// kiefer's get_refresh_token: the refresh token is recovered once.
		if n := f.Calls(fakejawbone.EndpointRefreshToken); n != 1 {
			t.Errorf("the import called the fake's refreshToken endpoint %d times, want 1", n)
		}
		token := v.AccessToken("from-access")
		f.requireTokenWorks(t, token, "creds/from-access")
		// No expires_at: the import refreshed once, superseding the token given.
		f.requireTokenRejected(t, access, "the imported access token after the import's refresh")
		// And the recovered refresh token really works: a forced refresh succeeds.
		fresh := v.WriteJSON(mountPath + "/creds/from-access/refresh").Data["access_token"]
		if s, _ := fresh.(string); s == "" || s == token {
			t.Errorf("forced refresh of the recovered grant returned %v, want a new token", fresh)
		} else {
			f.requireTokenWorks(t, s, "the refreshed token of creds/from-access")
		}
	})

	t.Run("refresh token only", func(t *testing.T) {
		v := v.For(t)
		_, refresh := f.Issue()
		f.ResetCalls()
		res := v.CLI("write", mountPath+"/creds/from-refresh", "refresh_token="+refresh)
		res.requireOK(t)
		if strings.Contains(res.Stdout+res.Stderr, refresh) {
			t.Errorf("the import echoes the refresh token:\n%s", res)
		}
		if n := f.Calls(fakejawbone.EndpointToken); n != 1 {
			t.Errorf("the import made %d token calls, want 1 (one refresh)", n)
		}
		if n := f.Calls(fakejawbone.EndpointRefreshToken); n != 0 {
			t.Errorf("a refresh-token import called refreshToken %d times, want 0", n)
		}
		f.requireTokenWorks(t, v.AccessToken("from-refresh"), "creds/from-refresh")
	})

	t.Run("both tokens with expires_at", func(t *testing.T) {
		v := v.For(t)
		access, refresh := f.Issue()
		f.ResetCalls()
		// Far beyond refresh_ahead (168h), so nothing needs refreshing.
		expires := time.Now().Add(200 * 24 * time.Hour).UTC().Format(time.RFC3339)
		v.MustCLI("write", mountPath+"/creds/both", "access_token="+access, "refresh_token="+refresh, "expires_at="+expires)
		if got := v.AccessToken("both"); got != access {
			t.Errorf("creds/both returns %q, want the imported access token unchanged", got)
		}
		if n := f.Calls(fakejawbone.EndpointToken) + f.Calls(fakejawbone.EndpointRefreshToken); n != 0 {
			t.Errorf("importing both tokens with expires_at called the fake %d times, want 0", n)
		}
		if got := v.Creds("both")["expires_at"]; got != expires {
			t.Errorf("creds/both expires_at = %v, want %s", got, expires)
		}
	})

	t.Run("forced refresh", func(t *testing.T) {
		v := v.For(t)
		_, refresh := f.Issue()
		v.MustCLI("write", mountPath+"/creds/me", "refresh_token="+refresh)
		old := v.AccessToken("me")
		f.requireTokenWorks(t, old, "creds/me before the forced refresh")

		f.ResetCalls()
		res := v.CLI("write", "-f", mountPath+"/creds/me/refresh")
		res.requireOK(t)
		if n := f.Calls(fakejawbone.EndpointToken); n != 1 {
			t.Errorf("forced refresh made %d token calls, want 1", n)
		}
		s := parseSecret(t, v.CLI("write", "-format=json", "-f", mountPath+"/creds/me/refresh"))
		newer, _ := s.Data["access_token"].(string)
		if newer == "" || newer == old {
			t.Fatalf("forced refresh returned %q, want a new access token", newer)
		}
		for _, k := range []string{"expires_at", "expires_in", "ttl"} {
			if _, ok := s.Data[k]; !ok {
				t.Errorf("forced refresh reply lacks %s: %v", k, s.Data)
			}
		}
		f.requireTokenRejected(t, old, "the access token before the forced refresh")
		f.requireTokenWorks(t, newer, "the access token from the forced refresh")
		if got := v.AccessToken("me"); got != newer {
			t.Errorf("creds/me after the forced refresh returns %q, want %q", got, newer)
		}
	})

	t.Run("rejected imports write nothing", func(t *testing.T) {
		v := v.For(t)
		before := v.ListCreds()
		// A token the fake never issued.
		v.CLI("write", mountPath+"/creds/bogus", "refresh_token=never-issued-"+randomHex(t, 8)).requireFail(t, "refresh_token", "rejected", "invalid")
		// Neither token.
		v.CLI("write", mountPath+"/creds/empty", "expires_at=2030-01-01T00:00:00Z").requireFail(t, "refresh_token", "access_token")
		// A name outside letters, digits, '.', '_', '-'.
		v.CLI("write", mountPath+"/creds/bad:name", "refresh_token=x").requireFail(t, "not allowed", "name")
		v.CLI("read", mountPath+"/auth-url", "name=bad name").requireFail(t, "not allowed", "name")
		if after := v.ListCreds(); !slices.Equal(before, after) {
			t.Errorf("failed imports changed the creds: before %v, after %v", before, after)
		}
		v.CLI("read", mountPath+"/creds/bogus").requireFail(t, "no creds", "no value found")
	})

	t.Run("delete", func(t *testing.T) {
		v := v.For(t)
		v.MustCLI("delete", mountPath+"/creds/both")
		if slices.Contains(v.ListCreds(), "both") {
			t.Errorf("creds/both still listed after delete")
		}
		v.CLI("read", mountPath+"/creds/both").requireFail(t, "no creds", "no value found")
	})
}
