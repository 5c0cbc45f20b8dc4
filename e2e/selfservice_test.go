package e2e

// Self-service (docs/operations.md, "Self-service: each Vault user connects
// their own account"): one templated policy, the one in the docs, lets each
// Vault identity authorize, read and refresh only its own creds, through
// auth-url/<name>, whatever its entity is named.

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// selfServiceUser is a userpass user with an entity of its own, and the
// Jawbone account they sign in with. The entity's name is whatever an
// identity administrator, or a sync from a directory, gave it.
type selfServiceUser struct {
	login, entityName, account string
	entityID                   string
	vault                      *Vault // the CLI with the token of a userpass login
}

// creds is the name the docs give the user's creds: user-<entity id>.
func (u *selfServiceUser) creds() string { return "user-" + u.entityID }

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

// signUp creates u as a userpass user with policy, an entity named
// u.entityName and its alias for the userpass mount, logs u in and checks
// that the token is of that entity.
func (u *selfServiceUser) signUp(v *Vault, accessor, policy string) {
	v.t.Helper()
	password := randomHex(v.t, 12)
	v.MustCLI("write", "auth/userpass/users/"+u.login, "password="+password, "token_policies="+policy)
	u.entityID, _ = v.WriteJSON("identity/entity", "name="+u.entityName).Data["id"].(string)
	if u.entityID == "" {
		v.t.Fatalf("identity/entity name=%s returned no id", u.entityName)
	}
	v.MustCLI("write", "identity/entity-alias", "name="+u.login, "canonical_id="+u.entityID, "mount_accessor="+accessor)
	token := strings.TrimSpace(v.MustCLI("login", "-method=userpass", "-token-only", "-no-store",
		"username="+u.login, "password="+password))
	u.vault = v.As(token)
	if got := u.vault.ReadJSON("auth/token/lookup-self").Data["entity_id"]; got != u.entityID {
		v.t.Fatalf("%s's token is of entity %v, not of the entity %q named %s", u.login, got, u.entityID, u.entityName)
	}
}

// TestSelfService: under the docs' templated policy, users whose entities
// are named alice and bob, "*" (a glob, were the name in a policy path) and
// fitness-app (an application's creds name) each connect their own Jawbone
// account through the callback, into creds named after their entity's id,
// read and refresh their own token, and get 403 on everything else: the
// application's creds above all, and each other's.
func TestSelfService(t *testing.T) {
	s := startCallbackSetup(t, false)
	v, f := s.v, s.f
	policyFile := filepath.Join(t.TempDir(), "jawbone-self-service.hcl")
	writeFile(t, policyFile, docsPolicy(t, "jawbone-self-service.hcl"))
	v.MustCLI("policy", "write", "jawbone-self-service", policyFile)
	accessor := v.userpassAccessor()

	// The application's creds, connected by an administrator.
	f.SetSignedIn("app-xid")
	if status, page := s.land(t, s.authURL(t, "name=fitness-app")); status != http.StatusOK {
		t.Fatalf("the application's creds: HTTP %d\n%s", status, page)
	}
	appToken := v.AccessToken("fitness-app")

	users := []*selfServiceUser{
		{login: "alice", entityName: "alice", account: "alice-xid"},
		{login: "bob", entityName: "bob", account: "bob-xid"},
		{login: "glob", entityName: "*", account: "glob-xid"},
		{login: "impostor", entityName: "fitness-app", account: "impostor-xid"},
	}
	for _, u := range users {
		u.signUp(v, accessor, "jawbone-self-service")
	}

	// Nobody reaches the application's creds, whatever their entity's name.
	f.ResetCalls()
	for _, u := range users {
		t.Run(u.login+" and the application", func(t *testing.T) {
			u.vault.For(t).requireAllDenied(
				command("creds/fitness-app", "read", mountPath+"/creds/fitness-app"),
				command("creds/fitness-app/refresh", "write", "-f", mountPath+"/creds/fitness-app/refresh"),
				command("auth-url/fitness-app", "read", mountPath+"/auth-url/fitness-app"),
				command("creds/* literally", "read", mountPath+"/creds/*"),
				command("list creds", "list", mountPath+"/creds"),
			)
		})
	}

	// Each connects their own account, under the name the docs give.
	tokens := map[string]string{}
	for _, u := range users {
		sec := u.vault.ReadJSON(mountPath + "/auth-url/" + u.creds())
		if sec.Data["name"] != u.creds() {
			t.Errorf("auth-url/%s is for the creds %v", u.creds(), sec.Data["name"])
		}
		authURL, _ := sec.Data["url"].(string)
		f.SetSignedIn(u.account)
		status, page := s.land(t, authURL)
		if status != http.StatusOK || !strings.Contains(page, "Vault stored the tokens as the creds “"+u.creds()+"”") ||
			!strings.Contains(page, "Jawbone account: "+u.account+".") {
			t.Fatalf("%s's callback: HTTP %d, want 200 naming the creds %q and account %s:\n%s", u.login, status, u.creds(), u.account, page)
		}
		token := u.vault.AccessToken(u.creds())
		if xid, ok := f.AccountOf(token); !ok || xid != u.account {
			t.Errorf("%s read a token of account %q (accepted: %v), want a working one of %s", u.login, xid, ok, u.account)
		}
		tokens[u.login], _ = u.vault.WriteJSON(mountPath + "/creds/" + u.creds() + "/refresh").Data["access_token"].(string)
		f.requireTokenWorks(t, tokens[u.login], u.login+"'s refreshed token")
		f.requireTokenRejected(t, token, u.login+"'s token before the refresh")
	}

	f.ResetCalls()
	for _, u := range users {
		for _, other := range users {
			if other == u {
				continue
			}
			t.Run(u.login+" and "+other.login, func(t *testing.T) {
				u.vault.For(t).requireAllDenied(
					command("auth-url/<other>", "read", mountPath+"/auth-url/"+other.creds()),
					command("auth-url name=<other>", "read", mountPath+"/auth-url", "name="+other.creds()),
					command("creds/<other>", "read", mountPath+"/creds/"+other.creds()),
					command("creds/<other>/refresh", "write", "-f", mountPath+"/creds/"+other.creds()+"/refresh"),
				)
			})
		}
	}
	if n := f.Calls(fakejawbone.EndpointToken); n != 0 {
		t.Errorf("the denied requests reached the token endpoint %d times", n)
	}
	for _, u := range users {
		if got := v.AccessToken(u.creds()); got != tokens[u.login] {
			t.Errorf("creds/%s changed while the others were denied", u.creds())
		}
	}
	if got := v.AccessToken("fitness-app"); got != appToken {
		t.Error("the application's creds changed")
	}
}
