package jawbone

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// authorizeAs runs the flow for name with the fake's user signed in as
// account, with the auth-url options opts, and returns the exchange's
// reply and error.
func (e *testEnv) authorizeAs(account, name string, opts map[string]any) (*logical.Response, error) {
	e.t.Helper()
	e.fake.SetSignedIn(account)
	defer e.fake.SetSignedIn("")
	data := map[string]any{keyName: name}
	for k, v := range opts {
		data[k] = v
	}
	auth := e.mustOK(logical.ReadOperation, "auth-url", data)
	return e.request(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: e.visit(auth.Data[keyURL].(string))})
}

// A name is pinned to its Jawbone account: the same account re-authorizes
// without a flag, another account's grant replaces a working one only with
// replace=true, and the reply says which account replaced which. Whoever
// opens an authorization URL first cannot silently swap the grant an
// application uses for their own.
func TestANameIsPinnedToItsAccount(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	holder := e.fake.DefaultAccount()
	e.authorize("me")
	if got := e.stored("me").AccountXID; got != holder {
		t.Fatalf("the grant's account is %q, want %q", got, holder)
	}

	resp, err := e.authorizeAs(holder, "me", nil)
	if err != nil || resp.IsError() || resp.Data[keyAccountXID] != holder {
		t.Fatalf("re-authorizing with the same account: %v %#v", err, resp)
	}
	working := e.stored("me").AccessToken

	resp, err = e.authorizeAs("intruder", "me", nil)
	status, msg := statusOf(resp, err)
	if status != http.StatusBadRequest || !strings.Contains(msg, `creds "me" hold a grant of Jawbone account `+holder+`, and this one is of Jawbone account intruder, so nothing was stored`) ||
		!strings.Contains(msg, "vault read jawbone/auth-url name=me replace=true") {
		t.Fatalf("another account's authorization: %d %s", status, msg)
	}
	if g := e.stored("me"); g.AccessToken != working || g.AccountXID != holder || !e.fake.TokenValid(working) {
		t.Fatal("the refused authorization changed the creds")
	}

	resp, err = e.authorizeAs("intruder", "me", map[string]any{keyReplace: true})
	if err != nil || resp.IsError() || resp.Data[keyAccountXID] != "intruder" || resp.Data[keyReplaced] != holder ||
		!strings.Contains(strings.Join(resp.Warnings, " "), "replacing one of account "+holder) {
		t.Fatalf("replace=true: %v %#v", err, resp)
	}
	if got := e.mustOK(logical.ReadOperation, "creds/me", nil).Data[keyAccountXID]; got != "intruder" {
		t.Fatalf("the creds read names account %v", got)
	}
}

// A token Jawbone rejects says nothing about the grant: its refresh token
// may still work (another client refreshed it, a refresh in doubt landed).
// So another account may not take such creds without replace=true, while
// the account they hold re-authorizes them without it; only creds marked
// needs_reauthorization (invalid_grant) are open to any account, and the
// reply then names the account they held.
func TestCredsWithARejectedTokenStayPinned(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	holder := e.fake.DefaultAccount()
	e.authorize("me")
	if _, ok := e.fake.RefreshOutside(e.stored("me").RefreshToken); !ok {
		t.Fatal("the fake does not know the grant")
	}
	resp, err := e.authorizeAs("newcomer", "me", nil)
	if status, msg := statusOf(resp, err); status != http.StatusBadRequest || !strings.Contains(msg, `creds "me" hold a grant of Jawbone account `+holder+`, and this one is of Jawbone account newcomer`) {
		t.Fatalf("another account over creds whose token Jawbone rejects: %d %s", status, msg)
	}
	if resp, err := e.authorizeAs(holder, "me", nil); err != nil || resp.IsError() || resp.Data[keyReplaced] != nil {
		t.Fatalf("the same account over creds whose token Jawbone rejects: %v %#v", err, resp)
	}

	markStored(t, e, "me", func(g *grant) { g.NeedsReauth = true })
	e.b.invalidate(context.Background(), credsStoragePrefix+"me")
	resp, err = e.authorizeAs("newcomer", "me", nil)
	if err != nil || resp.IsError() || resp.Data[keyAccountXID] != "newcomer" || resp.Data[keyReplaced] != holder ||
		!strings.Contains(strings.Join(resp.Warnings, " "), "replacing one of account "+holder) {
		t.Fatalf("another account over creds needing re-authorization: %v %#v", err, resp)
	}
}

// Creds stored before accounts were recorded learn theirs from Jawbone when
// an authorization must be judged.
func TestALegacyGrantLearnsItsAccount(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	markStored(t, e, "me", func(g *grant) { g.AccountXID = "" })
	e.b.invalidate(context.Background(), credsStoragePrefix+"me")
	resp, err := e.authorizeAs("intruder", "me", nil)
	if status, msg := statusOf(resp, err); status != http.StatusBadRequest || !strings.Contains(msg, "Jawbone account "+e.fake.DefaultAccount()) {
		t.Fatalf("another account over a legacy grant: %d %s", status, msg)
	}
	if resp, err := e.authorizeAs(e.fake.DefaultAccount(), "me", nil); err != nil || resp.IsError() {
		t.Fatalf("the same account over a legacy grant: %v %#v", err, resp)
	}
}

// Creds filled by one account between another's auth-url and exchange are
// not replaced: the check is made under the lock the write is made under.
func TestCredsFilledMeanwhileAreNotReplaced(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.fake.SetSignedIn("intruder")
	auth := e.mustOK(logical.ReadOperation, "auth-url", nil)
	landed := e.visit(auth.Data[keyURL].(string))
	e.fake.SetSignedIn("")
	filled := e.authorize("me")
	e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed}, http.StatusBadRequest, "nothing was stored")
	if e.stored("me").AccessToken != filled {
		t.Fatal("the creds filled meanwhile were replaced")
	}
}

// The callback refuses another account's grant with a page, and stores
// nothing. The page is for an anonymous browser: it says that the account
// differs, not which account the creds hold (nor which signed in).
func TestTheCallbackRefusesAnotherAccount(t *testing.T) {
	t.Parallel()
	e := newCallbackEnv(t)
	working := e.authorize("me")
	holder := e.stored("me").AccountXID
	e.fake.SetSignedIn("intruder")
	r := e.callback(e.landing("me"))
	r.requirePage(t, http.StatusBadRequest, `creds "me" hold a grant of another Jawbone account than the one that signed in, so nothing was stored`,
		"vault read jawbone/auth-url name=me replace=true")
	r.requireNoEcho(t, holder, "intruder")
	if e.stored("me").AccessToken != working {
		t.Fatal("the callback replaced the creds with another account's")
	}
}

// A callback that replaces another account's grant (replace=true) names
// the account that signed in, not the one it replaced.
func TestTheCallbackPageNamesNoReplacedAccount(t *testing.T) {
	t.Parallel()
	e := newCallbackEnv(t)
	e.authorize("me")
	holder := e.stored("me").AccountXID
	e.fake.SetSignedIn("newcomer")
	auth := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyReplace: true})
	r := e.callback(queryOf(t, e.visit(auth.Data[keyURL].(string))))
	r.requirePage(t, http.StatusOK, "Jawbone account: newcomer.", "They replace the grant of another Jawbone account.")
	r.requireNoEcho(t, holder)
	if e.stored("me").AccountXID != "newcomer" {
		t.Fatal("the callback did not replace the grant")
	}
}

// Imports are pinned the same way, and one grant is never stored under two
// names (a refresh of one would kill the other's token).
func TestImportsArePinnedAndNotShared(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	_, other := e.fake.IssueTokensFor("intruder", nil)
	e.mustFail(logical.UpdateOperation, "creds/me", map[string]any{keyRefreshToken: other}, http.StatusBadRequest,
		"Jawbone account intruder", "replace=true")
	resp := e.mustOK(logical.UpdateOperation, "creds/me", map[string]any{keyRefreshToken: other, keyReplace: true})
	if resp.Data[keyAccountXID] != "intruder" {
		t.Fatalf("the import reply names account %v", resp.Data[keyAccountXID])
	}
	// An import bringing its access token is refused before any refresh,
	// so the refused token still works.
	otherAccess, otherRefresh := e.fake.IssueTokensFor("someone-else", nil)
	e.fake.ResetCalls()
	e.mustFail(logical.UpdateOperation, "creds/me", map[string]any{keyAccessToken: otherAccess, keyRefreshToken: otherRefresh}, http.StatusBadRequest,
		"Jawbone account someone-else")
	if !e.fake.TokenValid(otherAccess) || e.fake.Calls(fakejawbone.EndpointToken) != 0 {
		t.Fatal("a refused import refreshed the grant it brought, killing its access token")
	}
	_, same := e.fake.IssueTokensFor("intruder", nil)
	e.mustOK(logical.UpdateOperation, "creds/me", map[string]any{keyRefreshToken: same})

	e.mustFail(logical.UpdateOperation, "creds/copy", map[string]any{keyRefreshToken: same}, http.StatusBadRequest,
		`this grant is stored as the creds "me" already`, "vault read jawbone/creds/me")
	if e.stored("copy") != nil {
		t.Fatal("a second name was given the same grant")
	}
}

// A replacement whose new account Jawbone would not name says so, instead
// of naming an empty account.
func TestAReplacementByAnAccountNotNamedSaysSo(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	holder := e.fake.DefaultAccount()
	e.authorize("me")
	markStored(t, e, "me", func(g *grant) { g.NeedsReauth = true })
	e.b.invalidate(context.Background(), credsStoragePrefix+"me")
	e.fake.InjectFault(fakejawbone.EndpointMe, fakejawbone.Fault{Status: http.StatusServiceUnavailable, Body: `{"meta":{"code":503}}`})
	resp, err := e.authorizeAs("newcomer", "me", nil)
	warnings := strings.Join(resp.Warnings, " ")
	if err != nil || resp.IsError() || resp.Data[keyReplaced] != holder ||
		!strings.Contains(warnings, `creds "me" now hold a grant of an account not recorded, replacing one of account `+holder) {
		t.Fatalf("a replacement by an account Jawbone would not name: %v %#v", err, resp)
	}
}

// Creds whose account is not recorded (stored before accounts were, or
// Jawbone did not say then) learn it from the next check that Jawbone
// answers: a revoke of any account no longer has to mark them.
func TestALivenessCheckRecordsAnAccountNotKnown(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	markStored(t, e, "me", func(g *grant) { g.AccountXID = "" })
	ctx := context.Background()
	if names, err := e.b.registry.namesOfAccount(ctx, e.storage, "", ""); err != nil || !slices.Equal(names, []string{"me"}) {
		t.Fatalf("names of no known account: %v %v", names, err)
	}
	e.clock.Advance(2 * time.Hour) // past check_interval
	tick(t, e)
	if got := e.stored("me").AccountXID; got != e.fake.DefaultAccount() {
		t.Fatalf("after a liveness check, the creds' account is %q", got)
	}
	if names, err := e.b.registry.namesOfAccount(ctx, e.storage, "", ""); err != nil || len(names) != 0 {
		t.Fatalf("names of no known account after the check: %v %v", names, err)
	}
}
