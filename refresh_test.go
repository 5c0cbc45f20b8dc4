package jawbone

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

func TestCredsRefreshAheadWithClock(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
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
	t.Parallel()
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
		{"malformed json, token valid", fakejawbone.Fault{Status: 200, Body: "{not json"}, false, 200, []string{"not a token reply"}, false},
		{"no access_token, token valid", fakejawbone.Fault{Status: 200, Body: `{"token_type":"Bearer"}`}, false, 200, []string{"not a token reply"}, false},
		// Only invalid_grant says the grant is dead (a proxy, a firewall or a
		// wrong token_url answers without an OAuth error).
		{"bare 401, token valid", fakejawbone.Fault{Status: 401, Body: "<html>no</html>", ContentType: "text/html"}, false, 200, []string{"HTTP 401"}, false},
		{"bare 400, token valid", fakejawbone.Fault{Status: 400, Body: "bad"}, false, 200, []string{"HTTP 400"}, false},
		{"invalid_scope, token valid", fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_scope"}`}, false, 200, []string{"invalid_scope"}, false},
		{"transient 502, token expired", fakejawbone.Fault{Status: 502}, true, 502, []string{"expired at", "HTTP 502", "refresh token is kept"}, false},
		{"invalid_grant", fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_grant","error_description":"revoked"}`}, false, 400, []string{"need re-authorization", "invalid_grant", "auth-url name=me"}, true},
		{"invalid_client, token valid", fakejawbone.Fault{Status: 401, Body: `{"error":"invalid_client"}`}, false, 200, []string{"invalid_client"}, false},
		{"invalid_client, token expired", fakejawbone.Fault{Status: 401, Body: `{"error":"invalid_client"}`}, true, 502, []string{"invalid_client", "expired at"}, false},
		{"200 with an oauth error", fakejawbone.Fault{Status: 200, Body: `{"error":"invalid_grant"}`}, false, 400, []string{"invalid_grant"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newConfiguredEnv(t)
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
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	e.clock.Advance(year - time.Hour)
	e.fake.ResetCalls()
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 503, Body: `{"error":"temporarily_unavailable"}`})

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

func TestCredsNeedsReauthStopsCallingJawbone(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
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
	t.Parallel()
	e := newConfiguredEnv(t)
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

// holdingTransport holds the calls to Jawbone's token URL until released,
// announcing each, so that a test can act while a refresh is in flight;
// calls to the API go through.
type holdingTransport struct {
	arrived chan struct{}
	release chan struct{}
}

func newHoldingTransport() *holdingTransport {
	return &holdingTransport{arrived: make(chan struct{}, 16), release: make(chan struct{})}
}

func (h *holdingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/token") {
		h.arrived <- struct{}{}
		<-h.release
	}
	return http.DefaultTransport.RoundTrip(r)
}

// async runs one operation in the background, for a test to act while it
// is in flight; the operation must succeed.
func (e *testEnv) async(op logical.Operation, path string, data map[string]any) <-chan *logical.Response {
	done := make(chan *logical.Response, 1)
	go func() {
		resp, err := e.handle(&logical.Request{Operation: op, Path: path, Data: data, Storage: e.storage})
		if err != nil || resp.IsError() {
			e.t.Errorf("%s %s: err=%v resp=%#v", op, path, err, resp)
		}
		done <- resp
	}()
	return done
}

// waitForLockUsers waits until n operations hold or wait for name's lock.
func waitForLockUsers(t *testing.T, b *backend, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.registry.names.mu.Lock()
		users := 0
		if l := b.registry.names.locks[name]; l != nil {
			users = l.users
		}
		b.registry.names.mu.Unlock()
		if users >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d operations reached the lock of %q", users, n, name)
		}
		runtime.Gosched()
	}
}

func TestCredsRefreshDoesNotBlockOtherNames(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
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

// A read during a forced refresh waits for it and gets its token, instead of
// taking the in-flight marker for a crash and refreshing again.
func TestReadDuringForcedRefreshGetsItsToken(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	h := newHoldingTransport()
	e.b.transport = h
	e.fake.ResetCalls()

	forced := e.async(logical.UpdateOperation, "creds/me/refresh", nil)
	<-h.arrived // the forced refresh is at Jawbone, its marker stored
	read := e.async(logical.ReadOperation, "creds/me", nil)
	waitForLockUsers(t, e.b, "me", 2)
	close(h.release)

	forcedToken := (<-forced).Data[keyAccessToken]
	readToken := (<-read).Data[keyAccessToken]
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 1 {
		t.Fatalf("%d token calls, want 1", n)
	}
	stored := e.stored("me").AccessToken
	if readToken != forcedToken || stored != forcedToken || !e.fake.TokenValid(stored) {
		t.Fatal("the read, the forced refresh and storage disagree, or the stored token is dead")
	}
}

// A delete during a refresh is not undone by the refresh writing back.
func TestDeleteDuringRefreshStaysDeleted(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	e.clock.Advance(year)
	h := newHoldingTransport()
	e.b.transport = h

	read := e.async(logical.ReadOperation, "creds/me", nil)
	<-h.arrived
	deleted := e.async(logical.DeleteOperation, "creds/me", nil)
	waitForLockUsers(t, e.b, "me", 2)
	close(h.release)
	<-read
	<-deleted
	if e.stored("me") != nil {
		t.Fatal("the refresh wrote a deleted grant back")
	}
}

// A new grant stored during a refresh of the old one is not overwritten.
func TestImportDuringRefreshWins(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	e.clock.Advance(year)
	_, newRefresh := e.fake.IssueTokens(nil)
	h := newHoldingTransport()
	e.b.transport = h

	read := e.async(logical.ReadOperation, "creds/me", nil)
	<-h.arrived
	imported := e.async(logical.UpdateOperation, "creds/me", map[string]any{keyRefreshToken: newRefresh})
	// The import waits for the name's critical section; its own refresh
	// (to learn the expiry) goes to Jawbone once the read's is done.
	waitForLockUsers(t, e.b, "me", 2)
	close(h.release)
	<-read
	<-imported
	if got := e.stored("me").RefreshToken; got != newRefresh {
		t.Fatal("the refresh of the old grant overwrote the imported one")
	}
}

// interruptRefresh leaves creds as a crash after Jawbone's reply would: the
// refresh marked in storage, the access token superseded at Jawbone.
func interruptRefresh(t *testing.T, e *testEnv, name string) (dead string) {
	t.Helper()
	c := markStored(t, e, name, func(c *grant) { c.AttemptStartedAt = e.clock.Now() })
	e.b.invalidate(context.Background(), credsStoragePrefix+name) // as a restart would
	if _, err := e.b.client(e.storedConfig()).Refresh(context.Background(), c.RefreshToken); err != nil {
		t.Fatal(err) // Jawbone replaced the token; the reply was lost
	}
	return c.AccessToken
}

func TestInterruptedRefreshIsRedoneBeforeAnswering(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	dead := interruptRefresh(t, e, "me")
	if e.fake.TokenValid(dead) {
		t.Fatal("test premise: the stored token should be dead at Jawbone")
	}
	got := e.accessToken("me")
	if got == dead || !e.fake.TokenValid(got) {
		t.Fatal("a read after an interrupted refresh returned a dead token")
	}
	if e.stored("me").attempting() {
		t.Fatal("the marker survived a successful refresh")
	}
}

func TestInterruptedRefreshNeverServesTheStoredToken(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		fault fakejawbone.Fault
	}{
		{"jawbone answers 503", fakejawbone.Fault{Status: 503, Body: `{"error":"temporarily_unavailable"}`}},
		{"jawbone's reply is unreadable", fakejawbone.Fault{Status: 200, Body: "{"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newConfiguredEnv(t)
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
// token still works, so it is kept and no refresh is made. While the
// attempt could still land it is handed out with a warning only; once it
// cannot, the marker is settled by asking Jawbone.
func TestInterruptedRefreshThatReplacedNothingKeepsTheToken(t *testing.T) {
	t.Parallel()
	e, token := interruptedBeforeJawbone(t)
	e.fake.ResetCalls()
	requireInDoubtWarning(t, e.mustOK(logical.ReadOperation, "creds/me", nil), token, "while the attempt could still land")
	e.clock.Advance(landingFactor * defaultRequestTimeout)
	resp := e.mustOK(logical.ReadOperation, "creds/me", nil)
	if resp.Data[keyAccessToken] != token || len(resp.Warnings) != 0 {
		t.Fatal("a working token was replaced, or still warned about, after an interrupted refresh")
	}
	if e.fake.Calls(fakejawbone.EndpointToken) != 0 || e.stored("me").attempting() {
		t.Fatal("the marker was not settled by asking Jawbone")
	}
}

// A read judges the grant once: one that found the token accepted while
// the attempt could still land hands it out with the warning, even if the
// landing time passes before it answers (CI once saw a 502 with no cause
// in that instant).
func TestAReadAnswersAsItJudgedAcrossTheLandingTime(t *testing.T) {
	t.Parallel()
	e, token := interruptedBeforeJawbone(t)
	e.mustOK(logical.ReadOperation, "creds/me", nil) // Jawbone accepts the token: handed out with a warning
	landsBy := e.stored("me").landsBy(defaultRequestTimeout)
	e.clock.Advance(landsBy.Sub(e.clock.Now()) - time.Millisecond)
	// Jawbone's answer to the next check takes 2 ms, in which the attempt's
	// landing time passes.
	e.b.transport = slowReplyTransport{clock: e.clock, took: 2 * time.Millisecond}
	requireInDoubtWarning(t, e.mustOK(logical.ReadOperation, "creds/me", nil), token, "across the landing time")
}

// interruptedBeforeJawbone is a mount whose creds me hold token with a
// refresh marked in doubt that never reached Jawbone (a crash before it
// was sent), as the next start finds them.
func interruptedBeforeJawbone(t *testing.T) (e *testEnv, token string) {
	t.Helper()
	e = newConfiguredEnv(t)
	token = e.authorize("me")
	markStored(t, e, "me", func(c *grant) { c.AttemptStartedAt = e.clock.Now() })
	e.b.invalidate(context.Background(), credsStoragePrefix+"me")
	return e, token
}

// requireInDoubtWarning requires that resp hands out token with the one
// warning of an attempt in doubt.
func requireInDoubtWarning(t *testing.T, resp *logical.Response, token, when string) {
	t.Helper()
	if resp.Data[keyAccessToken] != token || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "may replace it until") {
		t.Fatalf("%s: token kept %v, warnings %q", when, resp.Data[keyAccessToken] == token, resp.Warnings)
	}
}

// slowReplyTransport passes each request to Jawbone, whose reply takes took
// on the test's clock.
type slowReplyTransport struct {
	clock *fakejawbone.ManualClock
	took  time.Duration
}

func (s slowReplyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	s.clock.Advance(s.took)
	return resp, err
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
	t.Parallel()
	e := newConfiguredEnv(t)
	old := e.authorize("me")
	e.clock.Advance(year - time.Hour)
	e.b.transport = replyLosingTransport{}
	e.mustFail(logical.ReadOperation, "creds/me", nil, 502, "did not complete")
	if e.fake.TokenValid(old) || !e.stored("me").attempting() {
		t.Fatal("test premise: Jawbone replaced the token and the marker stays")
	}
	e.b.transport = nil
	// Every reply was lost, Jawbone's answer about the token the refresh
	// began on too: a dead token afterwards proves nothing, so the next
	// attempt waits until the lost one can no longer land.
	e.clock.Advance(landingFactor * defaultRequestTimeout)
	if tok := e.accessToken("me"); !e.fake.TokenValid(tok) {
		t.Fatal("the next attempt did not recover a working token")
	}
}

// A refresh whose result cannot be stored says so (500); the attempt stays
// marked, so the next read refreshes again instead of handing out the
// stored token, which Jawbone replaced.
func TestARefreshThatCannotBeStoredSaysSo(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	old := e.authorize("me")
	h := newHoldingTransport()
	e.b.transport = h
	failed := make(chan string, 1)
	go func() {
		_, msg := statusOf(e.handle(&logical.Request{Operation: logical.UpdateOperation, Path: "creds/me/refresh", Storage: e.storage}))
		failed <- msg
	}()
	<-h.arrived
	e.storage.FailPut(true)
	close(h.release)
	msg := <-failed
	e.storage.FailPut(false)
	if !strings.Contains(msg, `refreshed creds "me" but could not store the result: writing creds/me in storage: `) {
		t.Fatalf("the failed store says %q", msg)
	}
	tok := e.mustOK(logical.ReadOperation, "creds/me", nil).Data[keyAccessToken].(string)
	if tok == old || !e.fake.TokenValid(tok) {
		t.Fatal("after the failed store, the read handed out the replaced token")
	}
}

// noSuchHost answers every request as a resolver does for a name that
// does not exist.
type noSuchHost struct{}

func (noSuchHost) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: r.URL.Hostname(), IsNotFound: true}}
}

// A Jawbone Vault cannot reach is said to be unreachable, with the one
// remedy that fits (check DNS, proxy, firewall), not "try again later".
func TestAnUnreachableJawboneSaysWhatToCheck(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	e.b.transport = noSuchHost{}
	msg := e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, http.StatusBadGateway,
		"jawbone refresh failed: ", ": dial tcp: lookup 127.0.0.1: no such host; Vault could not reach Jawbone: check, from the Vault server, DNS, the proxy and the firewall for token_url and api_url (vault read jawbone/config shows them), then try again")
	if strings.Contains(msg, "unavailable") {
		t.Errorf("an unreachable Jawbone is reported as an outage too: %s", msg)
	}
}
