package jawbone

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// A token endpoint that repeats the refresh token and the client secret in
// its error_description (as common OAuth servers do) gets neither into the
// error reply, last_error (which creds/<name>/status shows to whoever may
// watch the creds) or the log: every secret the request carried is blanked.
func TestAProviderEchoingSecretsLeaksNone(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	refresh := e.stored("me").RefreshToken
	echo := `{"error":"invalid_client","error_description":"Wrong client for this refresh token: ` + refresh +
		` (client_secret=` + testClientSecret + `)"}`
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 400, Body: echo})
	msg := e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, 400, "invalid_client: Wrong client for this refresh token: [redacted]")
	status := e.mustOK(logical.ReadOperation, "creds/me/status", nil)
	lastError, _ := status.Data[keyLastError].(string)
	if !strings.Contains(lastError, "Wrong client for this refresh token") {
		t.Fatalf("last_error %q does not say what Jawbone said", lastError)
	}
	for what, text := range map[string]string{"the reply": msg, "last_error": lastError, "the log": e.logs.String()} {
		if strings.Contains(text, refresh) || strings.Contains(text, testClientSecret) {
			t.Fatalf("%s repeats a secret Jawbone echoed: %s", what, text)
		}
	}
}
