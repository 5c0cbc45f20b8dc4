package jawbone

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// vaultCommand finds the commands a message suggests.
var vaultCommand = regexp.MustCompile(`vault (?:read|write|delete|list|path-help)(?: -\S+)* (\S+)`)

// requireCommandsOn checks that msg suggests at least one command and that
// every command it suggests is on mount.
func requireCommandsOn(t *testing.T, what, msg, mount string) {
	t.Helper()
	cmds := vaultCommand.FindAllStringSubmatch(msg, -1)
	if len(cmds) == 0 {
		t.Fatalf("%s: %q suggests no command", what, msg)
	}
	for _, c := range cmds {
		if !strings.HasPrefix(c[1], mount) {
			t.Fatalf("%s: %q suggests %q, which is not on %s", what, msg, c[0], mount)
		}
	}
	if strings.Contains(msg, "jawbone/") {
		t.Fatalf("%s: %q names jawbone/ on a mount at %s", what, msg, mount)
	}
}

// Every message that suggests a command suggests it on the mount the
// request came in on: mounted at fitbit-old/, the plugin must not tell the
// operator to run commands on jawbone/, which does not exist there.
func TestMessagesNameTheMountTheyAreReadOn(t *testing.T) {
	t.Parallel()
	const mount = "fitbit-old/"
	cases := []struct {
		name  string
		setup func(e *testEnv) (op logical.Operation, path string, data map[string]any)
	}{
		{"not configured", func(e *testEnv) (logical.Operation, string, map[string]any) {
			e.mustOK(logical.DeleteOperation, "config", nil)
			return logical.ReadOperation, "creds/me", nil
		}},
		{"first config write without a field", func(e *testEnv) (logical.Operation, string, map[string]any) {
			e.mustOK(logical.DeleteOperation, "config", nil)
			return logical.UpdateOperation, "config", map[string]any{keyClientID: "c", keyClientSecret: "s"}
		}},
		{"no such creds", func(*testEnv) (logical.Operation, string, map[string]any) {
			return logical.ReadOperation, "creds/ghost", nil
		}},
		{"another account's grant", func(e *testEnv) (logical.Operation, string, map[string]any) {
			e.fake.SetSignedIn("intruder")
			auth := e.mustOK(logical.ReadOperation, "auth-url", nil)
			return logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: e.visit(auth.Data[keyURL].(string))}
		}},
		{"needs re-authorization", func(e *testEnv) (logical.Operation, string, map[string]any) {
			e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_grant"}`, Times: 1})
			e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, 400, "invalid_grant")
			return logical.ReadOperation, "creds/me", nil
		}},
		{"forced refresh rejected", func(e *testEnv) (logical.Operation, string, map[string]any) {
			e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_grant"}`, Times: 1})
			return logical.UpdateOperation, "creds/me/refresh", nil
		}},
		{"client rejected", func(e *testEnv) (logical.Operation, string, map[string]any) {
			e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 401, Body: `{"error":"invalid_client"}`, Times: 1})
			return logical.UpdateOperation, "creds/me/refresh", nil
		}},
		{"expired during an outage", func(e *testEnv) (logical.Operation, string, map[string]any) {
			e.clock.Advance(year + time.Hour)
			e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 503})
			return logical.ReadOperation, "creds/me", nil
		}},
		{"denied authorization", func(e *testEnv) (logical.Operation, string, map[string]any) {
			return logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: testRedirectURI + "?error=access_denied&state=x"}
		}},
		{"unknown state", func(*testEnv) (logical.Operation, string, map[string]any) {
			return logical.UpdateOperation, "exchange", map[string]any{keyCode: "c", keyState: "s"}
		}},
		{"incomplete redirect", func(*testEnv) (logical.Operation, string, map[string]any) {
			return logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: testRedirectURI + "?code=c"}
		}},
		{"import without tokens", func(*testEnv) (logical.Operation, string, map[string]any) {
			return logical.UpdateOperation, "creds/other", map[string]any{keyScopes: "basic_read"}
		}},
		{"kiefer file with a dead token", func(*testEnv) (logical.Operation, string, map[string]any) {
			return logical.UpdateOperation, "config", map[string]any{keyRefreshToken: "dead"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			e.mount = mount
			e.configure()
			e.authorize("me")
			op, path, data := tc.setup(e)
			resp, err := e.request(op, path, data)
			status, msg := statusOf(resp, err)
			if status < 400 {
				t.Fatalf("%s %s succeeded: %#v", op, path, resp)
			}
			requireCommandsOn(t, tc.name, msg, mount)
		})
	}
}

// The warnings of an import and the path help name the mount too.
func TestHelpAndWarningsNameTheMount(t *testing.T) {
	t.Parallel()
	const mount = "jb/"
	e := newTestEnv(t)
	e.mount = mount
	e.configure()
	_, refresh := e.fake.IssueTokens(nil)
	resp := e.mustOK(logical.UpdateOperation, "config", map[string]any{keyRefreshToken: refresh})
	requireCommandsOn(t, "kiefer import warning", strings.Join(resp.Warnings, "\n"), mount)

	for _, path := range []string{"config", "auth-url", "exchange", "callback", "creds/me", "creds/me/refresh", "status"} {
		resp, err := e.handle(&logical.Request{
			Operation: logical.HelpOperation, Path: path, Storage: e.storage, MountPoint: mount,
		})
		if err != nil {
			t.Fatalf("help %q: %v", path, err)
		}
		help, _ := resp.Data["help"].(string)
		if strings.Contains(help, "vault ") {
			requireCommandsOn(t, "help for "+path, help, mount)
		}
	}
}

// An error with a status other than 400, returned as a Go error, reaches
// the caller wrapped by Vault ("1 error occurred: * …"). As Vault runs the
// plugin (Factory), every such error leaves as an error reply instead: the
// status, and the body Vault gives its own errors, {"errors": [msg]}, which
// the CLI shows as it shows a 400's. Its text is in Warnings too, which a
// raw reply does not send but the audit log keeps readable.
func TestErrorsWithAStatusLeaveAsErrorReplies(t *testing.T) {
	t.Parallel()
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	b, err := Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	do := func(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
		return b.HandleRequest(context.Background(), &logical.Request{Operation: op, Path: path, Data: data, Storage: conf.StorageView, MountPoint: "jawbone/"})
	}
	if resp, err := do(logical.UpdateOperation, "config", map[string]any{keyClientID: "c", keyClientSecret: "s", keyRedirectURI: testRedirectURI}); err != nil || resp.IsError() {
		t.Fatalf("config: %v %v", err, resp)
	}
	for _, tc := range []struct {
		op     logical.Operation
		path   string
		status int
		msg    string
	}{
		{logical.ReadOperation, "creds/ghost", http.StatusNotFound, `no creds named "ghost"; authorize with vault read jawbone/auth-url name=ghost`},
		{logical.ReadOperation, "creds/ghost/refresh", http.StatusMethodNotAllowed, "creds/ghost/refresh is a write, not a read: vault write -f jawbone/creds/ghost/refresh"},
		{logical.UpdateOperation, "creds/ghost/refresh", http.StatusNotFound, `no creds named "ghost"`},
	} {
		resp, err := do(tc.op, tc.path, nil)
		if err != nil || resp == nil {
			t.Fatalf("%s %s: returned the error %v, want an error reply", tc.op, tc.path, err)
		}
		var body struct{ Errors []string }
		raw, _ := resp.Data[logical.HTTPRawBody].([]byte)
		if resp.Data[logical.HTTPStatusCode] != tc.status || resp.Data[logical.HTTPContentType] != "application/json" ||
			json.Unmarshal(raw, &body) != nil || len(body.Errors) != 1 || !strings.HasPrefix(body.Errors[0], tc.msg) {
			t.Fatalf("%s %s: %#v (body %s), want %d with {\"errors\": [%q…]}", tc.op, tc.path, resp.Data, raw, tc.status, tc.msg)
		}
		if len(resp.Warnings) != 1 || resp.Warnings[0] != body.Errors[0] {
			t.Fatalf("%s %s: warnings %q, want the message for the audit log", tc.op, tc.path, resp.Warnings)
		}
	}
	// 400s stay error responses, and Vault's own errors stay errors.
	if resp, err := do(logical.ReadOperation, "creds/a..b", nil); err != nil || !resp.IsError() {
		t.Fatalf("a 400: %v %#v", err, resp)
	}
	if _, err := do(logical.DeleteOperation, "status", nil); !errors.Is(err, logical.ErrUnsupportedOperation) {
		t.Fatalf("an unsupported operation: %v", err)
	}
}
