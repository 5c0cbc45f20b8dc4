package e2e

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// vaultCommand finds the commands a text suggests, and the path each one
// names.
var vaultCommand = regexp.MustCompile(`vault (?:read|write|delete|list|path-help)(?: -\S+)* (\S+)`)

// requireOnMount checks that text suggests at least one command (when
// mustSuggest) and that every command it suggests is on mount; and that it
// never names jawbone/, which does not exist where the plugin is mounted
// elsewhere.
func requireOnMount(t *testing.T, what, text, mount string, mustSuggest bool) {
	t.Helper()
	cmds := vaultCommand.FindAllStringSubmatch(text, -1)
	if mustSuggest && len(cmds) == 0 {
		t.Errorf("%s suggests no command:\n%s", what, text)
	}
	for _, c := range cmds {
		if !strings.HasPrefix(c[1], mount) && !strings.HasPrefix(c[1], "sys/") {
			t.Errorf("%s suggests %q, which is not on %s:\n%s", what, c[0], mount, text)
		}
	}
	if strings.Contains(text, "jawbone/") {
		t.Errorf("%s names jawbone/ on a mount at %s:\n%s", what, mount, text)
	}
}

// TestAnotherMountNamesItself: mounted at fitbit-old/, every error message,
// warning, callback page and path help that names a command names
// fitbit-old/, so that the advice works where it is read.
func TestAnotherMountNamesItself(t *testing.T) {
	const mount = "fitbit-old/"
	v := StartVaultWithPlugin(t)
	f := StartFake(t)
	v.MustCLI("secrets", "enable", "-path="+strings.TrimSuffix(mount, "/"), "-plugin-version="+v.env.PluginVersion, pluginName)
	a := apiOf(v)

	failing := func(what, method, path string, body any) {
		t.Helper()
		r := a.call(t, method, mount+path, body)
		if r.Status < 400 {
			t.Fatalf("%s: %s %s answered %d, want an error:\n%s", what, method, path, r.Status, r)
		}
		requireOnMount(t, what, strings.Join(r.Errors, "\n"), mount, true)
	}
	failing("before the config", http.MethodGet, "creds/me", nil)

	a.must(t, http.MethodPut, mount+"config", map[string]any{
		"client_id": f.ClientID, "client_secret": f.ClientSecret, "redirect_uri": f.RedirectURI,
		"auth_url": f.AuthURL, "token_url": f.TokenURL, "api_url": f.APIURL, "local_development": true,
	})
	auth := a.must(t, http.MethodGet, mount+"auth-url", nil)
	landed := f.Visit(t, auth.str("url"))
	a.must(t, http.MethodPut, mount+"exchange", map[string]any{"redirect_url": landed})

	failing("no such creds", http.MethodGet, "creds/ghost", nil)
	f.Server.SetSignedIn("intruder")
	other := f.Visit(t, a.must(t, http.MethodGet, mount+"auth-url", nil).str("url"))
	f.Server.SetSignedIn("")
	failing("another account's grant", http.MethodPut, "exchange", map[string]any{"redirect_url": other})
	failing("an unknown state", http.MethodPut, "exchange", map[string]any{"code": "c", "state": "s"})
	failing("a denial", http.MethodPut, "exchange", map[string]any{"redirect_url": f.RedirectURI + "?error=access_denied&state=s"})
	failing("an incomplete redirect", http.MethodPut, "exchange", map[string]any{"redirect_url": f.RedirectURI + "?code=c"})
	failing("an import without tokens", http.MethodPut, "creds/other", map[string]any{"scopes": "basic_read"})
	failing("a kiefer file with a dead token", http.MethodPut, "config", map[string]any{"refresh_token": "dead"})
	f.Server.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Times: 1, Status: 401, Body: `{"error":"invalid_client"}`})
	failing("a client rejection", http.MethodPut, "creds/me/refresh", nil)
	f.Server.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Times: 1, Status: 400, Body: `{"error":"invalid_grant"}`})
	failing("a rejected grant", http.MethodPut, "creds/me/refresh", nil)
	failing("creds that need re-authorization", http.MethodGet, "creds/me", nil)

	_, refresh := f.Issue()
	kiefer := a.must(t, http.MethodPut, mount+"config", map[string]any{"refresh_token": refresh})
	requireOnMount(t, "the kiefer import's warning", strings.Join(kiefer.Warnings, "\n"), mount, true)

	page, err := a.doRaw(http.MethodGet, mount+"callback", url.Values{"state": {"forged"}, "code": {"c"}}.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	requireOnMount(t, "the callback page", string(page.Body), mount, true)

	failing("a revocation Jawbone refuses", http.MethodPut, "creds/ghost/revoke", nil)

	for _, path := range []string{"", "config", "auth-url", "auth-url/me", "exchange", "callback", "creds/", "creds/me",
		"creds/me/refresh", "creds/me/revoke", "creds/me/status", "status"} {
		res := v.CLI("path-help", mount+path)
		res.requireOK(t)
		requireOnMount(t, "path-help "+mount+path, res.Stdout, mount, false)
	}
}
