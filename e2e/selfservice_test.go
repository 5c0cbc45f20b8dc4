package e2e

// Self-service (docs/operations.md, "Self-service: each Vault user connects
// their own account"): one templated policy, the one in the docs, lets each
// Vault identity authorize, read and refresh only the creds named after its
// entity, through auth-url/<name>.

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// selfServiceUser is a userpass user with an entity of the same name, and
// the Jawbone account they sign in with.
type selfServiceUser struct {
	name, account string
	vault         *Vault // the CLI with the token of a userpass login
}

// userpassAccessor enables userpass and returns its mount accessor.
func (v *Vault) userpassAccessor() string {
	v.t.Helper()
	v.MustCLI("auth", "enable", "userpass")
	var mounts map[string]struct {
		Accessor string `json:"accessor"`
	}
	out := v.MustCLI("auth", "list", "-format=json")
	if err := json.Unmarshal([]byte(out), &mounts); err != nil || mounts["userpass/"].Accessor == "" {
		v.t.Fatalf("no accessor for userpass/ in vault auth list (%v):\n%s", err, out)
	}
	return mounts["userpass/"].Accessor
}

// login creates u as a userpass user with policy, an entity named u.name
// and its alias for the userpass mount, logs u in and checks that the token
// is of that entity (so {{identity.entity.name}} is u.name).
func (u *selfServiceUser) login(v *Vault, accessor, policy string) {
	v.t.Helper()
	password := randomHex(v.t, 12)
	v.MustCLI("write", "auth/userpass/users/"+u.name, "password="+password, "token_policies="+policy)
	entityID, _ := v.WriteJSON("identity/entity", "name="+u.name).Data["id"].(string)
	if entityID == "" {
		v.t.Fatalf("identity/entity name=%s returned no id", u.name)
	}
	v.MustCLI("write", "identity/entity-alias", "name="+u.name, "canonical_id="+entityID, "mount_accessor="+accessor)
	token := strings.TrimSpace(v.MustCLI("login", "-method=userpass", "-token-only", "-no-store",
		"username="+u.name, "password="+password))
	u.vault = v.As(token)
	if got := u.vault.ReadJSON("auth/token/lookup-self").Data["entity_id"]; got != entityID {
		v.t.Fatalf("%s's token is of entity %v, not of the entity %q named %s", u.name, got, entityID, u.name)
	}
}

// TestSelfService: alice and bob, each a userpass user with an entity of
// that name under the docs' templated policy, each complete the callback
// flow for their own name, read and refresh their own token, and get 403 on
// the other's auth-url/<name>, creds/<name> and creds/<name>/refresh.
func TestSelfService(t *testing.T) {
	s := startCallbackSetup(t, false)
	v, f := s.v, s.f
	policyFile := filepath.Join(t.TempDir(), "jawbone-self-service.hcl")
	writeFile(t, policyFile, docsPolicy(t, "jawbone-self-service.hcl"))
	v.MustCLI("policy", "write", "jawbone-self-service", policyFile)
	accessor := v.userpassAccessor()
	users := []*selfServiceUser{{name: "alice", account: "alice-xid"}, {name: "bob", account: "bob-xid"}}
	for _, u := range users {
		u.login(v, accessor, "jawbone-self-service")
	}

	tokens := map[string]string{}
	for _, u := range users {
		sec := u.vault.ReadJSON(mountPath + "/auth-url/" + u.name)
		if sec.Data["name"] != u.name {
			t.Errorf("auth-url/%s is for the creds %v", u.name, sec.Data["name"])
		}
		authURL, _ := sec.Data["url"].(string)
		f.SetSignedIn(u.account)
		status, page := s.land(t, authURL)
		if status != http.StatusOK || !strings.Contains(page, "Vault stored the tokens as the creds “"+u.name+"”") ||
			!strings.Contains(page, "Jawbone account: "+u.account+".") {
			t.Fatalf("%s's callback: HTTP %d, want 200 naming the creds %q and account %s:\n%s", u.name, status, u.name, u.account, page)
		}

		token := u.vault.AccessToken(u.name)
		if xid, ok := f.AccountOf(token); !ok || xid != u.account {
			t.Errorf("%s read a token of account %q (accepted: %v), want a working one of %s", u.name, xid, ok, u.account)
		}
		tokens[u.name], _ = u.vault.WriteJSON(mountPath + "/creds/" + u.name + "/refresh").Data["access_token"].(string)
		f.requireTokenWorks(t, tokens[u.name], u.name+"'s refreshed token")
		f.requireTokenRejected(t, token, u.name+"'s token before the refresh")
	}

	f.ResetCalls()
	for i, u := range users {
		other := users[1-i].name
		t.Run(u.name, func(t *testing.T) {
			u.vault.For(t).requireAllDenied(
				command("auth-url/"+other, "read", mountPath+"/auth-url/"+other),
				command("auth-url name="+other, "read", mountPath+"/auth-url", "name="+other),
				command("creds/"+other, "read", mountPath+"/creds/"+other),
				command("creds/"+other+"/refresh", "write", "-f", mountPath+"/creds/"+other+"/refresh"),
				command("list creds", "list", mountPath+"/creds"),
			)
		})
	}
	if n := f.Calls(fakejawbone.EndpointToken); n != 0 {
		t.Errorf("the denied requests reached the token endpoint %d times", n)
	}
	for _, u := range users {
		if got := v.AccessToken(u.name); got != tokens[u.name] {
			t.Errorf("creds/%s changed while the other user was denied", u.name)
		}
	}
}
