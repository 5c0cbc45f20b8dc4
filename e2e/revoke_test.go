package e2e

// Revocation (README, "creds/<name>/revoke"): the app is disconnected from
// the Jawbone account at Jawbone, and only then is the grant forgotten;
// deleting forgets without disconnecting, and a policy can allow either one
// without the other.

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// authorizeAs authorizes the creds name for the Jawbone account signed in at
// the fake, and returns their access token.
func authorizeAs(t *testing.T, v *Vault, f *Fake, name, account string) string {
	t.Helper()
	f.SetSignedIn(account)
	v.Authorize(f, name)
	return requireAccount(t, v, f, name, account)
}

// TestRevoke: a revocation Jawbone refuses (its own 503 from
// PartnerAppMembership) answers 502, says nothing was forgotten and how to forget anyway, and the
// creds still work; the next one disconnects the app, after which the
// account's tokens get 401 at Jawbone, other creds of the account included
// (the reply names them), and the creds are gone.
func TestRevoke(t *testing.T) {
	f, v := startConfigured(t)
	account := f.DefaultAccount()
	token := authorizeAs(t, v, f, "me", account)
	sibling := authorizeAs(t, v, f, "me-too", account)
	bystander := authorizeAs(t, v, f, "someone-else", "another-account")
	f.ResetCalls()

	f.InjectFault(fakejawbone.EndpointMembership, fakejawbone.Fault{Status: http.StatusServiceUnavailable, Times: 1,
		Body: `{"meta":{"code":503,"error_type":"unavailable","error_detail":"try again later"}}`})
	v.CLI("write", "-f", mountPath+"/creds/me/revoke").requireStatus(t, http.StatusBadGateway,
		"Jawbone did not disconnect the app from Jawbone account "+account,
		"so nothing was forgotten; try again with vault write -f "+mountPath+"/creds/me/revoke, "+
			"or forget the creds without disconnecting with vault delete "+mountPath+"/creds/me")
	if n := f.Calls(fakejawbone.EndpointMembership); n != 1 {
		t.Errorf("the failed revocation called PartnerAppMembership %d times, want 1", n)
	}
	if got := v.AccessToken("me"); got != token {
		t.Error("creds/me hand out another token after a failed revocation")
	}
	f.requireTokenWorks(t, token, "creds/me after a failed revocation")

	sec := v.WriteJSON(mountPath + "/creds/me/revoke")
	if sec.Data["revoked"] != true || sec.Data["name"] != "me" || sec.Data["account_xid"] != account {
		t.Errorf("revoke replied %v, want revoked=true for me of account %s", sec.Data, account)
	}
	requireWarning(t, "revoke", sec.Warnings, fmt.Sprintf(
		"Jawbone disconnected the app from the whole account, so the creds %q of the same account no longer work either (their next read finds them rejected): delete them with vault delete %s/creds/<name>, or authorize them again with vault read %s/auth-url name=<name>",
		"me-too", mountPath, mountPath))
	if n := f.Calls(fakejawbone.EndpointMembership); n != 2 {
		t.Errorf("PartnerAppMembership called %d times in all, want 2", n)
	}
	f.requireTokenRejected(t, token, "the revoked creds' token")
	f.requireTokenRejected(t, sibling, "the token of other creds of the revoked account")
	f.requireTokenWorks(t, bystander, "the token of creds of another account")
	// The account's other creds were marked: their next read finds the
	// grant gone, rather than hand out its dead token.
	v.CLI("read", mountPath+"/creds/me-too").requireStatus(t, http.StatusBadRequest, `creds "me-too" need re-authorization`)
	if r := apiOf(v).call(t, http.MethodGet, mountPath+"/creds/me", nil); r.Status != http.StatusNotFound ||
		!strings.Contains(r.message(), `no creds named "me"`) {
		t.Errorf("creds/me after the revocation: %s, want 404 saying there are no such creds", r)
	}
	if names := v.ListCreds(); !slices.Equal(names, []string{"me-too", "someone-else"}) {
		t.Errorf("creds after the revocation: %v, want [me-too someone-else]", names)
	}
}

const (
	revokeOnlyPolicy = `
path "jawbone/creds/+/revoke" {
  capabilities = ["update"]
}
`
	deleteOnlyPolicy = `
path "jawbone/creds/+" {
  capabilities = ["delete"]
}
`
)

// TestRevokeAndDeleteAreSeparate: a token allowed to revoke may not delete,
// and one allowed to delete may not revoke; each does what it may (delete
// leaves the app connected at Jawbone, revoke disconnects it).
func TestRevokeAndDeleteAreSeparate(t *testing.T) {
	f, v := startConfigured(t)
	revokedToken := authorizeAs(t, v, f, "to-revoke", "revoked-account")
	deletedToken := authorizeAs(t, v, f, "to-delete", "deleted-account")
	revoker := v.As(v.PolicyToken("jawbone-revoke-only", revokeOnlyPolicy))
	deleter := v.As(v.PolicyToken("jawbone-delete-only", deleteOnlyPolicy))
	f.ResetCalls()

	revoker.requireAllDenied(command("revoker deletes", "delete", mountPath+"/creds/to-revoke"))
	deleter.requireAllDenied(command("deleter revokes", "write", "-f", mountPath+"/creds/to-delete/revoke"))
	if n := f.Calls(fakejawbone.EndpointMembership); n != 0 {
		t.Errorf("denied requests called PartnerAppMembership %d times", n)
	}
	if names := v.ListCreds(); !slices.Equal(names, []string{"to-delete", "to-revoke"}) {
		t.Fatalf("creds after the denied requests: %v, want both", names)
	}

	revoker.CLI("write", "-f", mountPath+"/creds/to-revoke/revoke").requireOK(t)
	if n := f.Calls(fakejawbone.EndpointMembership); n != 1 {
		t.Errorf("the revocation called PartnerAppMembership %d times, want 1", n)
	}
	f.requireTokenRejected(t, revokedToken, "the revoked token")

	deleter.CLI("delete", mountPath+"/creds/to-delete").requireOK(t)
	if n := f.Calls(fakejawbone.EndpointMembership); n != 1 {
		t.Errorf("the delete called PartnerAppMembership (%d calls in all, want 1)", n)
	}
	f.requireTokenWorks(t, deletedToken, "the token of deleted creds (forgotten, not disconnected)")
	if names := v.ListCreds(); len(names) != 0 {
		t.Errorf("creds after revoke and delete: %v, want none", names)
	}
}
