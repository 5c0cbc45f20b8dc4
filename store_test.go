package jawbone

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/physical/inmem"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// coldCache empties the backend's cache, so that reads do reach storage.
func (e *testEnv) coldCache() {
	e.b.cache = newEntryCache()
}

// storageError is the error the SDK's in-memory storage fails with when
// told to fail Put (or else Get).
func storageError(failPut bool) string {
	if failPut {
		return inmem.PutDisabledError.Error()
	}
	return inmem.GetDisabledError.Error()
}

func TestStorageFailuresKeepTheOldEntries(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(e *testEnv) // runs with working storage
		op      logical.Operation
		path    string
		data    func(e *testEnv) map[string]any
		failPut bool
		failGet bool
	}{
		{"config write, put fails", nil, logical.UpdateOperation, "config",
			func(*testEnv) map[string]any { return map[string]any{keyScopes: "move_read"} }, true, false},
		{"config write, get fails", nil, logical.UpdateOperation, "config",
			func(*testEnv) map[string]any { return map[string]any{keyScopes: "move_read"} }, false, true},
		{"due refresh, put fails", func(e *testEnv) { e.clock.Advance(year) }, logical.ReadOperation, "creds/me", nil, true, false},
		{"forced refresh, put fails", nil, logical.UpdateOperation, "creds/me/refresh", nil, true, false},
		{"import, put fails", nil, logical.UpdateOperation, "creds/me",
			func(e *testEnv) map[string]any {
				_, r := e.fake.IssueTokens(nil)
				return map[string]any{keyRefreshToken: r}
			}, true, false},
		{"exchange, put fails", nil, logical.UpdateOperation, "exchange",
			func(e *testEnv) map[string]any {
				auth := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: "other"})
				return map[string]any{keyRedirectURL: e.visit(auth.Data[keyURL].(string))}
			}, true, false},
		{"creds read, get fails", nil, logical.ReadOperation, "creds/me", nil, false, true},
		{"auth-url, put fails", nil, logical.ReadOperation, "auth-url",
			func(*testEnv) map[string]any { return map[string]any{keyName: "other"} }, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.configure()
			e.authorize("me")
			if tc.prepare != nil {
				tc.prepare(e)
			}
			var data map[string]any
			if tc.data != nil {
				data = tc.data(e)
			}
			e.coldCache()
			before := e.snapshot()
			e.storage.FailPut(tc.failPut).FailGet(tc.failGet)
			resp, err := e.request(tc.op, tc.path, data)
			e.storage.FailPut(false).FailGet(false)
			if status, msg := statusOf(resp, err); status != 500 || !strings.Contains(msg, storageError(tc.failPut)) {
				t.Fatalf("status %d (%s), want a 500 naming the storage error", status, msg)
			}
			// A spent state is the one change allowed: it is spent on the first try.
			after := e.snapshot()
			for k := range before {
				if strings.HasPrefix(k, stateStoragePrefix) {
					delete(before, k)
					delete(after, k)
				}
			}
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("storage changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// When storage cannot be written, Jawbone is not called at all (the refresh
// marker cannot be stored), and the next read refreshes normally.
func TestRefreshAfterFailedStoreRecovers(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	e.authorize("me")
	e.clock.Advance(year - time.Hour)
	e.coldCache()
	e.storage.FailPut(true)
	if resp, err := e.request(logical.ReadOperation, "creds/me", nil); err == nil && !resp.IsError() {
		t.Fatal("a read whose refresh could not be stored succeeded")
	}
	e.storage.FailPut(false)
	if tok := e.accessToken("me"); !e.fake.TokenValid(tok) {
		t.Fatal("the next read did not recover a working token")
	}
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 2 {
		t.Fatalf("token calls %d, want 2 (exchange, recovery)", n)
	}
}

// interruptRefresh leaves creds as a crash after Jawbone's reply would: the
// refresh marked in storage, the access token superseded at Jawbone.
func interruptRefresh(t *testing.T, e *testEnv, name string) (dead string) {
	t.Helper()
	c := markStored(t, e, name, func(c *grant) { c.RefreshStartedAt = e.clock.Now() })
	e.b.invalidate(context.Background(), credsStoragePrefix+name) // as a restart would
	if _, err := e.b.client(e.storedConfig()).Refresh(context.Background(), c.RefreshToken); err != nil {
		t.Fatal(err) // Jawbone replaced the token; the reply was lost
	}
	return c.AccessToken
}

func TestInterruptedRefreshIsRedoneBeforeAnswering(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	e.authorize("me")
	dead := interruptRefresh(t, e, "me")
	if e.fake.TokenValid(dead) {
		t.Fatal("test premise: the stored token should be dead at Jawbone")
	}
	got := e.accessToken("me")
	if got == dead || !e.fake.TokenValid(got) {
		t.Fatal("a read after an interrupted refresh returned a dead token")
	}
	if e.stored("me").interrupted() {
		t.Fatal("the marker survived a successful refresh")
	}
}

func TestInterruptedRefreshNeverServesTheStoredToken(t *testing.T) {
	cases := []struct {
		name  string
		fault fakejawbone.Fault
	}{
		{"jawbone answers 503", fakejawbone.Fault{Status: 503}},
		{"jawbone's reply is unreadable", fakejawbone.Fault{Status: 200, Body: "{"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.configure()
			e.authorize("me")
			interruptRefresh(t, e, "me")
			e.fake.InjectFault(fakejawbone.EndpointToken, tc.fault)
			e.mustFail(logical.ReadOperation, "creds/me", nil, 502, "did not complete", "vault write -f jawbone/creds/me/refresh")
			e.mustFail(logical.ReadOperation, "creds/me", nil, 502, "did not complete") // during backoff too
			e.fake.ClearFaults()
			if tok := e.mustOK(logical.UpdateOperation, "creds/me/refresh", nil).Data[keyAccessToken].(string); !e.fake.TokenValid(tok) {
				t.Fatal("the forced refresh the error suggests did not recover")
			}
		})
	}
}

// A crash before Jawbone processed the refresh replaced nothing: the stored
// token still works, so it is kept and no refresh is made.
func TestInterruptedRefreshThatReplacedNothingKeepsTheToken(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	token := e.authorize("me")
	markStored(t, e, "me", func(c *grant) { c.RefreshStartedAt = e.clock.Now() })
	e.b.invalidate(context.Background(), credsStoragePrefix+"me")
	e.fake.ResetCalls()
	if got := e.accessToken("me"); got != token {
		t.Fatal("a working token was replaced after an interrupted refresh")
	}
	if e.fake.Calls(fakejawbone.EndpointToken) != 0 || e.stored("me").interrupted() {
		t.Fatal("the marker was not settled by asking Jawbone")
	}
}

// replyLosingTransport lets Jawbone process the request, then loses the reply.
type replyLosingTransport struct{}

func (replyLosingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body.Close()
	}
	return nil, errors.New("connection reset by peer")
}

// A refresh whose reply is lost after Jawbone issued a new token: the stored
// token is dead, and it is not handed out as if it worked.
func TestLostReplyNeverServesTheReplacedToken(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	old := e.authorize("me")
	e.clock.Advance(year - time.Hour)
	e.b.transport = replyLosingTransport{}
	e.mustFail(logical.ReadOperation, "creds/me", nil, 502, "did not complete")
	if e.fake.TokenValid(old) || !e.stored("me").interrupted() {
		t.Fatal("test premise: Jawbone replaced the token and the marker stays")
	}
	e.b.transport = nil
	e.clock.Advance(backoffBase)
	if tok := e.accessToken("me"); !e.fake.TokenValid(tok) {
		t.Fatal("the next attempt did not recover a working token")
	}
}
