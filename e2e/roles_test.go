package e2e

// The three roles of docs/operations.md ("Policies"), each with the policy
// the docs show, read from the docs themselves: what the table says each
// may do, it does; what it may not, Vault refuses with 403.
//
//	an application           may read its own creds; nothing else
//	the account connector    may start and finish authorizations, list, see each creds'
//	                         health, revoke, read the status; may not read tokens (so
//	                         neither import nor force a refresh), replace another
//	                         account's grant, touch the config
//	the mount administrator  may do everything, the config included
//

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// roleToken writes the docs' policy file under its name and returns a view
// of v acting with a token that has only it.
func roleToken(t *testing.T, v *Vault, file string) *Vault {
	t.Helper()
	return v.As(v.PolicyToken(strings.TrimSuffix(file, ".hcl"), docsPolicy(t, file)))
}

// requireNoTokenSeen fails for every reply a role was given that holds a
// Jawbone access or refresh token.
func requireNoTokenSeen(t *testing.T, role *Vault, f *Fake, promise string) {
	t.Helper()
	secrets := map[string][]string{"access token": f.SeenAccessTokens(), "refresh token": f.SeenRefreshTokens()}
	for _, r := range role.Transcript() {
		where := "the reply to vault " + strings.Join(r.Args, " ") + " (" + promise + ")"
		requireNoSecrets(t, where, r.Stdout+r.Stderr, secrets)
	}
}

// TestRoleApplication: the application's policy (creds "fitness-app", read)
// reads a working token of its creds, and nothing else.
func TestRoleApplication(t *testing.T) {
	f, v := startConfigured(t)
	token := authorizeAs(t, v, f, "fitness-app", "app-account")
	authorizeAs(t, v, f, "other", "other-account")
	app := roleToken(t, v, "jawbone-fitness-app.hcl")

	if got := app.AccessToken("fitness-app"); got != token {
		t.Errorf("the application read %q, want the token of its creds %q", got, token)
	}
	f.ResetCalls()
	app.requireAllDenied(
		command("read other creds", "read", mountPath+"/creds/other"),
		command("list creds", "list", mountPath+"/creds"),
		command("read its creds' status", "read", mountPath+"/creds/fitness-app/status"),
		command("refresh", "write", "-f", mountPath+"/creds/fitness-app/refresh"),
		command("revoke", "write", "-f", mountPath+"/creds/fitness-app/revoke"),
		command("delete", "delete", mountPath+"/creds/fitness-app"),
		command("import", "write", mountPath+"/creds/fitness-app", "refresh_token=x"),
		command("auth-url", "read", mountPath+"/auth-url", "name=fitness-app"),
		command("auth-url/fitness-app", "read", mountPath+"/auth-url/fitness-app"),
		command("exchange", "write", mountPath+"/exchange", "code=c", "state=s"),
		command("read config", "read", mountPath+"/config"),
		command("write config", "write", mountPath+"/config", "token_url=https://evil.example/token", "api_url=https://evil.example/api"),
		command("read status", "read", mountPath+"/status"),
	)
	for _, ep := range []string{fakejawbone.EndpointToken, fakejawbone.EndpointMembership} {
		if n := f.Calls(ep); n != 0 {
			t.Errorf("denied requests reached the fake's %s endpoint %d times", ep, n)
		}
	}
	f.requireTokenWorks(t, v.AccessToken("fitness-app"), "the application's token after the denied requests")
}

// TestRoleAccountConnector: the connector's policy starts and finishes
// authorizations (both forms of auth-url, a new name and the same account
// again), lists, reads each creds' health, revokes and reads the status;
// it may not read a token, import, force a refresh, delete, touch the config, or
// ask for replace=true, so another account's grant is refused. No reply
// it is given carries a token.
func TestRoleAccountConnector(t *testing.T) {
	f, v := startConfigured(t)
	authorizeAs(t, v, f, "fitness-app", "app-account")
	conn := roleToken(t, v, "jawbone-connector.hcl")

	t.Run("connects accounts", func(t *testing.T) {
		conn := conn.For(t)
		f.SetSignedIn("sleep-account")
		conn.Authorize(f, "sleep-app")
		f.SetSignedIn("steps-account")
		authURL, _ := conn.ReadJSON(mountPath + "/auth-url/steps").Data["url"].(string)
		conn.WriteJSON(mountPath+"/exchange", "redirect_url="+f.Visit(t, authURL))
		// The same account again needs no replace.
		f.SetSignedIn("app-account")
		conn.Authorize(f, "fitness-app")
		for name, account := range map[string]string{"sleep-app": "sleep-account", "steps": "steps-account", "fitness-app": "app-account"} {
			requireAccount(t, v.For(t), f, name, account)
		}
	})

	t.Run("cannot replace another account's grant", func(t *testing.T) {
		conn := conn.For(t)
		conn.requireAllDenied(
			command("read auth-url replace=true", "read", mountPath+"/auth-url", "name=fitness-app", "replace=true"),
			command("write auth-url replace=true", "write", mountPath+"/auth-url", "name=fitness-app", "replace=true"),
			command("read auth-url/fitness-app replace=true", "read", mountPath+"/auth-url/fitness-app", "replace=true"),
		)
		f.SetSignedIn("intruder")
		landed := f.Visit(t, mustFirst(conn.AuthURL("name=fitness-app")))
		conn.CLI("write", mountPath+"/exchange", "redirect_url="+landed).requireStatus(t, http.StatusBadRequest,
			accountConflict("fitness-app", "app-account", "intruder"))
		requireAccount(t, v, f, "fitness-app", "app-account")
	})

	t.Run("watches and maintains", func(t *testing.T) {
		conn := conn.For(t)
		if names := conn.ListCreds(); !slices.Equal(names, []string{"fitness-app", "sleep-app", "steps"}) {
			t.Errorf("the connector lists %v, want [fitness-app sleep-app steps]", names)
		}
		health := conn.ReadJSON(mountPath + "/creds/fitness-app/status").Data
		if health["account_xid"] != "app-account" || health["expires_at"] == nil {
			t.Errorf("creds/fitness-app/status = %v, want the account and the expiry", health)
		}
		conn.ReadJSON(mountPath + "/status")
		steps := v.AccessToken("steps")
		if sec := conn.WriteJSON(mountPath + "/creds/steps/revoke"); sec.Data["revoked"] != true {
			t.Errorf("the connector's revoke replied %v", sec.Data)
		}
		f.requireTokenRejected(t, steps, "creds/steps after the connector revoked them")
	})

	t.Run("reads no token and leaves the config alone", func(t *testing.T) {
		conn.For(t).requireAllDenied(
			command("read creds", "read", mountPath+"/creds/fitness-app"),
			command("import", "write", mountPath+"/creds/imported", "refresh_token=x"),
			command("refresh", "write", "-f", mountPath+"/creds/fitness-app/refresh"),
			command("delete creds", "delete", mountPath+"/creds/fitness-app"),
			command("read config", "read", mountPath+"/config"),
			command("write config", "write", mountPath+"/config", "token_url=https://evil.example/token", "api_url=https://evil.example/api"),
			command("delete config", "delete", mountPath+"/config"),
		)
	})

	requireNoTokenSeen(t, conn, f, `docs/operations.md: the connector works "without ever seeing a token"`)
}

// TestRoleMountAdministrator: the administrator's policy (jawbone/*) does
// everything on the mount, the config and a replacement included, and
// nothing beyond it.
func TestRoleMountAdministrator(t *testing.T) {
	f := StartFake(t)
	v := StartVaultWithPlugin(t)
	admin := roleToken(t, v, "jawbone-admin.hcl")

	admin.ConfigureFor(f)
	if got := admin.ReadJSON(mountPath + "/config").Data["client_id"]; got != f.ClientID {
		t.Errorf("the administrator reads client_id %v, want %s", got, f.ClientID)
	}
	owner := authorizeAs(t, admin, f, "me", "owner-account")
	f.requireTokenWorks(t, owner, "the token the administrator read")

	f.SetSignedIn("new-account")
	landed := f.Visit(t, mustFirst(admin.AuthURL("name=me", "replace=true")))
	if sec := admin.WriteJSON(mountPath+"/exchange", "redirect_url="+landed); sec.Data["replaced_account_xid"] != "owner-account" {
		t.Errorf("the administrator's replacement replied %v, want replaced_account_xid owner-account", sec.Data)
	}
	requireAccount(t, admin, f, "me", "new-account")

	_, refresh := f.Issue()
	admin.WriteJSON(mountPath+"/creds/imported", "refresh_token="+refresh)
	if names := admin.ListCreds(); !slices.Equal(names, []string{"imported", "me"}) {
		t.Errorf("the administrator lists %v, want [imported me]", names)
	}
	admin.ReadJSON(mountPath + "/creds/me/status")
	admin.ReadJSON(mountPath + "/status")
	admin.WriteJSON(mountPath + "/creds/me/refresh")
	admin.WriteJSON(mountPath + "/creds/me/revoke")
	admin.MustCLI("delete", mountPath+"/creds/imported")
	admin.MustCLI("delete", mountPath+"/config")
	if r := apiOf(v).call(t, http.MethodGet, mountPath+"/config", nil); r.Status != http.StatusNotFound {
		t.Errorf("the config after the administrator deleted it: %s", r)
	}

	admin.requireAllDenied(
		command("write a policy", "write", "sys/policies/acl/escalate", `policy=path "*" { capabilities = ["sudo"] }`),
		command("tune the mount", "secrets", "tune", "-default-lease-ttl=1h", mountPath+"/"),
		command("read another mount", "read", "secret/data/anything"),
	)
}
