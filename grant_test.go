package jawbone

import (
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/jawbone"
)

func TestBackoffHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	err := &jawbone.Error{Kind: jawbone.Transient, RetryAfter: 10 * time.Minute}
	if got := backoff(1, err); got != 10*time.Minute {
		t.Fatalf("backoff with Retry-After 10m = %s", got)
	}
	if got := backoff(1, &jawbone.Error{RetryAfter: 100 * time.Hour}); got != retryAfterMax {
		t.Fatalf("backoff with a huge Retry-After = %s, want the cap", got)
	}
	if got := backoff(30, err); got != backoffMax {
		t.Fatalf("backoff after 30 failures = %s, want the cap", got)
	}
}

// A client rejection (say, a mistyped client_secret) is a config problem:
// the grant is not marked for re-authorization, and fixing the config is
// enough.
func TestClientRejectionIsFixedByTheConfig(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyClientSecret: "typo"})
	e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, 400, "invalid_client", "check client_id, client_secret and token_url")
	if e.stored("me").NeedsReauth {
		t.Fatal("a client rejection marked the grant for re-authorization")
	}
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyClientSecret: testClientSecret})
	e.mustOK(logical.UpdateOperation, "creds/me/refresh", nil)
}
