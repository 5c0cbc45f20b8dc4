package e2e

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// kieferFile writes a kiefer JSON config file (kiefer's fields only, as a
// kiefer user has it) and returns its path.
func kieferFile(t *testing.T, f *Fake, tokens map[string]string) string {
	t.Helper()
	cfg := map[string]any{
		"client_id":     f.ClientID,
		"client_secret": f.ClientSecret,
		"redirect_uri":  f.RedirectURI,
		"scope":         []string{"basic_read", "move_read"},
	}
	for k, v := range tokens {
		cfg[k] = v
	}
	raw, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kiefer-style.json")
	writeFile(t, path, string(raw))
	return path
}

// TestKieferFlow is the README's flow: a kiefer config file written as-is,
// the authorization URL, the browser's redirect, the exchange, the token.
func TestKieferFlow(t *testing.T) {
	f := StartFake(t)
	v := StartVaultWithPlugin(t)

	// The mount runs the version registered.
	mounts := v.ReadJSON("sys/mounts/" + mountPath)
	if got := mounts.Data["running_plugin_version"]; got != v.env.PluginVersion {
		t.Errorf("jawbone/ runs plugin version %v, want %s", got, v.env.PluginVersion)
	}

	res := v.CLI("write", mountPath+"/config", "@"+kieferFile(t, f, nil))
	res.requireOK(t)
	if !strings.Contains(res.Stdout, "Success") {
		t.Errorf("config write printed no success message:\n%s", res)
	}
	// A kiefer file names no endpoints: point them at the fake with a partial
	// write, which keeps what the file set.
	v.MustCLI("write", mountPath+"/config", "auth_url="+f.AuthURL, "token_url="+f.TokenURL, "api_url="+f.APIURL, "local_development=true")

	cfg := v.ReadJSON(mountPath + "/config").Data
	if cfg["client_id"] != f.ClientID || cfg["redirect_uri"] != f.RedirectURI {
		t.Errorf("config read back %v, want client_id %s and redirect_uri %s", cfg, f.ClientID, f.RedirectURI)
	}
	if cfg["client_secret_set"] != true {
		t.Errorf("config read: client_secret_set = %v, want true", cfg["client_secret_set"])
	}
	if _, ok := cfg["client_secret"]; ok {
		t.Errorf("config read returns client_secret: %v", cfg)
	}
	if got := toStrings(cfg["scopes"]); !slices.Equal(got, []string{"basic_read", "move_read"}) {
		t.Errorf("kiefer's scope list became scopes %v, want [basic_read move_read]", got)
	}

	// vault read -field=url prints just the URL.
	res = v.CLI("read", "-field=url", mountPath+"/auth-url")
	res.requireOK(t)
	authURL := strings.TrimSpace(res.Stdout)
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatalf("auth-url is not a URL: %q", authURL)
	}
	q := u.Query()
	if !strings.HasPrefix(authURL, f.AuthURL) || q.Get("client_id") != f.ClientID ||
		q.Get("redirect_uri") != f.RedirectURI || q.Get("response_type") != "code" || q.Get("state") == "" {
		t.Errorf("auth-url %q lacks the fake's endpoint, client_id, redirect_uri, response_type=code or state", authURL)
	}
	if scope := q.Get("scope"); !strings.Contains(scope, "basic_read") || !strings.Contains(scope, "move_read") {
		t.Errorf("auth-url asks for scope %q, want basic_read and move_read", scope)
	}

	// The browser: the fake's consent answers with a redirect carrying the code.
	loc := f.Visit(t, authURL)
	lu, _ := url.Parse(loc)
	if lu.Query().Get("code") == "" || lu.Query().Get("state") != q.Get("state") {
		t.Fatalf("the redirect %q lacks a code or the auth-url's state", loc)
	}

	tokenCalls := f.Calls(fakejawbone.EndpointToken)
	res = v.CLI("write", mountPath+"/exchange", "redirect_url="+loc)
	res.requireOK(t)
	if !strings.Contains(res.Stdout, "me") || !strings.Contains(res.Stdout, "expires_at") {
		t.Errorf("exchange output does not show the creds name and expiry:\n%s", res)
	}
	if got := f.Calls(fakejawbone.EndpointToken) - tokenCalls; got != 1 {
		t.Errorf("the exchange made %d token calls to the fake, want 1", got)
	}

	creds := v.Creds("me")
	token, _ := creds["access_token"].(string)
	if token == "" {
		t.Fatalf("creds/me has no access_token: %v", creds)
	}
	for _, k := range []string{"token_type", "expires_at", "expires_in", "scopes", "ttl", "rotation_period"} {
		if _, ok := creds[k]; !ok {
			t.Errorf("creds/me lacks %s: %v", k, creds)
		}
	}
	if n, ok := creds["expires_in"].(float64); !ok || n <= 0 {
		t.Errorf("creds/me expires_in = %v, want a positive number of seconds", creds["expires_in"])
	}
	if _, ok := creds["refresh_token"]; ok {
		t.Errorf("creds/me returns the refresh token")
	}
	f.requireTokenWorks(t, token, "the token from creds/me")
	f.requireTokenRejected(t, "not-"+token, "a made-up token") // the fake does check

	// The table output a user sees names the token too.
	res = v.CLI("read", mountPath+"/creds/me")
	res.requireOK(t)
	if !strings.Contains(res.Stdout, token) || !strings.Contains(res.Stdout, "access_token") {
		t.Errorf("vault read jawbone/creds/me does not show the access token:\n%s", res)
	}
	if got := v.ListCreds(); !slices.Equal(got, []string{"me"}) {
		t.Errorf("vault list jawbone/creds = %v, want [me]", got)
	}
}

// TestKieferFileWithTokens is order A of docs/operations.md "Migrating from
// kiefer": the kiefer app stopped, its file (with tokens, without
// expires_at) written as-is. The import refreshes once, so the file's token
// dies and the creds "me" hand out a new one; applying the file again
// changes nothing and says so.
func TestKieferFileWithTokens(t *testing.T) {
	f := StartFake(t)
	v := StartVaultWithPlugin(t)
	oldAccess, refresh := f.Issue("basic_read", "move_read")
	// The endpoints first (a kiefer file has none), then the file as-is.
	v.ConfigureFor(f)
	file := kieferFile(t, f, map[string]string{"access_token": oldAccess, "refresh_token": refresh})
	res := v.CLI("write", mountPath+"/config", "@"+file)
	res.requireOK(t)
	requireNoSecrets(t, "the config write's output", res.Stdout+res.Stderr,
		map[string][]string{"client secret": {f.ClientSecret}, "refresh token": {refresh}, "access token": f.SeenAccessTokens()})
	if !strings.Contains(res.Stderr+res.Stdout, "the imported access_token no longer works") {
		t.Errorf("the reply does not say that the file's access token stopped working:\n%s", res)
	}

	if got := v.ListCreds(); !slices.Equal(got, []string{"me"}) {
		t.Fatalf("after writing a kiefer file with tokens, creds = %v, want [me]", got)
	}
	token := v.AccessToken("me")
	f.requireTokenWorks(t, token, "the token imported from the kiefer file")
	// Without expires_at the import refreshes once, superseding the file's token.
	if token == oldAccess {
		t.Errorf("creds/me still returns the file's access token; the import should have refreshed it")
	}
	f.requireTokenRejected(t, oldAccess, "the kiefer file's access token after the import")

	f.ResetCalls()
	again := v.CLI("write", mountPath+"/config", "@"+file)
	again.requireOK(t)
	if !strings.Contains(again.Stderr+again.Stdout, `creds "me" already hold this grant, so nothing was changed`) {
		t.Errorf("applying the same file again does not say that nothing changed:\n%s", again)
	}
	if n := f.Calls(fakejawbone.EndpointToken); n != 0 {
		t.Errorf("applying the same file again made %d calls to the token URL, want 0", n)
	}
	f.requireTokenWorks(t, v.AccessToken("me"), "the creds after the file was applied again")
}

// TestKieferMigrationKeepsTheRunningAppWorking is order B of
// docs/operations.md "Migrating from kiefer": expires_at added to the file,
// which is written while the kiefer app still runs on it. Vault then hands
// out the app's own token and both work; applying the file again, or under
// a second name, changes nothing; once the app is stopped, Vault's first
// refresh kills the file's token and the creds go on working.
func TestKieferMigrationKeepsTheRunningAppWorking(t *testing.T) {
	f := StartFake(t)
	v := StartVaultWithPlugin(t)
	appAccess, appRefresh := f.Issue("basic_read", "move_read")
	v.ConfigureFor(f)
	f.ResetCalls()
	file := kieferFile(t, f, map[string]string{
		"access_token": appAccess, "refresh_token": appRefresh,
		"expires_at": time.Now().Add(364 * 24 * time.Hour).UTC().Format(time.RFC3339),
	})
	res := v.CLI("write", mountPath+"/config", "@"+file)
	res.requireOK(t)
	requireNoSecrets(t, "the config write's output", res.Stdout+res.Stderr,
		map[string][]string{"client secret": {f.ClientSecret}, "refresh token": {appRefresh}, "access token": {appAccess}})
	if n := f.Calls(fakejawbone.EndpointToken); n != 0 {
		t.Fatalf("the import with expires_at made %d calls to the token URL, want 0", n)
	}
	if got := v.AccessToken("me"); got != appAccess {
		t.Fatalf("creds/me hand out %q, want the kiefer app's own token", got)
	}
	f.requireTokenWorks(t, appAccess, "the kiefer app's token, shared with the creds, after the import")

	again := v.CLI("write", mountPath+"/config", "@"+file)
	again.requireOK(t)
	if !strings.Contains(again.Stderr+again.Stdout, "nothing was changed") {
		t.Errorf("applying the file again does not say that nothing changed:\n%s", again)
	}
	v.CLI("write", mountPath+"/creds/other", "refresh_token="+appRefresh).
		requireFail(t, `this grant is stored as the creds "me" already`)
	if n := f.Calls(fakejawbone.EndpointToken); n != 0 {
		t.Fatalf("applying the file again, or under another name, made %d calls to the token URL, want 0", n)
	}
	f.requireTokenWorks(t, appAccess, "the kiefer app's token while it still runs")

	// The app is switched to Vault and stopped; Vault's first refresh (forced
	// here, due in a year otherwise) kills the file's token.
	v.MustCLI("write", "-f", mountPath+"/creds/me/refresh")
	f.requireTokenRejected(t, appAccess, "the kiefer file's token after Vault's first refresh")
	f.requireTokenWorks(t, v.AccessToken("me"), "the migrated creds after Vault's first refresh")
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
