package jawbone

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/jawbone"
)

const year = 365 * 24 * time.Hour

func TestCredsReadFreshTokenMakesNoUpstreamCall(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
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
	// Agent re-reads after ttl: exactly when the refresh window opens.
	if want := int64((year - 7*24*time.Hour).Seconds()); d[keyTTL] != want || d[keyRotationPeriod] != want {
		t.Fatalf("ttl %v rotation_period %v, want %d", d[keyTTL], d[keyRotationPeriod], want)
	}
	if _, ok := d[keyRefreshToken]; ok {
		t.Fatal("creds read returned the refresh token")
	}
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 0 {
		t.Fatalf("a fresh read called the token endpoint %d times", n)
	}
}

func TestCredsRefreshAheadWithClock(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	old := e.authorize("me")
	before := e.stored("me")
	e.fake.ResetCalls()

	e.clock.Advance(year - 7*24*time.Hour - time.Second)
	if e.accessToken("me") != old || e.fake.Calls(fakejawbone.EndpointToken) != 0 {
		t.Fatal("refreshed before the refresh_ahead window")
	}
	e.clock.Advance(time.Second)
	fresh := e.accessToken("me")
	if fresh == old || e.fake.Calls(fakejawbone.EndpointToken) != 1 {
		t.Fatalf("no refresh at the window: same=%v calls=%d", fresh == old, e.fake.Calls(fakejawbone.EndpointToken))
	}
	after := e.stored("me")
	if after.AccessToken != fresh || after.RefreshToken != before.RefreshToken || !after.ExpiresAt.Equal(e.clock.Now().Add(year)) {
		t.Fatalf("refresh not persisted as expected: %+v", after)
	}
	if e.fake.TokenValid(old) || !e.fake.TokenValid(fresh) {
		t.Fatal("the fake disagrees about which token works")
	}
}

func TestCredsRefreshFailures(t *testing.T) {
	cases := []struct {
		name  string
		fault fakejawbone.Fault
		// expired: the failure happens after the access token expired.
		expired     bool
		status      int
		wants       []string
		needsReauth bool
	}{
		{"transient 503, token valid", fakejawbone.Fault{Status: 503, Body: "busy"}, false, 200, []string{"HTTP 503"}, false},
		{"transient 429, token valid", fakejawbone.Fault{Status: 429, RetryAfter: "120"}, false, 200, []string{"HTTP 429"}, false},
		// An unreadable 200 may have carried a new token; Jawbone's API says
		// the stored one still works (the fake issued nothing), so it is served.
		{"malformed json, token valid", fakejawbone.Fault{Status: 200, Body: "{not json"}, false, 200, []string{"cannot parse"}, false},
		{"no access_token, token valid", fakejawbone.Fault{Status: 200, Body: `{"token_type":"Bearer"}`}, false, 200, []string{"missing access_token"}, false},
		{"transient 502, token expired", fakejawbone.Fault{Status: 502}, true, 502, []string{"expired at", "HTTP 502", "refresh token is kept"}, false},
		{"invalid_grant", fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_grant","error_description":"revoked"}`}, false, 400, []string{"need re-authorization", "invalid_grant", "auth-url name=me"}, true},
		{"invalid_client, token valid", fakejawbone.Fault{Status: 401, Body: `{"error":"invalid_client"}`}, false, 200, []string{"invalid_client"}, false},
		{"invalid_client, token expired", fakejawbone.Fault{Status: 401, Body: `{"error":"invalid_client"}`}, true, 502, []string{"invalid_client", "expired at"}, false},
		{"200 with an oauth error", fakejawbone.Fault{Status: 200, Body: `{"error":"invalid_grant"}`}, false, 400, []string{"invalid_grant"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.configure()
			old := e.authorize("me")
			kept := e.stored("me").RefreshToken
			e.clock.Advance(year - time.Hour)
			if tc.expired {
				e.clock.Advance(time.Hour)
			}
			e.fake.InjectFault(fakejawbone.EndpointToken, tc.fault)
			resp, err := e.request(logical.ReadOperation, "creds/me", nil)
			status, msg := statusOf(resp, err)
			if status == 200 {
				msg = strings.Join(resp.Warnings, " ")
				if resp.Data[keyAccessToken] != old {
					t.Fatal("a transient failure did not return the current token")
				}
			}
			if status != tc.status {
				t.Fatalf("status %d (%s), want %d", status, msg, tc.status)
			}
			for _, w := range tc.wants {
				if !strings.Contains(msg, w) {
					t.Fatalf("%q does not mention %q", msg, w)
				}
			}
			stored := e.stored("me")
			if stored.RefreshToken != kept || stored.AccessToken != old {
				t.Fatal("a failed refresh changed the stored tokens")
			}
			if stored.NeedsReauth != tc.needsReauth || stored.LastError == "" {
				t.Fatalf("stored state %+v, want needs_reauth=%v and a last error", stored, tc.needsReauth)
			}
		})
	}
}

func TestCredsTransientFailuresBackOff(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	e.authorize("me")
	e.clock.Advance(year - time.Hour)
	e.fake.ResetCalls()
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 503})

	for i := 0; i < 5; i++ {
		resp := e.mustOK(logical.ReadOperation, "creds/me", nil)
		if len(resp.Warnings) == 0 || resp.Data[keyNextAttemptAt] == nil {
			t.Fatalf("read %d during backoff: no warning or next attempt: %#v", i, resp)
		}
	}
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 1 {
		t.Fatalf("%d token calls during backoff, want 1", n)
	}
	e.clock.Advance(backoffBase)
	e.mustOK(logical.ReadOperation, "creds/me", nil)
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 2 {
		t.Fatalf("%d token calls after the backoff passed, want 2", n)
	}
	if got := e.stored("me").NextAttemptAt.Sub(e.clock.Now()); got != 2*backoffBase {
		t.Fatalf("second backoff %s, want %s", got, 2*backoffBase)
	}

	e.fake.ClearFaults()
	e.clock.Advance(2 * backoffBase)
	resp := e.mustOK(logical.ReadOperation, "creds/me", nil)
	if len(resp.Warnings) != 0 || resp.Data[keyLastError] != nil || e.stored("me").FailedAttempts != 0 {
		t.Fatalf("recovery did not clear the failure state: %#v", resp)
	}
}

func TestBackoffHonoursRetryAfter(t *testing.T) {
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

func TestCredsNeedsReauthStopsCallingJawbone(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	e.authorize("me")
	e.clock.Advance(year)
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_grant"}`})
	e.mustFail(logical.ReadOperation, "creds/me", nil, 400, "need re-authorization")
	e.fake.ResetCalls()
	e.mustFail(logical.ReadOperation, "creds/me", nil, 400, "need re-authorization")
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 0 {
		t.Fatalf("reads of creds needing re-authorization called Jawbone %d times", n)
	}
	e.fake.ClearFaults()
	e.authorize("me")
	if e.stored("me").NeedsReauth {
		t.Fatal("a new authorization did not clear needs_reauth")
	}
}

// 100 readers of one due token cause exactly one token call, and all of them
// get the new token.
func TestCredsConcurrentReadsShareOneRefresh(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	old := e.authorize("me")
	e.clock.Advance(year)
	e.fake.ResetCalls()

	const readers = 100
	tokens := make([]string, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := e.b.HandleRequest(context.Background(), &logical.Request{
				Operation: logical.ReadOperation, Path: "creds/me", Storage: e.storage,
			})
			if err == nil && !resp.IsError() {
				tokens[i] = resp.Data[keyAccessToken].(string)
			}
		}()
	}
	wg.Wait()
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 1 {
		t.Fatalf("%d readers made %d token calls, want 1", readers, n)
	}
	fresh := e.stored("me").AccessToken
	for i, tok := range tokens {
		if tok != fresh || tok == old {
			t.Fatalf("reader %d got %q, want the refreshed token", i, tok)
		}
	}
}

func TestCredsRefreshDoesNotBlockOtherNames(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	e.authorize("slow")
	e.clock.Advance(year - 30*24*time.Hour)
	other := e.authorize("other")
	e.clock.Advance(30 * 24 * time.Hour) // "slow" is due, "other" is not

	h := newHoldingTransport()
	e.b.transport = h
	done := e.async(logical.ReadOperation, "creds/slow", nil)
	<-h.arrived // the refresh of "slow" is now in flight
	if got := e.accessToken("other"); got != other {
		t.Fatalf("read of another name got %q", got)
	}
	close(h.release)
	<-done
}

func TestCredsImport(t *testing.T) {
	cases := []struct {
		name string
		// data builds the write from a grant the fake issued out of band.
		data         func(access, refresh string) map[string]any
		tokenCalls   int
		recoverCalls int
		keepsAccess  bool
		warns        bool
	}{
		{"refresh token only", func(_, r string) map[string]any { return map[string]any{keyRefreshToken: r} }, 1, 0, false, false},
		{"access token only", func(a, _ string) map[string]any { return map[string]any{keyAccessToken: a} }, 1, 1, false, true},
		{"both without expiry", func(a, r string) map[string]any { return map[string]any{keyAccessToken: a, keyRefreshToken: r} }, 1, 0, false, true},
		{"access token with expiry", func(a, _ string) map[string]any {
			return map[string]any{keyAccessToken: a, keyExpiresAt: "2026-06-01T00:00:00Z"}
		}, 0, 1, true, false},
		{"both with expiry", func(a, r string) map[string]any {
			return map[string]any{keyAccessToken: a, keyRefreshToken: r, keyExpiresAt: "2026-06-01T00:00:00Z"}
		}, 0, 0, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.configure()
			access, refresh := e.fake.IssueTokens([]string{"basic_read"})
			resp := e.mustOK(logical.UpdateOperation, "creds/imported", tc.data(access, refresh))
			if got := e.fake.Calls(fakejawbone.EndpointToken); got != tc.tokenCalls {
				t.Errorf("token calls %d, want %d", got, tc.tokenCalls)
			}
			if got := e.fake.Calls(fakejawbone.EndpointRefreshToken); got != tc.recoverCalls {
				t.Errorf("refreshToken calls %d, want %d", got, tc.recoverCalls)
			}
			stored := e.stored("imported")
			if stored.RefreshToken != refresh {
				t.Fatal("the grant's refresh token was not stored")
			}
			if (stored.AccessToken == access) != tc.keepsAccess || !e.fake.TokenValid(stored.AccessToken) {
				t.Fatalf("stored access token kept=%v valid=%v", stored.AccessToken == access, e.fake.TokenValid(stored.AccessToken))
			}
			if resp.Data[keyAccessToken] != stored.AccessToken || (len(resp.Warnings) > 0) != tc.warns {
				t.Fatalf("import reply %#v", resp)
			}
		})
	}
}

func TestCredsImportRejections(t *testing.T) {
	cases := []struct {
		name   string
		data   map[string]any
		status int
		wants  []string
	}{
		{"nothing", map[string]any{}, 400, []string{"give refresh_token, access_token, or both"}},
		{"bad refresh token", map[string]any{keyRefreshToken: "nope"}, 400, []string{"invalid_grant", "refresh_token must be a current refresh token"}},
		{"bad access token", map[string]any{keyAccessToken: "nope"}, 400, []string{"HTTP 401", "access_token must be a valid"}},
		{"token with spaces", map[string]any{keyRefreshToken: "a b"}, 400, []string{"refresh_token does not look like a token"}},
		{"bad expiry", map[string]any{keyAccessToken: "a", keyExpiresAt: "tomorrow"}, 400, []string{"expires_at must be an RFC 3339 time"}},
		{"expiry without access token", map[string]any{keyRefreshToken: "a", keyExpiresAt: "2027-01-01T00:00:00Z"}, 400, []string{"expires_at describes access_token"}},
		{"unknown scope", map[string]any{keyRefreshToken: "a", keyScopes: "x"}, 400, []string{`"x" is not a Jawbone scope`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.configure()
			existing := e.authorize("me")
			e.mustFail(logical.UpdateOperation, "creds/me", tc.data, tc.status, tc.wants...)
			if e.stored("me").AccessToken != existing {
				t.Fatal("a rejected import changed the stored creds")
			}
		})
	}
}

func TestCredsNames(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	for _, bad := range []string{"a/b", "../x", "..", "a..b", ".hidden", "mé", "a b", strings.Repeat("n", 65)} {
		e.mustFail(logical.ReadOperation, "creds/"+bad, nil, 400, "is not allowed", "A-Z a-z 0-9")
		e.mustFail(logical.UpdateOperation, "creds/"+bad, map[string]any{keyRefreshToken: "x"}, 400, "is not allowed")
		e.mustFail(logical.DeleteOperation, "creds/"+bad, nil, 400, "is not allowed")
	}
	e.mustFail(logical.ReadOperation, "creds/nobody", nil, 404, `no creds named "nobody"`, "auth-url name=nobody")
}

func TestCredsListAndDelete(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
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
