package e2e

// Trust boundaries on a real Vault: nothing a provider says leaks a secret,
// no user can keep others from authorizing, and the unauthenticated
// callback finishes only what was started for it.

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// TestAProviderEchoingSecretsLeaksNone: a token endpoint that repeats in
// its error_description the secrets it was sent (the refresh token, the
// code, the client secret), as common OAuth servers do, gets none of them
// into the CLI's error, creds/<name>/status (which the account connector
// may read) or the server log; and the callback's page shows nothing it
// said but its error code.
func TestAProviderEchoingSecretsLeaksNone(t *testing.T) {
	s := startCallbackSetup(t, false)
	v, f := s.v, s.f
	if status, page := s.land(t, s.authURL(t)); status != http.StatusOK {
		t.Fatalf("the first authorization: HTTP %d\n%s", status, page)
	}
	refresh := f.SeenRefreshTokens()
	if len(refresh) != 1 {
		t.Fatalf("the fake saw %d refresh tokens, want the one grant's", len(refresh))
	}
	echo := func(code, said string) fakejawbone.Fault {
		return fakejawbone.Fault{Status: 400, Times: 1,
			Body: fmt.Sprintf(`{"error":%q,"error_description":%q}`, code, said+" (client_id="+f.ClientID+"&client_secret="+f.ClientSecret+"); call 555-0100")}
	}

	f.InjectFault(fakejawbone.EndpointToken, echo("invalid_client", "Wrong client for this refresh token: "+refresh[0]))
	forced := v.CLI("write", "-f", mountPath+"/creds/me/refresh")
	forced.requireStatus(t, http.StatusBadRequest, "invalid_client: Wrong client for this refresh token: [redacted]")
	status := v.CLI("read", "-format=json", mountPath+"/creds/me/status")
	status.requireOK(t)
	if !strings.Contains(status.Stdout, "Wrong client for this refresh token: [redacted]") {
		t.Errorf("creds/me/status does not show last_error, blanked:\n%s", status)
	}

	landing := f.Visit(t, s.authURL(t, "name=other"))
	code := mustQuery(t, landing).Get("code")
	f.InjectFault(fakejawbone.EndpointToken, echo("invalid_grant", "Code "+code+" was issued to another client"))
	resp, err := noRedirects.Get(landing)
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "jawbone exchange failed (HTTP 400): invalid_grant") {
		t.Errorf("the callback's page: HTTP %d, want 400 with the error code:\n%s", resp.StatusCode, page)
	}
	for _, said := range []string{"issued to another client", "555-0100", "client_id="} {
		if strings.Contains(page, said) {
			t.Errorf("the callback's page shows what the provider said (%q):\n%s", said, page)
		}
	}

	secrets := map[string][]string{"refresh token": refresh, "client secret": {f.ClientSecret}, "code": {code}}
	for _, res := range []CLIResult{forced, status} {
		requireNoSecrets(t, "vault "+strings.Join(res.Args, " "), res.Stdout+res.Stderr, secrets)
	}
	requireNoSecrets(t, "the callback's page", page, secrets)
	serverLog, err := os.ReadFile(v.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(serverLog), "[redacted]") {
		t.Error("the server log has no warning about the failures, blanked")
	}
	requireNoSecrets(t, "the vault server log", string(serverLog), secrets)
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestOneUserCannotBlockOthers: a user allowed only auth-url/mallory floods
// it; after a handful of states the flood is refused, saying that it is
// mallory's limit, and another user still starts and completes an
// authorization of their own.
func TestOneUserCannotBlockOthers(t *testing.T) {
	s := startCallbackSetup(t, false)
	v := s.v
	policy := func(name string) string {
		return fmt.Sprintf("path %q {\n  capabilities = [\"read\"]\n}\n", mountPath+"/auth-url/"+name)
	}
	mallory := apiOf(v, withToken(v.PolicyToken("mallory", policy("mallory"))))
	alice := v.As(v.PolicyToken("alice", policy("alice")))

	started, refusal := 0, ""
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; i < 1100 && time.Now().Before(deadline); i++ {
		r := mallory.call(t, http.MethodGet, mountPath+"/auth-url/mallory", nil)
		switch r.Status {
		case http.StatusOK:
			started++
		case http.StatusBadRequest:
			refusal = r.message()
		default:
			t.Fatalf("the flood's request %d: %s", i, r)
		}
	}
	if started > 5 || !strings.Contains(refusal, `creds "mallory" have 5 authorizations started in the last 10m and not completed, the most one name may have`) {
		t.Errorf("the flood started %d authorizations; the last refusal: %q", started, refusal)
	}

	sec := alice.ReadJSON(mountPath + "/auth-url/alice")
	authURL, _ := sec.Data["url"].(string)
	if status, page := s.land(t, authURL); status != http.StatusOK || !strings.Contains(page, "“alice”") {
		t.Fatalf("alice's authorization after the flood: HTTP %d\n%s", status, page)
	}
	s.f.requireTokenWorks(t, v.AccessToken("alice"), "alice's token")
}

// TestTheCallbackFinishesOnlyItsOwn: with redirect_uri elsewhere (kiefer's
// way), whoever sees the URL the browser landed on (an access log, browser
// history, a chat) cannot finish the authorization at Vault's
// unauthenticated callback; the Vault user who pastes it into exchange
// still can, as the state was not spent.
func TestTheCallbackFinishesOnlyItsOwn(t *testing.T) {
	f, v := startConfigured(t)
	sec := v.ReadJSON(mountPath+"/auth-url", "name=pasted")
	if inUse, _ := sec.Data["callback_in_use"].(bool); inUse {
		t.Fatalf("callback_in_use with redirect_uri %s", f.RedirectURI)
	}
	authURL, _ := sec.Data["url"].(string)
	landed := f.Visit(t, authURL)
	anyone := apiOf(v, withToken(""))
	r, err := anyone.doRaw(http.MethodGet, mountPath+"/callback", mustParse(t, landed).RawQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "so the callback does not complete it") {
		t.Errorf("the callback with a pasted flow's redirect: %s", r)
	}
	if names := v.ListCreds(); len(names) != 0 || f.Calls(fakejawbone.EndpointToken) != 0 {
		t.Fatalf("the callback stored %v or called the token endpoint", names)
	}
	v.MustCLI("write", mountPath+"/exchange", "redirect_url="+landed)
	f.requireTokenWorks(t, v.AccessToken("pasted"), "the pasted authorization's token")
}
