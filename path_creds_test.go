package jawbone

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

func TestCredsReadFreshTokenMakesNoUpstreamCall(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	token := e.authorize("me")
	e.fake.ResetCalls()
	resp := e.mustOK(logical.ReadOperation, "creds/me", nil)
	d := resp.Data
	if d[keyAccessToken] != token || d[keyTokenType] != "Bearer" || d[keyNeedsReauth] != false {
		t.Fatalf("creds read %#v", d)
	}
	if d[keyExpiresIn] != int64(year.Seconds()) || d[keyExpiresAt] != e.clock.Now().Add(year).Format(time.RFC3339) {
		t.Fatalf("expiry fields %v / %v", d[keyExpiresIn], d[keyExpiresAt])
	}
	if !reflect.DeepEqual(d[keyScopes], []string{"basic_read"}) {
		t.Fatalf("scopes %v", d[keyScopes])
	}
	// Agent re-reads after ttl+1s: at the latest a minute later (max_ttl),
	// so a token changed outside the schedule reaches it; rotation_period is
	// the token's time until its refresh window opens.
	if want := int64((year - 7*24*time.Hour).Seconds()); d[keyTTL] != int64(59) || d[keyRotationPeriod] != want {
		t.Fatalf("ttl %v rotation_period %v, want 59 and %d", d[keyTTL], d[keyRotationPeriod], want)
	}
	if _, ok := d[keyRefreshToken]; ok {
		t.Fatal("creds read returned the refresh token")
	}
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 0 {
		t.Fatalf("a fresh read called the token endpoint %d times", n)
	}
}

func TestCredsNames(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	for _, bad := range []string{"a/b", "../x", "..", "a..b", ".hidden", "mé", "a b", strings.Repeat("n", 65)} {
		e.mustFail(logical.ReadOperation, "creds/"+bad, nil, 400, "is not allowed", "A-Z a-z 0-9")
		e.mustFail(logical.UpdateOperation, "creds/"+bad, map[string]any{keyRefreshToken: "x"}, 400, "is not allowed")
		e.mustFail(logical.DeleteOperation, "creds/"+bad, nil, 400, "is not allowed")
	}
	e.mustFail(logical.ReadOperation, "creds/nobody", nil, 404, `no creds named "nobody"`, "auth-url name=nobody")
}

func TestCredsListAndDelete(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("alice")
	e.authorize("bob")
	resp := e.mustOK(logical.ListOperation, "creds/", nil)
	if !reflect.DeepEqual(resp.Data["keys"], []string{"alice", "bob"}) {
		t.Fatalf("list %v", resp.Data["keys"])
	}
	e.mustOK(logical.DeleteOperation, "creds/alice", nil)
	if e.stored("alice") != nil || e.stored("bob") == nil {
		t.Fatal("delete removed the wrong creds")
	}
	e.mustFail(logical.ReadOperation, "creds/alice", nil, 404, "no creds")
}

// creds/<name>/status shows a grant's health without its token, and
// without calling Jawbone.
func TestCredsStatusShowsHealthWithoutTheToken(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	token := e.authorize("me")
	e.clock.Advance(year - time.Hour)
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 503})
	e.mustOK(logical.ReadOperation, "creds/me", nil) // a failed refresh
	e.fake.ResetCalls()
	d := e.mustOK(logical.ReadOperation, "creds/me/status", nil).Data
	if _, ok := d[keyAccessToken]; ok || strings.Contains(fmt.Sprint(d), token) {
		t.Fatalf("the status hands out the token: %v", d)
	}
	if d[keyAccountXID] != e.fake.DefaultAccount() || d[keyLastError] == nil || d[keyNextAttemptAt] == nil || d[keyNeedsReauth] != false {
		t.Fatalf("the status lacks the grant's health: %v", d)
	}
	if n := e.fake.Calls(fakejawbone.EndpointToken) + e.fake.Calls(fakejawbone.EndpointMe); n != 0 {
		t.Fatalf("reading the status made %d calls to Jawbone", n)
	}
	e.mustFail(logical.ReadOperation, "creds/ghost/status", nil, http.StatusNotFound, `no creds named "ghost"`)
}

// A name with a "/" is no creds name: a write below an action path
// (creds/x/refresh/extra) is told so before its fields are looked at, and
// is not answered as an import; so are the other operations, and a read of
// an action path under such a name is not told to write it.
func TestANameWithASlashIsNoName(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("x")
	before := e.snapshot()
	const rule = `name "x/refresh/extra" is not allowed: a creds name must be 1 to 64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit, and no ".."; a name has no "/": the paths below creds/<name> are refresh, revoke and status`
	for _, tc := range []struct {
		op   logical.Operation
		data map[string]any
	}{
		{logical.UpdateOperation, nil},
		{logical.UpdateOperation, map[string]any{"force": true}},
		{logical.UpdateOperation, map[string]any{keyRefreshToken: "r"}},
		{logical.ReadOperation, nil},
		{logical.DeleteOperation, nil},
	} {
		msg := e.mustFail(tc.op, "creds/x/refresh/extra", tc.data, http.StatusBadRequest, rule)
		if strings.Contains(msg, "give refresh_token") || strings.Contains(msg, "unknown field") {
			t.Fatalf("%s creds/x/refresh/extra was answered as something else first: %s", tc.op, msg)
		}
	}
	e.mustFail(logical.ReadOperation, "creds/x/refresh/extra/refresh", nil, http.StatusBadRequest, `name "x/refresh/extra" is not allowed`)
	e.mustFail(logical.ReadOperation, "auth-url/x/refresh/extra", nil, http.StatusBadRequest, rule)
	if after := e.snapshot(); !reflect.DeepEqual(before, after) {
		t.Fatal("a request for a name with a slash changed storage")
	}
}
