package jawbone

// The scenarios of calls whose outcome was not seen, and of one name's
// call affecting another: each hands out, on the code before the fix, a
// token Jawbone had retired, without a warning (or leaves two names holding
// one grant).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// Scenario 1: a gateway answers 502 while Jawbone carries the refresh out.
// That answer does not prove the refresh was not made: the attempt stays
// in doubt, and the token it killed is not handed out as if all were well.
func TestAGatewayErrorLeavesTheRefreshInDoubt(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusBadGateway, http.StatusGatewayTimeout} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			e := newConfiguredEnv(t)
			old := e.authorize("me")
			e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: status, AfterProcessing: true, Times: 1})
			_, _ = e.request(logical.UpdateOperation, "creds/me/refresh", nil)
			if e.fake.TokenValid(old) {
				t.Fatal("premise: the refresh was carried out behind the gateway")
			}
			for _, wait := range []time.Duration{0, backoffBase + time.Second, time.Hour} {
				e.clock.Advance(wait)
				requireNoDeadTokenUnwarned(t, e, "me", "after the gateway's "+http.StatusText(status))
			}
		})
	}
}

// Scenario 2: two imports of one refresh token under two names at once:
// one stores it, the other is refused.
func TestConcurrentImportsOfOneGrantUnderTwoNames(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	_, refresh := e.fake.IssueTokens(nil)
	// Each import refreshes the grant: hold the first at Jawbone until the
	// second has begun.
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Delay: 300 * time.Millisecond, Times: 1})
	importAsync := func(name string) <-chan *logical.Response {
		done := make(chan *logical.Response, 1)
		go func() {
			resp, _ := e.request(logical.UpdateOperation, "creds/"+name, map[string]any{keyRefreshToken: refresh})
			done <- resp
		}()
		return done
	}
	first := importAsync("a")
	waitForCalls(t, e.fake, fakejawbone.EndpointToken, 1)
	second := importAsync("b")
	replies := []*logical.Response{<-first, <-second}
	ok := 0
	for _, r := range replies {
		if r != nil && !r.IsError() {
			ok++
		} else if r == nil || !strings.Contains(r.Error().Error(), "this grant is stored as the creds") {
			t.Fatalf("refused with %v, want the grant named as stored elsewhere", r)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of the two imports stored the grant, want exactly 1", ok)
	}
}

// waitForCalls waits until the fake has received n calls to endpoint.
func waitForCalls(t *testing.T, f *fakejawbone.Server, endpoint string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.WaitForCalls(ctx, endpoint, n); err != nil {
		t.Fatal(err)
	}
}

// Scenario 3: a revoke whose reply was lost, and one whose disconnect
// worked but whose delete failed: the creds are kept, but never hand out
// the token the disconnect killed as if it worked, and the error does not
// claim that nothing happened.
func TestARevokeWhoseOutcomeIsUnknown(t *testing.T) {
	t.Parallel()
	t.Run("reply lost", func(t *testing.T) {
		t.Parallel()
		e := newConfiguredEnv(t)
		e.authorize("me")
		e.fake.InjectFault(fakejawbone.EndpointMembership, fakejawbone.Fault{LoseReply: true, Times: 1})
		msg := e.mustFail(logical.UpdateOperation, "creds/me/revoke", nil, http.StatusBadGateway)
		if strings.Contains(msg, "nothing was forgotten") && !strings.Contains(msg, "may have disconnected") {
			t.Fatalf("the error claims nothing happened: %s", msg)
		}
		requireNoDeadTokenUnwarned(t, e, "me", "after a revoke whose reply was lost")
	})
	t.Run("delete failed", func(t *testing.T) {
		t.Parallel()
		e := newConfiguredEnv(t)
		e.authorize("me")
		e.storage.FailDelete(true)
		e.mustFail(logical.UpdateOperation, "creds/me/revoke", nil, http.StatusInternalServerError, "disconnected at Jawbone, but forgetting")
		e.storage.FailDelete(false)
		requireNoDeadTokenUnwarned(t, e, "me", "after a revoke whose delete failed")
	})
}

// A disconnect in doubt ends every grant of the account, the ones stored
// after it was sent included: a grant of that account stored by a node
// that took over (a failover, a restart) is in doubt too, until the
// disconnect can no longer land.
func TestADisconnectInDoubtOutlivesTheNodeThatSentIt(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	late := &lateTransport{path: "/PartnerAppMembership"}
	e.b.transport = late
	e.mustFail(logical.UpdateOperation, "creds/me/revoke", nil, http.StatusBadGateway, "may have disconnected")
	restart(e)
	access, refresh := e.fake.IssueTokens([]string{"basic_read"})
	e.mustOK(logical.UpdateOperation, "creds/bob", map[string]any{keyAccessToken: access, keyRefreshToken: refresh,
		keyExpiresAt: e.clock.Now().Add(year).Format(time.RFC3339)})
	late.land(t)
	requireNoDeadTokenUnwarned(t, e, "bob", "after the disconnect sent before the restart landed")
}

// The record of a disconnect is kept an hour after it can no longer land
// (a flow that began before then may still store a token it ended), then
// the tick deletes it.
func TestADisconnectIsForgottenAnHourAfterItSettled(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	e.mustOK(logical.UpdateOperation, "creds/me/revoke", nil)
	records := func() []string {
		return storedKeys(t, e, credsStoragePrefix, grantIndexPrefix, accountIndexPrefix, indexMetaPath, configStoragePath, saltStoragePath, stateStoragePrefix, stateNamePrefix)
	}
	if got := records(); len(got) != 1 || !strings.HasPrefix(got[0], disconnectPrefix) {
		t.Fatalf("after a revoke, storage holds %v besides grants and indexes, want one disconnect record", got)
	}
	e.clock.Advance(disconnectLogTTL)
	tick(t, e)
	if got := records(); len(got) != 1 {
		t.Fatalf("the disconnect record was deleted within its hour: %v", got)
	}
	e.clock.Advance(time.Minute)
	tick(t, e)
	if got := records(); len(got) != 0 {
		t.Fatalf("an hour after the disconnect settled, storage still holds %v", got)
	}
}

// Scenario 4: a revoke disconnects the app from the whole account: the
// account's other creds are marked, and never hand out their dead token as
// if it worked.
func TestARevokeMarksTheAccountsOtherCreds(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("a")
	e.authorize("b")
	resp := e.mustOK(logical.UpdateOperation, "creds/a/revoke", nil)
	if !strings.Contains(strings.Join(resp.Warnings, " "), `"b"`) {
		t.Fatalf("the revoke does not name the account's other creds: %v", resp.Warnings)
	}
	requireNoDeadTokenUnwarned(t, e, "b", "after the account's other creds were revoked")
}

// Scenario 5: an imported access token that Jawbone rejects is not stored
// as healthy, though expires_at says it has a year left.
func TestAnImportedTokenJawboneRejectsIsNotKept(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	dead, refresh := e.fake.IssueTokens(nil)
	if _, ok := e.fake.RefreshOutside(refresh); !ok {
		t.Fatal("premise: refreshing outside")
	}
	_, _ = e.request(logical.UpdateOperation, "creds/me", map[string]any{keyAccessToken: dead, keyRefreshToken: refresh,
		keyExpiresAt: e.clock.Now().Add(year).Format(time.RFC3339)})
	requireNoDeadTokenUnwarned(t, e, "me", "after importing a token Jawbone rejects")
}

// Scenario 5, when Jawbone cannot be asked: an access token imported as is
// whose check got no clear answer (a captive portal, an outage) may be dead
// already. Found by the long search (seed 49331): the import warned, and
// every read after it handed the dead token out without one. It is checked
// before it is handed out: the read finds it dead and refreshes.
func TestAnImportedTokenJawboneCouldNotBeAskedAboutIsCheckedFirst(t *testing.T) {
	t.Parallel()
	for name, fault := range map[string]fakejawbone.Fault{
		"captive portal": {Body: "<html>sign in to the hotel wifi</html>", ContentType: "text/html"},
		"gateway 503":    {Status: http.StatusServiceUnavailable},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newConfiguredEnv(t)
			dead, refresh := e.fake.IssueTokens(nil)
			if _, ok := e.fake.RefreshOutside(refresh); !ok {
				t.Fatal("premise: refreshing outside")
			}
			fault.Times = 1
			e.fake.InjectFault(fakejawbone.EndpointMe, fault)
			resp := e.mustOK(logical.UpdateOperation, "creds/me", map[string]any{keyAccessToken: dead, keyRefreshToken: refresh,
				keyExpiresAt: e.clock.Now().Add(year).Format(time.RFC3339)})
			if !slices.ContainsFunc(resp.Warnings, func(w string) bool { return strings.Contains(w, "checked with Jawbone before it is handed out") }) {
				t.Errorf("the import's warnings %q do not say the token is checked before it is handed out", resp.Warnings)
			}
			read := requireNoDeadTokenUnwarned(t, e, "me", "after importing a token Jawbone could not be asked about")
			if read.IsError() || read.Data[keyAccessToken] == dead {
				t.Fatalf("the first read after the import: %v; want the grant refreshed, the dead token replaced", read.Data)
			}
		})
	}
}

// Scenario 6: a liveness check finds the token dead and refreshes, and that
// refresh's reply is lost. The next check finds the token dead again (it
// was already): that is no proof the refresh landed, so no new refresh is
// made while the lost one can still land and kill its token.
func TestARefreshOfADeadTokenIsBlind(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyCheckInterval: "1m"})
	e.authorize("me")
	stored := e.stored("me")
	if _, ok := e.fake.RefreshOutside(stored.RefreshToken); !ok {
		t.Fatal("premise: refreshing outside")
	}
	late := &lateTransport{}
	e.b.transport = late
	e.clock.Advance(time.Minute)
	periodic(t, e) // the check finds the token dead; the refresh times out, kept by Jawbone
	periodic(t, e) // must not refresh again while the kept one can land
	late.land(t)
	for _, wait := range []time.Duration{0, time.Minute, time.Hour} {
		e.clock.Advance(wait)
		requireNoDeadTokenUnwarned(t, e, "me", "after the lost refresh landed")
	}
}

// periodic runs one background tick.
func periodic(t *testing.T, e *testEnv) {
	t.Helper()
	if err := e.b.periodic(context.Background(), &logical.Request{Storage: e.storage}); err != nil {
		t.Fatal(err)
	}
}

// Scenario 7: an attempt in doubt whose check failed (and so backs off)
// is settled once it can no longer land, backoff or not: the token the late
// attempt killed is not handed out, with or without a warning naming a
// time already past.
func TestAnAttemptIsSettledWhileTheGrantBacksOff(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	late := &lateTransport{}
	e.b.transport = late
	e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, http.StatusConflict) // times out; in doubt
	e.clock.Advance(backoffBase + time.Second)                                        // the refresh's backoff is over; it may still land
	e.fake.InjectFault(fakejawbone.EndpointMe, fakejawbone.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "3600", Times: 1})
	_, _ = e.request(logical.ReadOperation, "creds/me", nil) // the check fails: backs off for an hour
	late.land(t)
	e.clock.Advance(landingFactor * defaultRequestTimeout) // past the landing time, in the backoff
	resp, err := e.request(logical.ReadOperation, "creds/me", nil)
	if err != nil || resp.IsError() {
		return
	}
	if tok := resp.Data[keyAccessToken].(string); !e.fake.TokenValid(tok) {
		t.Fatalf("past the landing time, the read handed out the token the late attempt killed (warnings %q)", resp.Warnings)
	}
}

// Scenario 8: deleting creds while a refresh of theirs may still land, then
// importing the same refresh token again: the late refresh must not kill
// the token the import hands out.
func TestAnAttemptInDoubtOutlivesItsName(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	refresh := e.stored("me").RefreshToken
	late := &lateTransport{}
	e.b.transport = late
	e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, http.StatusConflict) // times out; in doubt
	e.mustOK(logical.DeleteOperation, "creds/me", nil)
	_, _ = e.request(logical.UpdateOperation, "creds/me", map[string]any{keyRefreshToken: refresh})
	late.land(t)
	requireNoDeadTokenUnwarned(t, e, "me", "after the deleted creds' refresh landed")
}

// From the real-Vault chaos run: the check of the token a refresh begins
// on took request_timeout (no answer), so the refresh was sent that long
// after its mark. Its reply was lost too; a check when the mark's landing
// time had passed found the old token working and took the refresh for
// one that could no longer land, though Jawbone had had it for only one
// request_timeout. A second refresh then got a token the first one, landing
// late, killed. An attempt may land until twice request_timeout after its
// call was sent, not after its mark.
func TestARefreshSentAfterASlowCheckMayLandLater(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	late := &lateTransport{}
	slow := &slowTransport{next: late, clock: e.clock, took: defaultRequestTimeout, slowCheck: true}
	e.b.transport = slow
	msg := e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, http.StatusConflict)
	if !strings.Contains(msg, "may still carry it out") {
		t.Fatalf("the refresh sent after a slow check is not in doubt: %s", msg)
	}
	e.b.transport = late
	e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, http.StatusConflict, "may still carry it out")
	late.land(t)
	requireNoDeadTokenUnwarned(t, e, "me", "after the refresh sent after a slow check landed")
}

// slowTransport has the first check of a token (if slowCheck) and each
// request next keeps take a while on the backend's clock, then time out.
type slowTransport struct {
	next      *lateTransport
	clock     *fakejawbone.ManualClock
	took      time.Duration
	slowCheck bool
}

func (s *slowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.slowCheck && strings.HasSuffix(r.URL.Path, "/users/@me") {
		s.slowCheck = false
		s.clock.Advance(s.took)
		return nil, simTimeout{}
	}
	resp, err := s.next.RoundTrip(r)
	if err != nil {
		s.clock.Advance(s.took)
	}
	return resp, err
}

// Scenario 9: a huge Retry-After is capped, not overflowed into a moment.
func TestAHugeRetryAfterIsCapped(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: http.StatusTooManyRequests, RetryAfter: "18446744073", Times: 1})
	_, _ = e.request(logical.UpdateOperation, "creds/me/refresh", nil)
	if next := e.stored("me").NextAttemptAt; next.Sub(e.clock.Now()) != retryAfterMax {
		t.Fatalf("after Retry-After: 18446744073 the next attempt is at %s, %s from now; want %s", next, next.Sub(e.clock.Now()), retryAfterMax)
	}
}

// An import of the grant the creds hold already, when Jawbone rejects both
// their token and the imported one (an old app refreshed the grant twice),
// refreshes that grant: an attempt on the creds like any, marked on them.
// When its reply is lost, a forced refresh waits for it (409), and the
// token it killed, landing late, is not handed out as if it worked.
func TestAnImportThatRefreshesTheCredsOwnGrantIsTheirAttempt(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	refresh := e.stored("me").RefreshToken
	fileToken, _ := e.fake.RefreshOutside(refresh)
	if _, ok := e.fake.RefreshOutside(refresh); !ok {
		t.Fatal("the fake does not know the grant")
	}
	late := &lateTransport{}
	e.b.transport = late
	_, _ = e.request(logical.UpdateOperation, "creds/me", map[string]any{keyAccessToken: fileToken, keyRefreshToken: refresh,
		keyExpiresAt: e.clock.Now().Add(300 * 24 * time.Hour).Format(time.RFC3339)})
	if late.held == nil {
		t.Fatal("the import did not refresh the grant")
	}
	e.mustFail(logical.UpdateOperation, "creds/me/refresh", nil, http.StatusConflict, "may still carry it out")
	late.land(t)
	requireNoDeadTokenUnwarned(t, e, "me", "after the import's refresh landed late")
}

// A refresh made because Jawbone rejects the token (a liveness check found
// it dead), which Jawbone then refuses (its own 503), does not put the
// token back as if it worked: reads say it could not be refreshed.
func TestARefusedRefreshOfADeadTokenKeepsItFromBeingHandedOut(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	if _, ok := e.fake.RefreshOutside(e.stored("me").RefreshToken); !ok {
		t.Fatal("the fake does not know the grant")
	}
	e.clock.Advance(2 * time.Hour) // past check_interval
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: http.StatusServiceUnavailable, Body: `{"error":"temporarily_unavailable"}`, Times: 1})
	tick(t, e)
	e.mustFail(logical.ReadOperation, "creds/me", nil, http.StatusBadGateway, "could not be checked or refreshed")
}

// reissuingTransport plays a Jawbone whose code exchange hands back a new
// access token of an existing grant (the refresh token given), retiring
// the grant's old one, as a refresh does.
type reissuingTransport struct {
	fake    *fakejawbone.Server
	refresh string
}

func (x *reissuingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/token") && r.Body != nil {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		if form.Get("grant_type") == "authorization_code" {
			access, ok := x.fake.RefreshOutside(x.refresh)
			if !ok {
				return nil, errors.New("the fake does not know the grant")
			}
			reply, _ := json.Marshal(map[string]any{"access_token": access, "refresh_token": x.refresh, "token_type": "Bearer", "expires_in": 365 * 24 * 3600})
			return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(bytes.NewReader(reply)), Request: r}, nil
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return http.DefaultTransport.RoundTrip(r)
}

// Should an authorization hand back a new token of a grant that creds hold
// already (Jawbone's behaviour is not known), the token those creds hold
// died with it: the name's own grant is stored with its new token even if
// its account cannot be checked, and another name's is checked before it
// is handed out again.
func TestAnExchangeThatReissuesAHeldGrant(t *testing.T) {
	t.Parallel()
	t.Run("the name's own", func(t *testing.T) {
		t.Parallel()
		e := newConfiguredEnv(t)
		e.authorize("me")
		e.b.transport = &reissuingTransport{fake: e.fake, refresh: e.stored("me").RefreshToken}
		auth := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: "me"})
		landed := e.visit(auth.Data[keyURL].(string))
		e.fake.InjectFault(fakejawbone.EndpointMe, fakejawbone.Fault{Status: http.StatusBadGateway, Times: 1})
		e.mustOK(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed})
		requireNoDeadTokenUnwarned(t, e, "me", "after an exchange of the name's own grant")
	})
	t.Run("another name's", func(t *testing.T) {
		t.Parallel()
		e := newConfiguredEnv(t)
		e.authorize("other")
		e.b.transport = &reissuingTransport{fake: e.fake, refresh: e.stored("other").RefreshToken}
		auth := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: "me"})
		e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: e.visit(auth.Data[keyURL].(string))},
			http.StatusBadRequest, `this grant is stored as the creds "other" already`)
		requireNoDeadTokenUnwarned(t, e, "other", "after an exchange got a new token of its grant")
	})
}
