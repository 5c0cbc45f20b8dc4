package e2e

// Each creds name is pinned to the Jawbone account of its grant (README,
// "auth-url"; docs/operations.md, "Policies"): the authorization URL is a
// bearer capability, so whoever opens it first may sign in with their own
// account, and only replace=true, which a policy can deny, lets another
// account's grant take the place of a working one.

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// accountConflict is the sentence the plugin refuses another account's
// grant with, from exchange and import alike.
func accountConflict(name, held, incoming string) string {
	return fmt.Sprintf("creds %q hold a grant of Jawbone account %s, and this one is of Jawbone account %s, so nothing was stored",
		name, held, incoming)
}

// accountConflictOnThePage is the callback page's: for whoever holds the
// browser, it says that the accounts differ, not which they are.
func accountConflictOnThePage(name string) string {
	return fmt.Sprintf("creds %q hold a grant of another Jawbone account than the one that signed in, so nothing was stored", name)
}

// replaceAdvice is what the refusal of an authorization says to do.
func replaceAdvice(name string) string {
	return "to replace it with a new authorization, run vault read " + mountPath + "/auth-url name=" + name + " replace=true"
}

// pinnedWarning is auth-url's warning for a name that holds a working grant.
func pinnedWarning(name, account string) string {
	return fmt.Sprintf("creds %q hold a grant: only Jawbone account %s can complete this authorization; another account needs replace=true", name, account)
}

func requireWarning(t *testing.T, what string, warnings []string, want string) {
	t.Helper()
	if !slices.Contains(warnings, want) {
		t.Errorf("%s: the warnings %q lack %q", what, warnings, want)
	}
}

// requireAccount checks the account the creds read names, and that the
// token it hands out is that account's at the fake.
func requireAccount(t *testing.T, v *Vault, f *Fake, name, account string) string {
	t.Helper()
	data := v.Creds(name)
	if got := data["account_xid"]; got != account {
		t.Errorf("creds/%s has account_xid %v, want %s", name, got, account)
	}
	token, _ := data["access_token"].(string)
	if xid, ok := f.AccountOf(token); !ok || xid != account {
		t.Errorf("the token of creds/%s is of account %q at the fake (accepted: %v), want %s", name, xid, ok, account)
	}
	return token
}

// TestAccountPinnedInBrowser: with the callback flow in Chromium, an
// attacker who opens the authorization URL first and signs in as another
// account at Jawbone gets a page that refuses, and the creds keep working
// as they were; the owner's own account then re-authorizes without a flag.
func TestAccountPinnedInBrowser(t *testing.T) {
	s := startCallbackSetup(t, true, withConsentPage())
	owner, attacker := s.f.DefaultAccount(), "mallory"
	b := startBrowser(t)

	s.consent(t, b, s.authURL(t), "basic_read")
	resp := navigation(t, b, `click "Allow"`, chromedp.Click(chromedp.ID("allow")))
	s.requireCallbackPage(t, b, resp, http.StatusOK, "Jawbone access granted", "Jawbone account: "+owner+".")
	token := requireAccount(t, s.v, s.f, "me", owner)

	// The owner starts a new authorization of "me", and is told who alone
	// can complete it.
	sec := s.v.ReadJSON(mountPath + "/auth-url")
	requireWarning(t, "auth-url for working creds", sec.Warnings, pinnedWarning("me", owner))
	authURL, _ := sec.Data["url"].(string)

	// The attacker opens the URL first and signs in as themselves.
	s.consent(t, b, authURL, "basic_read")
	step(t, b, "sign in as the attacker", chromedp.SetValue(chromedp.ID("account"), attacker))
	resp = navigation(t, b, `click "Allow" as the attacker`, chromedp.Click(chromedp.ID("allow")))
	screenshot(t, b, "browser-account-conflict")
	s.requireCallbackPage(t, b, resp, http.StatusBadRequest,
		"This authorization could not be completed",
		accountConflictOnThePage("me"),
		replaceAdvice("me"))
	if html := step(t, b, "read the page source", chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, owner) {
		t.Errorf("the page shows the browser the account the creds hold (%s)", owner)
	}
	// The attacker's code did reach Jawbone (the plugin learns the account
	// from the token), and what came back was thrown away.
	if n := s.f.Calls(fakejawbone.EndpointToken); n != 2 {
		t.Errorf("token endpoint called %d times, want 2 (the owner's code and the attacker's)", n)
	}
	if got := requireAccount(t, s.v, s.f, "me", owner); got != token {
		t.Errorf("creds/me hand out another token after the refused authorization")
	}
	s.f.requireTokenWorks(t, token, "the owner's token after the attack")

	// The same account authorizes again: no flag, no warning on the page.
	s.consent(t, b, s.authURL(t), "basic_read")
	resp = navigation(t, b, `click "Allow" as the owner`, chromedp.Click(chromedp.ID("allow")))
	s.requireCallbackPage(t, b, resp, http.StatusOK, "Jawbone access granted", "Jawbone account: "+owner+".")
	if text := step(t, b, "read the page text", chromedp.Text(chromedp.CSS("body"))); strings.Contains(text, "replace") {
		t.Errorf("the page of a re-authorization of the same account speaks of a replacement:\n%s", text)
	}
	if fresh := requireAccount(t, s.v, s.f, "me", owner); fresh == token {
		t.Error("the re-authorization did not store the new grant")
	}
	if names := s.v.ListCreds(); !slices.Equal(names, []string{"me"}) {
		t.Errorf("creds after the three authorizations: %v, want [me]", names)
	}
}

// TestAccountReplace: through exchange and import, another account's grant
// is refused for working creds, and replaces them with replace=true, the
// reply saying which account replaced which; creds Jawbone no longer
// accepts are repaired by any account without the flag.
func TestAccountReplace(t *testing.T) {
	f, v := startConfigured(t)
	owner, other := f.DefaultAccount(), "other-account"
	v.Authorize(f, "me")
	token := requireAccount(t, v, f, "me", owner)

	f.SetSignedIn(other)
	landed := f.Visit(t, mustFirst(v.AuthURL("name=me")))
	v.CLI("write", mountPath+"/exchange", "redirect_url="+landed).requireStatus(t, http.StatusBadRequest,
		accountConflict("me", owner, other)+"; "+replaceAdvice("me"))

	_, refresh := f.IssueTokensFor("third-account", []string{"basic_read"})
	v.CLI("write", mountPath+"/creds/me", "refresh_token="+refresh).requireStatus(t, http.StatusBadRequest,
		accountConflict("me", owner, "third-account")+"; to replace it, import again with replace=true")

	if got := requireAccount(t, v, f, "me", owner); got != token {
		t.Error("creds/me changed after two refusals")
	}
	f.requireTokenWorks(t, token, "the owner's token after the refusals")

	landed = f.Visit(t, mustFirst(v.AuthURL("name=me", "replace=true")))
	sec := v.WriteJSON(mountPath+"/exchange", "redirect_url="+landed)
	if sec.Data["account_xid"] != other || sec.Data["replaced_account_xid"] != owner {
		t.Errorf("exchange with replace=true: account_xid %v, replaced_account_xid %v; want %s replacing %s",
			sec.Data["account_xid"], sec.Data["replaced_account_xid"], other, owner)
	}
	requireWarning(t, "exchange with replace=true", sec.Warnings,
		fmt.Sprintf("creds %q now hold a grant of Jawbone account %s, replacing one of account %s", "me", other, owner))
	replacing := requireAccount(t, v, f, "me", other)

	// The other account disconnects the app at Jawbone and a forced refresh
	// finds the grant rejected: creds needing re-authorization are repaired
	// by the owner's account without replace.
	f.Disconnect(t, replacing)
	v.CLI("write", "-f", mountPath+"/creds/me/refresh").requireStatus(t, http.StatusBadRequest, "invalid_grant")
	f.SetSignedIn(owner)
	requireRepaired(t, v, f, "me", owner, other, "creds needing re-authorization")

	// The owner disconnects the app at Jawbone, and nothing has told the
	// plugin yet. A rejected token says nothing about the grant (another
	// client may have refreshed it), so another account is still refused
	// without replace, and the owner repairs the creds without it.
	dead := v.AccessToken("me")
	f.Disconnect(t, dead)
	f.requireTokenRejected(t, dead, "creds/me after the owner disconnected the app")
	f.SetSignedIn(other)
	landed = f.Visit(t, mustFirst(v.AuthURL("name=me")))
	v.CLI("write", mountPath+"/exchange", "redirect_url="+landed).requireStatus(t, http.StatusBadRequest, accountConflict("me", owner, other))
	f.SetSignedIn(owner)
	requireRepaired(t, v, f, "me", owner, "", "creds whose token Jawbone no longer accepts, by their own account")
}

// requireRepaired authorizes name without replace, for the account signed
// in at the fake, and requires that it fills the creds, the reply naming
// the account whose grant it took the place of (replaced, "" for none):
// what README's "auth-url" promises for creds needing re-authorization, by
// any account, and for any creds, by their own account.
func requireRepaired(t *testing.T, v *Vault, f *Fake, name, account, replaced, what string) {
	t.Helper()
	landed := f.Visit(t, mustFirst(v.AuthURL("name="+name)))
	res := v.CLI("write", "-format=json", mountPath+"/exchange", "redirect_url="+landed)
	if res.Code != 0 {
		t.Errorf("repairing %s: README (auth-url) says an authorization without replace repairs them; got:\n%s", what, res)
		return
	}
	sec := parseSecret(t, res)
	got, _ := sec.Data["replaced_account_xid"].(string)
	if got != replaced || sec.Data["account_xid"] != account {
		t.Errorf("repairing %s: %v, want account_xid %s and replaced_account_xid %q", what, sec.Data, account, replaced)
	}
	requireAccount(t, v, f, name, account)
}

// noReplacePolicy lets an operator start and finish authorizations, but not
// ask for a replacement.
const noReplacePolicy = `
path "jawbone/auth-url" {
  capabilities = ["read", "update"]
  denied_parameters = { "replace" = [] }
}
path "jawbone/exchange" {
  capabilities = ["update"]
}
`

// TestReplaceDeniedByPolicy: Vault applies denied_parameters to a read's
// query parameters too, so a policy keeps an operator from replacing
// another account's grant while leaving auth-url itself open.
func TestReplaceDeniedByPolicy(t *testing.T) {
	f, v := startConfigured(t)
	v.Authorize(f, "me")
	operator := v.As(v.PolicyToken("jawbone-no-replace", noReplacePolicy))
	states := len(v.rawKeys("logical/" + v.mountUUID() + "/state/"))

	operator.requireAllDenied(
		command("read replace=true", "read", mountPath+"/auth-url", "replace=true"),
		command("read replace=false", "read", mountPath+"/auth-url", "replace=false"),
		command("write replace=true", "write", mountPath+"/auth-url", "replace=true"),
	)
	if n := len(v.rawKeys("logical/" + v.mountUUID() + "/state/")); n != states {
		t.Errorf("the denied requests stored %d states", n-states)
	}

	// Without replace, auth-url answers, and the operator completes an
	// authorization of the same account, not of another.
	operator.Authorize(f, "me")

	f.SetSignedIn("intruder")
	landed := f.Visit(t, mustFirst(operator.AuthURL()))
	operator.CLI("write", mountPath+"/exchange", "redirect_url="+landed).requireStatus(t, http.StatusBadRequest,
		accountConflict("me", f.DefaultAccount(), "intruder"))
	requireAccount(t, v, f, "me", f.DefaultAccount())
}
