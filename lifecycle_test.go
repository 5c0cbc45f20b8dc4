package jawbone

// The schedules that broke the promise that every token handed out works,
// one example test each (TestSimulatedFaultSchedules explores the rest).

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// lateTransport plays a network where the first token request times out
// on our side while Jawbone keeps it, completing it when land is called.
type lateTransport struct {
	// path is the end of the path of the request to keep; "" is the
	// token endpoint's.
	path string
	mu   sync.Mutex
	held *http.Request
	body []byte
}

func (l *lateTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	if l.held == nil && strings.HasSuffix(r.URL.Path, cmp.Or(l.path, "/token")) {
		l.body = []byte{}
		if r.Body != nil {
			l.body, _ = io.ReadAll(r.Body)
		}
		l.held = r.Clone(context.Background())
		l.mu.Unlock()
		return nil, simTimeout{}
	}
	l.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// land has Jawbone complete the request it kept.
func (l *lateTransport) land(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held.Body = io.NopCloser(bytes.NewReader(l.body))
	resp, err := http.DefaultTransport.RoundTrip(l.held)
	if err != nil {
		t.Fatalf("landing the late request: %v", err)
	}
	resp.Body.Close()
}

// requireNoDeadTokenUnwarned reads name and fails if the read hands out a
// token Jawbone does not accept without a warning.
func requireNoDeadTokenUnwarned(t *testing.T, e *testEnv, name, when string) *logical.Response {
	t.Helper()
	resp, err := e.request(logical.ReadOperation, "creds/"+name, nil)
	if err != nil || resp.IsError() || len(resp.Warnings) > 0 {
		return resp
	}
	if tok := resp.Data[keyAccessToken].(string); !e.fake.TokenValid(tok) {
		t.Fatalf("%s: the read handed out a token Jawbone no longer accepts, without a warning (ttl %v)", when, resp.Data[keyTTL])
	}
	return resp
}

// Scenario 1: a refresh times out on our side and completes at Jawbone a
// moment later. Asking Jawbone right after the timeout finds the old token
// working; declaring the attempt harmless then would leave the token that
// the late completion kills handed out for a year.
func TestARefreshThatCompletesLateNeverLeavesADeadTokenHandedOut(t *testing.T) {
	t.Parallel()
	for _, restart := range []bool{false, true} {
		name := map[bool]string{false: "the same node", true: "a restarted node"}[restart]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newConfiguredEnv(t)
			e.authorize("me")
			e.clock.Advance(year - time.Hour)
			late := &lateTransport{}
			e.b.transport = late
			requireNoDeadTokenUnwarned(t, e, "me", "right after the timeout")
			if restart {
				e.coldCache() // as a restarted or new active node finds it
			}
			e.clock.Advance(backoffBase + time.Second) // the retry is due; the request may still land
			requireNoDeadTokenUnwarned(t, e, "me", "before the late completion")
			late.land(t)
			requireNoDeadTokenUnwarned(t, e, "me", "after the late completion")
			e.clock.Advance(time.Minute) // past the attempt's landsBy
			resp := requireNoDeadTokenUnwarned(t, e, "me", "once the attempt could no longer land")
			if resp.IsError() || len(resp.Warnings) > 0 || !e.fake.TokenValid(e.stored("me").AccessToken) {
				t.Fatalf("once settled, the read should hand out a working token without a warning: %#v", resp)
			}
		})
	}
}

// Scenario 2: re-importing the refresh token a name already holds would
// refresh it, killing the token the creds hand out; with a refresh in
// flight, or a write that fails after Jawbone answered, the creds kept a
// dead token.
func TestReimportingTheStoredGrantChangesNothing(t *testing.T) {
	t.Parallel()
	t.Run("while an automatic refresh is in flight", func(t *testing.T) {
		t.Parallel()
		e := newConfiguredEnv(t)
		e.authorize("me")
		refresh := e.stored("me").RefreshToken
		e.clock.Advance(year - time.Hour)
		h := newHoldingTransport()
		e.b.transport = h
		read := e.async(logical.ReadOperation, "creds/me", nil)
		<-h.arrived
		imported := e.async(logical.UpdateOperation, "creds/me", map[string]any{keyRefreshToken: refresh})
		waitForLockUsersOrArrival(t, e.b, "me", 2, h)
		close(h.release)
		<-read
		<-imported
		if stored := e.stored("me").AccessToken; !e.fake.TokenValid(stored) {
			t.Fatal("the creds hold a token Jawbone no longer accepts")
		}
	})
	t.Run("when storage fails after Jawbone answered", func(t *testing.T) {
		t.Parallel()
		e := newConfiguredEnv(t)
		before := e.authorize("me")
		refresh := e.stored("me").RefreshToken
		e.fake.ResetCalls()
		e.storage.FailPut(true)
		e.request(logical.UpdateOperation, "creds/me", map[string]any{keyRefreshToken: refresh}) //nolint:errcheck // either answer will do
		e.storage.FailPut(false)
		if !e.fake.TokenValid(before) || e.fake.Calls(fakejawbone.EndpointToken) != 0 {
			t.Fatal("re-importing the stored grant called Jawbone and killed the token the creds hold")
		}
		requireNoDeadTokenUnwarned(t, e, "me", "after the failed re-import")
	})
	t.Run("says so", func(t *testing.T) {
		t.Parallel()
		e := newConfiguredEnv(t)
		token := e.authorize("me")
		resp := e.mustOK(logical.UpdateOperation, "creds/me", map[string]any{keyRefreshToken: e.stored("me").RefreshToken})
		if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], `creds "me" already hold this grant, so nothing was changed`) {
			t.Fatalf("warnings %q", resp.Warnings)
		}
		if resp.Data[keyAccessToken] != token {
			t.Fatal("the reply does not hand out the token the creds hold")
		}
	})
}

// TestReimportWithExpiryChangesNothing: a kiefer file with expires_at,
// applied again after Vault refreshed its grant, must not put the file's
// older (now dead) access token back.
func TestReimportWithExpiryChangesNothing(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	access, refresh := e.fake.IssueTokens(fakejawbone.Scopes())
	file := map[string]any{keyAccessToken: access, keyRefreshToken: refresh, keyExpiresAt: e.clock.Now().Add(300 * 24 * time.Hour).Format(time.RFC3339)}
	e.mustOK(logical.UpdateOperation, "config", file)
	e.mustOK(logical.UpdateOperation, "creds/me/refresh", nil)
	fresh := e.stored("me").AccessToken
	resp := e.mustOK(logical.UpdateOperation, "config", file)
	if !strings.Contains(strings.Join(resp.Warnings, "\n"), `creds "me" already hold this grant, so nothing was changed`) {
		t.Errorf("re-applying the file: warnings %q", resp.Warnings)
	}
	if got := e.stored("me").AccessToken; got != fresh || !e.fake.TokenValid(got) {
		t.Fatal("re-applying the file replaced the creds' working token with the file's older one")
	}
}

// TestReimportAfterTheAppRefreshedTakesItsToken: a kiefer app still
// running on its file refreshed the grant (killing the token the creds
// hold) and wrote the new token into the file; applying the file again
// gives the creds the app's working token instead of keeping a dead one.
func TestReimportAfterTheAppRefreshedTakesItsToken(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	access, refresh := e.fake.IssueTokens(fakejawbone.Scopes())
	expires := e.clock.Now().Add(300 * 24 * time.Hour).Format(time.RFC3339)
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyAccessToken: access, keyRefreshToken: refresh, keyExpiresAt: expires})
	appToken, ok := e.fake.RefreshOutside(refresh)
	if !ok {
		t.Fatal("the fake does not know the grant")
	}
	e.fake.ResetCalls()
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyAccessToken: appToken, keyRefreshToken: refresh, keyExpiresAt: expires})
	if got := e.stored("me").AccessToken; got != appToken || !e.fake.TokenValid(got) {
		t.Fatal("re-applying the file kept the creds' dead token instead of the app's working one")
	}
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 0 {
		t.Fatalf("taking the app's token made %d token calls (each would kill a token), want 0", n)
	}
	// One question about the creds' token, one about the app's.
	if n := e.fake.Calls(fakejawbone.EndpointMe); n != 2 {
		t.Errorf("taking the app's token asked Jawbone's API %d times, want 2", n)
	}
}

// waitForLockUsersOrArrival waits until n operations hold or wait for
// name's lock, or until a second request reaches Jawbone (which the lock
// should have prevented).
func waitForLockUsersOrArrival(t *testing.T, b *backend, name string, n int, h *holdingTransport) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		waitForLockUsers(t, b, name, n)
	}()
	select {
	case <-done:
	case <-h.arrived:
		t.Error("a second call reached Jawbone while the first was in flight")
	}
}

// Scenario 3: two authorizations of a new name, completing together, both
// passed the "no silent replacement" check, and the second replaced the
// working grant the first had just stored.
func TestConcurrentAuthorizationsOfANewNameDoNotReplaceEachOther(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	landings := make([]string, 2)
	for i, account := range []string{"first", "second"} {
		e.fake.SetSignedIn(account) // (the same account could re-authorize)
		auth := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: "new"})
		landings[i] = e.visit(auth.Data[keyURL].(string))
	}
	h := newHoldingTransport()
	e.b.transport = h
	results := make(chan error, 2)
	exchange := func(landed string) {
		resp, err := e.handle(&logical.Request{Operation: logical.UpdateOperation,
			Path: "exchange", Storage: e.storage, Data: map[string]any{keyRedirectURL: landed}})
		if err == nil && resp.IsError() {
			err = resp.Error()
		}
		results <- err
	}
	go exchange(landings[0])
	<-h.arrived
	go exchange(landings[1])
	waitForLockUsersOrArrival(t, e.b, "new", 2, h)
	close(h.release)
	errs := []error{<-results, <-results}
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("want one exchange to succeed and the other to be refused, got %v and %v", errs[0], errs[1])
	}
	refused := errors.Join(errs...)
	if !strings.Contains(refused.Error(), `creds "new" hold a grant of`) {
		t.Fatalf("the second exchange was refused for another reason: %v", refused)
	}
	if !e.fake.TokenValid(e.stored("new").AccessToken) {
		t.Fatal("the stored grant does not work")
	}
}

// Scenario 4: tokens that live less than refresh_ahead were refreshed by
// every read, each refresh killing the token the previous reader got.
func TestShortLivedTokensAreRefreshedOncePerHalfLife(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.fake.SetTokenLifetime(10 * time.Second)
	e.configure()
	e.authorize("me")
	e.fake.ResetCalls()
	read := func() string { return e.accessToken("me") }
	first := []string{read(), read(), read()}
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 0 {
		t.Fatalf("three reads of a fresh 10s token made %d token calls, want 0", n)
	}
	e.clock.Advance(6 * time.Second) // past half its life
	second := []string{read(), read(), read()}
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 1 {
		t.Fatalf("three reads past half the token's life made %d token calls, want 1", n)
	}
	for _, tok := range append(first[1:], second[1:]...) {
		if tok != first[0] && tok != second[0] {
			t.Fatal("reads in one instant got different tokens")
		}
	}
	if !e.fake.TokenValid(second[0]) || first[0] == second[0] {
		t.Fatal("the refreshed token does not work, or none was refreshed")
	}
	if ttl := e.mustOK(logical.ReadOperation, "creds/me", nil).Data[keyTTL].(int64); ttl != int64(minTTL/time.Second) {
		t.Fatalf("ttl %d, want the minimum %d (the token is due in 5s)", ttl, int64(minTTL/time.Second))
	}
}

// Scenario 5: an expires_in of 0 or less was taken as Jawbone's default of
// a year; it says the token has expired already.
func TestAnExpiresInOfZeroOrLessIsExpiredNow(t *testing.T) {
	t.Parallel()
	for _, expiresIn := range []string{"0", "-5"} {
		t.Run(expiresIn, func(t *testing.T) {
			t.Parallel()
			e := newConfiguredEnv(t)
			e.authorize("me")
			e.clock.Advance(year - time.Hour)
			e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Times: 1,
				Body: `{"access_token":"expired-on-arrival","token_type":"Bearer","expires_in":` + expiresIn + `}`})
			e.mustFail(logical.ReadOperation, "creds/me", nil, http.StatusBadGateway, "expired", "expires_in")
			if got := e.stored("me").ExpiresAt; got.After(e.clock.Now()) {
				t.Fatalf("stored expiry %s, want no later than now", got)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		e := newConfiguredEnv(t)
		e.authorize("me")
		e.clock.Advance(year - time.Hour)
		access, _ := e.fake.IssueTokens(nil)
		e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Times: 1,
			Body: `{"access_token":"` + access + `","token_type":"Bearer"}`})
		e.mustOK(logical.ReadOperation, "creds/me", nil)
		if got := e.stored("me").ExpiresAt.Sub(e.clock.Now()); got != year {
			t.Fatalf("a reply without expires_in lives %s, want Jawbone's year", got)
		}
	})
}

// Scenario 6: a redirect from the token URL is a configuration problem,
// not an outage: say where it points.
func TestARedirectFromTheTokenURLIsAConfigProblem(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Times: 1, Status: http.StatusFound,
		Header: http.Header{"Location": {"https://login.example.net/token?x=1"}}})
	e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, http.StatusConflict,
		"HTTP 302", "a redirect to https://login.example.net/token", "a redirect is never followed", "vault write jawbone/config token_url=")
	if g := e.stored("me"); g.NeedsReauth {
		t.Fatal("a redirect marked the grant for re-authorization")
	}
}

// Scenario 7: an exchange reply without a refresh token was stored; the
// creds could never be refreshed.
func TestAnExchangeReplyWithoutARefreshTokenIsRefused(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	auth := e.mustOK(logical.ReadOperation, "auth-url", nil)
	landed := e.visit(auth.Data[keyURL].(string))
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Times: 1,
		Body: `{"access_token":"no-refresh","token_type":"Bearer","expires_in":31536000}`})
	msg := e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed}, http.StatusBadGateway,
		"no refresh_token", "could never be refreshed", "token_url is not Jawbone's")
	if strings.Contains(msg, "unavailable") {
		t.Errorf("a reply without a refresh token is reported as an outage: %s", msg)
	}
	if e.stored("me") != nil {
		t.Fatal("creds that can never be refreshed were stored")
	}
}

// A grant without a refresh token (stored by an older version) is a local
// condition, not an outage, and Jawbone is not asked.
func TestAGrantWithoutARefreshTokenSaysToAuthorizeAgain(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	markStored(t, e, "me", func(g *grant) { g.RefreshToken = "" })
	e.fake.ResetCalls()
	e.clock.Advance(year - time.Hour)
	msg := e.mustFail(logical.ReadOperation, "creds/me", nil, http.StatusBadRequest, "hold no refresh token", "auth-url name=me")
	if strings.Contains(msg, "unavailable") || e.fake.Calls(fakejawbone.EndpointToken) != 0 {
		t.Fatalf("a local condition was reported as an outage, or Jawbone was called: %s", msg)
	}
}

// Scenario 8: a parked domain or captive portal answering 200 settled an
// interrupted refresh. Only Jawbone's own envelope counts.
func TestAPortalAnswering200DoesNotVouchForAToken(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	interruptRefresh(t, e, "me") // the stored token is dead at Jawbone
	e.clock.Advance(time.Minute)
	e.fake.InjectFault(fakejawbone.EndpointMe, fakejawbone.Fault{Status: 200, ContentType: "text/html", Body: "<html>Welcome to the hotel network</html>"})
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 503})
	requireNoDeadTokenUnwarned(t, e, "me", "with a portal answering")
}

// Scenario 9: a bare 401 or 400 from the token URL (a proxy, a firewall, a
// wrong URL) marked every due grant needs_reauthorization, and nothing
// cleared it when the cause went away. Only invalid_grant says the grant is
// dead.
func TestABare401FromTheTokenURLKeepsTheGrants(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusUnauthorized, http.StatusBadRequest} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			e := newConfiguredEnv(t)
			for _, name := range []string{"a", "b"} {
				e.authorize(name)
			}
			e.clock.Advance(year - time.Hour)
			e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: status, Body: "<html>denied by the proxy</html>", ContentType: "text/html"})
			if err := e.b.periodic(context.Background(), &logical.Request{Storage: e.storage}); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"a", "b"} {
				resp := e.mustOK(logical.ReadOperation, "creds/"+name, nil)
				if e.stored(name).NeedsReauth || len(resp.Warnings) == 0 {
					t.Fatalf("%s: a bare %d marked the grant, or the read did not warn", name, status)
				}
			}
			if got := e.mustOK(logical.ReadOperation, "status", nil).Data["creds_failing"]; got != float64(2) {
				t.Fatalf("status creds_failing %v, want 2", got)
			}
			e.fake.ClearFaults()
			e.clock.Advance(backoffMax)
			for _, name := range []string{"a", "b"} {
				if resp := e.mustOK(logical.ReadOperation, "creds/"+name, nil); len(resp.Warnings) != 0 {
					t.Fatalf("%s: still warned once the cause went away: %q", name, resp.Warnings)
				}
			}
		})
	}
}

// Scenario 10: concurrent partial config writes lost one another's fields.
func TestConcurrentPartialConfigWritesKeepEveryField(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.storage.Underlying().SetWriteLatency(time.Millisecond) // widen the window between read and write
	writes := []map[string]any{
		{keyScopes: "move_read"}, {keyRefreshAhead: "1h"}, {keyRequestTimeout: "7s"}, {keyMaxTTL: "30s"},
	}
	for round := range 5 {
		var wg sync.WaitGroup
		for _, data := range writes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := e.handle(&logical.Request{
					Operation: logical.UpdateOperation, Path: "config", Data: data, Storage: e.storage})
				if err != nil || resp.IsError() {
					t.Errorf("config write %v: %v %v", data, err, resp)
				}
			}()
		}
		wg.Wait()
		c := e.storedConfig()
		if len(c.Scopes) != 1 || c.Scopes[0] != "move_read" || c.RefreshAhead != time.Hour ||
			c.RequestTimeout != 7*time.Second || c.MaxTTL != 30*time.Second {
			t.Fatalf("round %d: a concurrent write lost another's field: %+v", round, c)
		}
		e.mustOK(logical.UpdateOperation, "config", map[string]any{keyScopes: "basic_read", keyRefreshAhead: "168h", keyRequestTimeout: "30s", keyMaxTTL: "60s"})
	}
}

// Scenario 12: with refresh_ahead=0 a token was handed out until the
// instant it expired, counted from the reply. A margin keeps it from being
// handed out in its last moments.
func TestATokenIsNotHandedOutInItsLastMoments(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyRefreshAhead: 0})
	old := e.authorize("me")
	e.clock.Advance(year - 10*time.Second)
	if got := e.accessToken("me"); got == old || !e.fake.TokenValid(got) {
		t.Fatal("a token 10s from its expiry was handed out instead of refreshed")
	}
}

// A token killed outside Vault (an old kiefer app refreshing the same grant)
// is noticed by the liveness checks, refreshed once, and counted.
func TestATokenKilledOutsideVaultIsNoticedAndHealed(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	held := e.authorize("me")
	if _, ok := e.fake.RefreshOutside(e.stored("me").RefreshToken); !ok || e.fake.TokenValid(held) {
		t.Fatal("test premise: the outside refresh kills the token the creds hold")
	}
	e.clock.Advance(defaultCheckInterval)
	if err := e.b.periodic(context.Background(), &logical.Request{Storage: e.storage}); err != nil {
		t.Fatal(err)
	}
	if tok := e.accessToken("me"); !e.fake.TokenValid(tok) {
		t.Fatal("the creds still hand out the token killed outside Vault")
	}
	if got := e.mustOK(logical.ReadOperation, "status", nil).Data["tokens_found_dead_total"]; got != float64(1) {
		t.Fatalf("tokens_found_dead_total %v, want 1", got)
	}
	// A check that finds the token alive changes nothing.
	e.fake.ResetCalls()
	e.clock.Advance(defaultCheckInterval)
	if err := e.b.periodic(context.Background(), &logical.Request{Storage: e.storage}); err != nil {
		t.Fatal(err)
	}
	if e.fake.Calls(fakejawbone.EndpointMe) != 1 || e.fake.Calls(fakejawbone.EndpointToken) != 0 {
		t.Fatalf("a check of a working token made %d checks and %d token calls", e.fake.Calls(fakejawbone.EndpointMe), e.fake.Calls(fakejawbone.EndpointToken))
	}
}

// Vault Agent re-reads a creds ttl+1 seconds after a read: ttl is never
// more than max_ttl-1s, so a token changed outside the schedule reaches
// Agent within max_ttl.
func TestTheTTLBoundsHowLongAgentKeepsAToken(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	if ttl := e.mustOK(logical.ReadOperation, "creds/me", nil).Data[keyTTL].(int64); ttl != 59 {
		t.Fatalf("ttl %d with the default max_ttl of 60s, want 59", ttl)
	}
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyMaxTTL: "10s"})
	if ttl := e.mustOK(logical.ReadOperation, "creds/me", nil).Data[keyTTL].(int64); ttl != 9 {
		t.Fatalf("ttl %d with max_ttl 10s, want 9", ttl)
	}
	e.clock.Advance(year - 7*24*time.Hour - 3*time.Second)
	if ttl := e.mustOK(logical.ReadOperation, "creds/me", nil).Data[keyTTL].(int64); ttl != int64(minTTL/time.Second) {
		t.Fatalf("ttl %d 3s before the refresh point, want the minimum", ttl)
	}
}

// sweepStorage counts reads and fails the first delete, as a storage
// hiccup would.
type sweepStorage struct {
	*logical.InmemStorage
	mu             sync.Mutex
	gets           int
	failNextDelete bool
}

func (s *sweepStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	s.mu.Lock()
	s.gets++
	s.mu.Unlock()
	return s.InmemStorage.Get(ctx, key)
}

func (s *sweepStorage) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	fail := s.failNextDelete
	s.failNextDelete = false
	s.mu.Unlock()
	if fail {
		return errors.New("storage hiccup")
	}
	return s.InmemStorage.Delete(ctx, key)
}

// Scenario 11: the state sweep stopped at the first delete error, never
// deleted an entry it could not decode, and read every pending state every
// minute; and pending states had no bound.
func TestTheStateSweepFinishesAndStatesAreBounded(t *testing.T) {
	t.Parallel()
	t.Run("sweep", func(t *testing.T) {
		t.Parallel()
		e := newConfiguredEnv(t)
		for range 3 {
			e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: "x"})
		}
		ctx := context.Background()
		if err := e.storage.Put(ctx, &logical.StorageEntry{Key: stateStoragePrefix + strings.Repeat("ab", 32), Value: []byte("not json")}); err != nil {
			t.Fatal(err)
		}
		e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: "x"})
		s := &sweepStorage{InmemStorage: e.storage}
		if err := e.b.sweepExpiredStates(ctx, s); err != nil {
			t.Fatal(err)
		}
		if s.gets != 1 {
			t.Fatalf("sweeping unexpired states read %d entries, want only the one whose key carries no expiry", s.gets)
		}
		e.clock.Advance(stateTTL)
		e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: "x"}) // still pending, not expired
		e.clock.Advance(time.Second)
		s.failNextDelete = true
		if err := e.b.sweepExpiredStates(ctx, s); err == nil || !strings.Contains(err.Error(), "storage hiccup") {
			t.Fatalf("the sweep hid a delete error: %v", err)
		}
		keys, _ := e.storage.List(ctx, stateStoragePrefix)
		if len(keys) != 2 {
			t.Fatalf("%d states left after the sweep, want the one a delete failed for and the one not expired", len(keys))
		}
	})
	t.Run("bound", func(t *testing.T) {
		t.Parallel()
		e := newConfiguredEnv(t)
		e.b.states.ceiling = 50
		ctx := context.Background()
		expires := e.clock.Now().Add(stateTTL)
		for i := range e.b.states.ceiling - 1 {
			key, _ := stateKey(fmt.Sprintf("filler%d.%s", i, strconv.FormatInt(expires.Unix(), 36)))
			if err := putJSON(ctx, e.storage, key, &pendingAuth{Name: "x", ExpiresAt: expires}); err != nil {
				t.Fatal(err)
			}
		}
		e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: "x"})
		e.mustFail(logical.ReadOperation, "auth-url", map[string]any{keyName: "x"}, http.StatusBadRequest,
			"50 authorizations were started on this mount in the last 10m, the most it keeps (a state is kept, used or not, until it expires); wait until one expires", "vault read jawbone/auth-url name=x again")
		e.clock.Advance(stateTTL)
		e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: "x"}) // the expired ones are swept first
	})
}

// A forced refresh while an earlier attempt may still land is refused with
// 409 and the time after which it works: a token issued before then could
// be killed by the late one. After that time it works.
func TestAForcedRefreshWaitsForAnAttemptInDoubt(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	e.clock.Advance(year - time.Hour)
	e.b.transport = &lateTransport{}
	requireNoDeadTokenUnwarned(t, e, "me", "right after the timeout")
	landsBy := e.stored("me").AttemptLandsBy.UTC().Format(time.RFC3339)
	e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, http.StatusConflict,
		`an earlier refresh of creds "me" did not complete and Jawbone may still carry it out until `+landsBy+`, which would kill any token issued before then`,
		"vault write -f jawbone/creds/me/refresh")
	e.clock.Advance(time.Minute) // past the attempt's landsBy
	e.mustOK(logical.UpdateOperation, "creds/me/refresh", nil)
	if tok := e.stored("me").AccessToken; !e.fake.TokenValid(tok) {
		t.Fatal("the forced refresh after the attempt settled stored a token Jawbone does not accept")
	}
}
