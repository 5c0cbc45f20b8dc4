package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// The fault tests run with refresh_ahead=8000h (about 333 days, which for a
// token that lives a year counts as half its life: 182.5 days). A grant is
// imported with expires_at 150 days away: its token is valid but due, so
// every read tries a refresh. A refreshed token lives 365 days at the fake,
// so once a refresh succeeds the entry is no longer due, and neither a
// reader nor Vault's periodic scan calls Jawbone for it again. Faults stay
// injected (Times 0) until the case clears them, so whichever of a reader
// and the periodic scan tries first meets the same fault.
const (
	faultRefreshAhead = "8000h"
	dueImportIn       = 150 * 24 * time.Hour
)

// faultCase is one provider fault and its asserted outcome.
type faultCase struct {
	name      string
	fault     func() fakejawbone.Fault // injected for every token call until cleared
	refused   bool                     // instead: token_url is a port nobody listens on
	direct    bool                     // serve the fake without the harness's recording wrapper
	permanent bool                     // Jawbone rejected the grant: re-authorization needed
	errWords  []string                 // last_error and the message mention one of these
	backoff   time.Duration            // transient: next attempt = failure + backoff
	maxRead   time.Duration            // the failing read answers within this
}

func faultCases() []faultCase {
	fixed := func(f fakejawbone.Fault) func() fakejawbone.Fault { return func() fakejawbone.Fault { return f } }
	timeoutWords := []string{"timed out", "timeout", "deadline exceeded"}
	return []faultCase{
		{name: "token URL timeout", fault: fixed(fakejawbone.Fault{Delay: 5 * time.Second}),
			errWords: timeoutWords, backoff: 30 * time.Second, maxRead: 4 * time.Second},
		{name: "connection refused", refused: true,
			errWords: []string{"connection refused"}, backoff: 30 * time.Second},
		{name: "connection dropped without a reply", fault: fixed(fakejawbone.Fault{CloseConnection: true}),
			errWords: []string{"eof", "connection reset", "closed"}, backoff: 30 * time.Second},
		{name: "HTTP 500", fault: fixed(fakejawbone.Fault{Status: 500}),
			errWords: []string{"http 500"}, backoff: 30 * time.Second},
		{name: "HTTP 502 HTML page", fault: fixed(fakejawbone.Fault{Status: 502, Body: "<html><body><h1>502 Bad Gateway</h1></body></html>", ContentType: "text/html"}),
			errWords: []string{"http 502"}, backoff: 30 * time.Second},
		{name: "HTTP 503", fault: fixed(fakejawbone.Fault{Status: 503}),
			errWords: []string{"http 503"}, backoff: 30 * time.Second},
		{name: "HTTP 503 Retry-After 90", fault: fixed(fakejawbone.Fault{Status: 503, RetryAfter: "90"}),
			errWords: []string{"http 503"}, backoff: 90 * time.Second},
		{name: "HTTP 429 without Retry-After", fault: fixed(fakejawbone.Fault{Status: 429}),
			errWords: []string{"http 429"}, backoff: 30 * time.Second},
		{name: "HTTP 429 Retry-After 120", fault: fixed(fakejawbone.Fault{Status: 429, RetryAfter: "120"}),
			errWords: []string{"http 429"}, backoff: 120 * time.Second},
		{name: "HTTP 429 Retry-After HTTP-date", fault: func() fakejawbone.Fault {
			return fakejawbone.Fault{Status: 429, RetryAfter: time.Now().Add(300 * time.Second).UTC().Format(http.TimeFormat)}
		}, errWords: []string{"http 429"}, backoff: 300 * time.Second},
		{name: "HTTP 429 Retry-After one day is capped at 6h", fault: fixed(fakejawbone.Fault{Status: 429, RetryAfter: "86400"}),
			errWords: []string{"http 429"}, backoff: 6 * time.Hour},
		{name: "invalid_grant", fault: fixed(fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_grant","error_description":"the refresh token was revoked"}`}),
			permanent: true, errWords: []string{"invalid_grant"}},
		// A client rejection is a config problem, not a dead grant: it backs
		// off like a transient failure and the token keeps being served.
		{name: "invalid_client", fault: fixed(fakejawbone.Fault{Status: 401, Body: `{"error":"invalid_client","error_description":"unknown client"}`}),
			errWords: []string{"invalid_client"}, backoff: 30 * time.Second},
		{name: "malformed JSON", fault: fixed(fakejawbone.Fault{Status: 200, Body: `{"access_token":"half","token_type":"Bearer","expires_in":`}),
			errWords: []string{"parse", "json"}, backoff: 30 * time.Second},
		{name: "200 with an OAuth error body", fault: fixed(fakejawbone.Fault{Status: 200, Body: `{"error":"temporarily_unavailable","error_description":"try again later"}`}),
			errWords: []string{"temporarily_unavailable"}, backoff: 30 * time.Second},
		{name: "200 with an invalid_grant body", fault: fixed(fakejawbone.Fault{Status: 200, Body: `{"error":"invalid_grant","error_description":"revoked"}`}),
			permanent: true, errWords: []string{"invalid_grant"}},
		{name: "reply without access_token", fault: fixed(fakejawbone.Fault{Status: 200, Body: `{"token_type":"Bearer","expires_in":3600,"refresh_token":"rt-from-a-broken-reply"}`}),
			errWords: []string{"access_token"}, backoff: 30 * time.Second},
		{name: "200 HTML maintenance page", fault: fixed(fakejawbone.Fault{Status: 200, Body: "<html><body>Down for maintenance</body></html>", ContentType: "text/html"}),
			errWords: []string{"access_token", "parse", "unexpected"}, backoff: 30 * time.Second},
		// The streaming faults go straight to the fake: the harness's
		// recording wrapper cannot flush, so through it a drip would arrive
		// as one late reply.
		{name: "oversized body", fault: fixed(fakejawbone.Fault{OversizeBytes: 8 << 20}), direct: true,
			errWords: []string{"parse", "json", "unexpected", "too large"}, backoff: 30 * time.Second},
		{name: "slow-drip body", fault: fixed(fakejawbone.Fault{Status: 200, Body: `{"access_token":"dripped","token_type":"Bearer","expires_in":3600}`, DripBody: true, DripInterval: 300 * time.Millisecond}), direct: true,
			errWords: timeoutWords, backoff: 30 * time.Second, maxRead: 8 * time.Second},
	}
}

// faultEnv is a dev Vault with the engine configured for the fault tests.
type faultEnv struct {
	f    *Fake
	v    *Vault
	a    *jbAPI
	uuid string
	// directTokenURL is the fake's token URL served without the harness's
	// recording wrapper (same fake, same grants and counters).
	directTokenURL string
}

// faultGrant is an imported grant the fake knows.
type faultGrant struct {
	name, access, refresh string
	storedExpiresAt       any // expires_at as stored at import
}

// importDue imports a fresh grant of the fake as creds/name, due for a
// refresh but valid for dueImportIn.
func (e *faultEnv) importDue(t *testing.T, name string) faultGrant {
	t.Helper()
	return e.importGrant(t, name, time.Now().Add(dueImportIn))
}

func (e *faultEnv) importGrant(t *testing.T, name string, expiresAt time.Time) faultGrant {
	t.Helper()
	access, refresh := e.f.Issue()
	calls := e.f.Calls(fakejawbone.EndpointToken)
	e.a.must(t, http.MethodPost, mountPath+"/creds/"+name, map[string]any{
		"access_token": access, "refresh_token": refresh, "expires_at": expiresAt.UTC().Format(time.RFC3339),
	})
	if n := e.f.Calls(fakejawbone.EndpointToken) - calls; n != 0 {
		t.Fatalf("importing creds/%s with expires_at made %d token calls, want 0", name, n)
	}
	stored := rawCreds(t, e.a, e.uuid, name)
	if stored == nil || stored["refresh_token"] != refresh || stored["access_token"] != access {
		t.Fatalf("creds/%s was not stored as imported", name)
	}
	return faultGrant{name: name, access: access, refresh: refresh, storedExpiresAt: stored["expires_at"]}
}

// requireStoredIntact checks the stored entry still holds the grant's
// refresh token (and, unless refreshed, its access token and expiry).
func (e *faultEnv) requireStoredIntact(t *testing.T, g faultGrant, refreshed bool) map[string]any {
	t.Helper()
	stored := rawCreds(t, e.a, e.uuid, g.name)
	if stored == nil {
		t.Fatalf("creds/%s is gone from storage", g.name)
	}
	if stored["refresh_token"] != g.refresh {
		t.Errorf("creds/%s: the stored refresh token changed (the fake never rotates it)", g.name)
	}
	if !refreshed {
		if stored["access_token"] != g.access {
			t.Errorf("creds/%s: the stored access token changed although no refresh succeeded", g.name)
		}
		if stored["expires_at"] != g.storedExpiresAt {
			t.Errorf("creds/%s: the stored expires_at changed from %v to %v although no refresh succeeded", g.name, g.storedExpiresAt, stored["expires_at"])
		}
	}
	return stored
}

func (e *faultEnv) read(t *testing.T, name string) jbReply {
	t.Helper()
	return e.a.call(t, http.MethodGet, mountPath+"/creds/"+name, nil)
}

func (e *faultEnv) calls() int { return e.f.Calls(fakejawbone.EndpointToken) }

// requireWarnedRead checks a read answered while a refresh fails: 200, the
// current token, a warning, and the failure in the data.
func requireWarnedRead(t *testing.T, r jbReply, g faultGrant, words []string) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("creds/%s: want 200 with the current token and a warning, got %s", g.name, r)
	}
	if r.str("access_token") != g.access {
		t.Errorf("creds/%s: the read did not return the current (still valid) token", g.name)
	}
	if len(r.Warnings) == 0 || !mentionsAny(strings.Join(r.Warnings, " "), words) {
		t.Errorf("creds/%s: want a warning mentioning one of %q, got warnings %q", g.name, words, r.Warnings)
	}
	if !mentionsAny(r.str("last_error"), words) {
		t.Errorf("creds/%s: last_error %q mentions none of %q", g.name, r.str("last_error"), words)
	}
	if r.str("last_error_at") == "" || r.str("next_refresh_attempt_at") == "" {
		t.Errorf("creds/%s: want last_error_at and next_refresh_attempt_at in the read, got %v", g.name, mapKeys(r.Data))
	}
	if r.Data["needs_reauthorization"] != false {
		t.Errorf("creds/%s: needs_reauthorization = %v after a transient failure, want false", g.name, r.Data["needs_reauthorization"])
	}
}

// requireReauthError checks a read refused because Jawbone rejected the
// grant: 400 saying to authorize again, naming the provider's error.
func requireReauthError(t *testing.T, r jbReply, name string, words []string) {
	t.Helper()
	if r.Status != http.StatusBadRequest {
		t.Fatalf("creds/%s: want 400 (re-authorization needed), got %s", name, r)
	}
	msg := r.message()
	for _, want := range [][]string{{"re-authoriz"}, words, {"auth-url name=" + name}, {"exchange"}} {
		if !mentionsAny(msg, want) {
			t.Errorf("creds/%s: the error does not mention any of %q: %q", name, want, msg)
		}
	}
}

// requireNextAttempt checks next_refresh_attempt_at is within a few seconds
// of from+backoff (from..to bracket the failing call).
func requireNextAttempt(t *testing.T, r jbReply, from, to time.Time, backoff time.Duration) time.Time {
	t.Helper()
	raw := r.str("next_refresh_attempt_at")
	next, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		t.Errorf("next_refresh_attempt_at %q is not RFC 3339: %v", raw, err)
		return next
	}
	lo, hi := from.Add(backoff).Add(-2*time.Second), to.Add(backoff).Add(2*time.Second)
	if next.Before(lo) || next.After(hi) {
		t.Errorf("next_refresh_attempt_at = %s, want %s after the failure (between %s and %s)",
			raw, backoff, lo.UTC().Format(time.RFC3339), hi.UTC().Format(time.RFC3339))
	}
	return next
}

func caseSlug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// TestProviderFaults runs the fault matrix against the fake Jawbone: for
// each fault, what the reader gets, what is stored afterwards, and what the
// next reads do; then backoff per entry, an expired token during an
// outage, and a grant Jawbone really rejects.
func TestProviderFaults(t *testing.T) {
	f := StartFake(t)
	v := StartVaultWithPlugin(t)
	v.ConfigureFor(f, "refresh_ahead="+faultRefreshAhead, "request_timeout=1s")
	a := apiOf(v)
	direct := f.serve(t, f.Server) // without the recording wrapper
	e := &faultEnv{f: f, v: v, a: a, uuid: mountUUIDOf(t, a), directTokenURL: fakejawbone.TokenURL(direct)}

	for _, fc := range faultCases() {
		t.Run(fc.name, func(t *testing.T) { e.runFaultCase(t, fc) })
	}
	t.Run("backoff per entry", e.testBackoff)
	t.Run("expired token during an outage", e.testExpiredDuringOutage)
	t.Run("grant rejected by Jawbone then re-authorized", e.testRealInvalidGrant)

	// Nothing is left behind that the periodic scan could refresh.
	if names := v.ListCreds(); len(names) != 0 {
		t.Errorf("creds left after the fault tests: %v", names)
	}
}

func (e *faultEnv) runFaultCase(t *testing.T, fc faultCase) {
	name := caseSlug(fc.name)
	e.f.ClearFaults()
	g := e.importDue(t, name)
	defer func() {
		e.f.ClearFaults()
		e.a.call(t, http.MethodDelete, mountPath+"/creds/"+name, nil)
	}()

	calls0 := e.calls()
	wantCalls := 1
	if fc.refused {
		wantCalls = 0
		closed := freePort(t)
		e.a.must(t, http.MethodPost, mountPath+"/config", map[string]any{
			"token_url": fmt.Sprintf("http://127.0.0.1:%d/auth/oauth2/token", closed)})
		defer e.a.must(t, http.MethodPost, mountPath+"/config", map[string]any{"token_url": e.f.TokenURL})
	} else {
		if fc.direct {
			e.a.must(t, http.MethodPost, mountPath+"/config", map[string]any{"token_url": e.directTokenURL})
			defer e.a.must(t, http.MethodPost, mountPath+"/config", map[string]any{"token_url": e.f.TokenURL})
		}
		e.f.InjectFault(fakejawbone.EndpointToken, fc.fault())
	}

	// The read that meets the fault.
	started := time.Now()
	r := e.read(t, name)
	answered := time.Now()
	maxRead := fc.maxRead
	if maxRead == 0 {
		maxRead = 5 * time.Second
	}
	if took := answered.Sub(started); took > maxRead {
		t.Errorf("the read took %s, want under %s (request_timeout is 1s)", took.Round(time.Millisecond), maxRead)
	}
	if n := e.calls() - calls0; n != wantCalls {
		t.Errorf("the first read made %d token calls, want %d", n, wantCalls)
	}
	var next time.Time
	if fc.permanent {
		requireReauthError(t, r, name, fc.errWords)
		t.Logf("read: %d in %s: %s", r.Status, answered.Sub(started).Round(time.Millisecond), r.message())
	} else {
		requireWarnedRead(t, r, g, fc.errWords)
		next = requireNextAttempt(t, r, started, answered, fc.backoff)
		t.Logf("read: %d in %s, same token, last_error %q, next_refresh_attempt_at in %s",
			r.Status, answered.Sub(started).Round(time.Millisecond), r.str("last_error"), time.Until(next).Round(time.Second))
	}

	// The next reads, still during the fault: no call to Jawbone at all.
	for range 3 {
		r := e.read(t, name)
		if fc.permanent {
			requireReauthError(t, r, name, fc.errWords)
		} else {
			requireWarnedRead(t, r, g, fc.errWords)
			if got := r.str("next_refresh_attempt_at"); got != next.UTC().Format(time.RFC3339) {
				t.Errorf("a read during the backoff moved next_refresh_attempt_at to %s", got)
			}
		}
	}
	if n := e.calls() - calls0; n != wantCalls {
		t.Errorf("four reads during the fault made %d token calls, want %d (one attempt, then backoff)", n, wantCalls)
	}

	// What is stored: every token as it was, the failure recorded once.
	stored := e.requireStoredIntact(t, g, false)
	if n, _ := stored["failed_attempts"].(float64); n != 1 {
		t.Errorf("stored failed_attempts = %v, want 1 (one attempt in four reads)", stored["failed_attempts"])
	}
	if fc.permanent && stored["needs_reauth"] != true {
		t.Errorf("stored needs_reauth = %v after a rejection, want true", stored["needs_reauth"])
	}

	// The fault is over.
	e.f.ClearFaults()
	if fc.refused {
		e.a.must(t, http.MethodPost, mountPath+"/config", map[string]any{"token_url": e.f.TokenURL})
	}
	calls1 := e.calls()
	var fresh string
	if fc.permanent {
		// A rejection is sticky: reads keep saying what to do and do not
		// call Jawbone; a forced refresh is the way back.
		requireReauthError(t, e.read(t, name), name, fc.errWords)
		if n := e.calls() - calls1; n != 0 {
			t.Errorf("a read of creds needing re-authorization made %d token calls, want 0", n)
		}
		r := e.a.call(t, http.MethodPost, mountPath+"/creds/"+name+"/refresh", nil)
		if r.Status != http.StatusOK || r.Data["needs_reauthorization"] != false || r.str("last_error") != "" {
			t.Fatalf("forced refresh after the fault: want 200 with needs_reauthorization false and no last_error, got %s", r)
		}
		fresh = r.str("access_token")
	} else {
		// Backing off: the next read still answers without calling.
		requireWarnedRead(t, e.read(t, name), g, fc.errWords)
		if n := e.calls() - calls1; n != 0 {
			t.Errorf("a read during the backoff made %d token calls, want 0", n)
		}
		// Once the backoff has run out, the next read refreshes.
		ageBackoff(t, e.a, e.uuid, name)
		r := e.read(t, name)
		if r.Status != http.StatusOK || len(r.Warnings) != 0 {
			t.Fatalf("the read after the backoff: want 200 without warnings, got %s", r)
		}
		for _, k := range []string{"last_error", "last_error_at", "next_refresh_attempt_at"} {
			if _, ok := r.Data[k]; ok {
				t.Errorf("the read after a successful refresh still shows %s = %v", k, r.Data[k])
			}
		}
		fresh = r.str("access_token")
	}
	if n := e.calls() - calls1; n != 1 {
		t.Errorf("recovering made %d token calls, want 1", n)
	}
	if fresh == "" || fresh == g.access {
		t.Fatalf("recovering did not return a new token")
	}
	e.f.requireTokenWorks(t, fresh, "the token after the fault")
	e.f.requireTokenRejected(t, g.access, "the token before the refresh")
	e.requireStoredIntact(t, g, true)
	if got := e.read(t, name).str("access_token"); got != fresh {
		t.Errorf("the read after recovering does not return the refreshed token")
	}
}

// testBackoff: while Jawbone is down, each creds entry backs off on its
// own: 30s doubling to a 1h cap, one attempt per backoff however many
// reads, concurrent readers sharing one attempt, and a forced refresh
// ignoring the backoff.
func (e *faultEnv) testBackoff(t *testing.T) {
	e.f.ClearFaults()
	ga, gb := e.importDue(t, "backoff-a"), e.importDue(t, "backoff-b")
	defer func() {
		e.f.ClearFaults()
		for _, n := range []string{"backoff-a", "backoff-b", "herd"} {
			e.a.call(t, http.MethodDelete, mountPath+"/creds/"+n, nil)
		}
	}()
	// Jawbone's own 503: the refresh was not made (a gateway's would leave
	// it in doubt, see the fault cases).
	down := []string{"http 503"}
	e.f.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 503, Body: `{"error":"temporarily_unavailable"}`})
	calls0 := e.calls()

	started := time.Now()
	r := e.read(t, ga.name)
	requireWarnedRead(t, r, ga, down)
	requireNextAttempt(t, r, started, time.Now(), 30*time.Second)
	for range 10 {
		requireWarnedRead(t, e.read(t, ga.name), ga, down)
	}
	if n := e.calls() - calls0; n != 1 {
		t.Errorf("11 reads of creds/backoff-a while Jawbone is down made %d token calls, want 1", n)
	}

	// Another entry is not held back by the first one's backoff.
	requireWarnedRead(t, e.read(t, gb.name), gb, down)
	if n := e.calls() - calls0; n != 2 {
		t.Errorf("after the first read of creds/backoff-b: %d token calls, want 2 (one per entry)", n)
	}

	// Each further failure doubles the wait.
	for k, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		ageBackoff(t, e.a, e.uuid, ga.name)
		before := e.calls()
		started := time.Now()
		r := e.read(t, ga.name)
		requireWarnedRead(t, r, ga, down)
		requireNextAttempt(t, r, started, time.Now(), want)
		if n := e.calls() - before; n != 1 {
			t.Errorf("failure %d: %d token calls, want 1", k+2, n)
		}
		if got, _ := rawCreds(t, e.a, e.uuid, ga.name)["failed_attempts"].(float64); int(got) != k+2 {
			t.Errorf("stored failed_attempts = %v, want %d", got, k+2)
		}
	}
	// ... up to one hour.
	stored := rawCreds(t, e.a, e.uuid, ga.name)
	stored["failed_attempts"] = 12
	stored["next_attempt_at"] = time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	rawPutCreds(t, e.a, e.uuid, ga.name, stored)
	started = time.Now()
	r = e.read(t, ga.name)
	requireWarnedRead(t, r, ga, down)
	requireNextAttempt(t, r, started, time.Now(), time.Hour)

	// A forced refresh ignores the backoff, and says plainly that it failed.
	before := e.calls()
	r = e.a.call(t, http.MethodPost, mountPath+"/creds/"+ga.name+"/refresh", nil)
	if r.Status != http.StatusBadGateway || !mentionsAny(r.message(), down) || !mentionsAny(r.message(), []string{"try again later"}) {
		t.Errorf("forced refresh while Jawbone is down: want 502 naming HTTP 503 and saying to try again later, got %s", r)
	}
	if n := e.calls() - before; n != 1 {
		t.Errorf("the forced refresh made %d token calls, want 1", n)
	}
	e.requireStoredIntact(t, ga, false)

	// Twenty readers of a due entry while Jawbone is slow and down share
	// one attempt.
	gh := e.importDue(t, "herd")
	e.f.ClearFaults()
	e.f.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 503, Delay: 500 * time.Millisecond})
	before = e.calls()
	var wg sync.WaitGroup
	replies := make([]jbReply, 20)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i], _ = e.a.do(http.MethodGet, mountPath+"/creds/herd", nil, nil)
		}()
	}
	wg.Wait()
	for i, r := range replies {
		if r.Status != http.StatusOK || r.str("access_token") != gh.access || len(r.Warnings) == 0 {
			t.Errorf("concurrent reader %d: want 200 with the current token and a warning, got %s", i, r)
		}
	}
	if n := e.calls() - before; n != 1 {
		t.Errorf("20 concurrent reads of a due entry while Jawbone is down made %d token calls, want 1", n)
	}

	// Jawbone is back. A forced refresh recovers at once; the other entry
	// keeps its own backoff until it runs out.
	e.f.ClearFaults()
	before = e.calls()
	r = e.a.must(t, http.MethodPost, mountPath+"/creds/"+ga.name+"/refresh", nil)
	if r.str("access_token") == ga.access || r.str("last_error") != "" || r.str("next_refresh_attempt_at") != "" {
		t.Errorf("forced refresh after the outage: want a new token and no error state, got %s", r)
	}
	e.requireStoredIntact(t, ga, true)
	requireWarnedRead(t, e.read(t, gb.name), gb, down)
	if n := e.calls() - before; n != 1 {
		t.Errorf("forced refresh plus a read of the backing-off entry made %d token calls, want 1", n)
	}
	ageBackoff(t, e.a, e.uuid, gb.name)
	if r := e.read(t, gb.name); r.Status != http.StatusOK || r.str("access_token") == gb.access || len(r.Warnings) != 0 {
		t.Errorf("creds/backoff-b after its backoff ran out: want a new token without warnings, got %s", r)
	}
	e.requireStoredIntact(t, gb, true)
}

// testExpiredDuringOutage: once the token has expired, a failed refresh is a
// 502 that says what happened and what to do; the refresh token stays.
func (e *faultEnv) testExpiredDuringOutage(t *testing.T) {
	e.f.ClearFaults()
	// The fake honours this token for a year; the plugin is told it expired
	// a minute ago.
	g := e.importGrant(t, "expired", time.Now().Add(-time.Minute))
	defer func() {
		e.f.ClearFaults()
		e.a.call(t, http.MethodDelete, mountPath+"/creds/expired", nil)
	}()
	e.f.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 503})
	calls0 := e.calls()
	for i := range 3 {
		r := e.read(t, "expired")
		if r.Status != http.StatusBadGateway {
			t.Fatalf("read %d of an expired token while Jawbone is down: want 502, got %s", i+1, r)
		}
		msg := r.message()
		for _, want := range [][]string{{"expired"}, {"http 503"}, {"refresh token is kept"}, {"vault write -f jawbone/creds/expired/refresh"}} {
			if !mentionsAny(msg, want) {
				t.Errorf("read %d: the error does not mention %q: %q", i+1, want, msg)
			}
		}
		if strings.Contains(string(r.Body), g.access) {
			t.Errorf("read %d: the error carries the expired access token", i+1)
		}
	}
	if n := e.calls() - calls0; n != 1 {
		t.Errorf("three reads of an expired token while Jawbone is down made %d token calls, want 1", n)
	}
	e.requireStoredIntact(t, g, false)

	e.f.ClearFaults()
	ageBackoff(t, e.a, e.uuid, "expired")
	r := e.read(t, "expired")
	if r.Status != http.StatusOK || r.str("access_token") == g.access || len(r.Warnings) != 0 {
		t.Fatalf("the read after the outage: want 200 with a new token, got %s", r)
	}
	e.f.requireTokenWorks(t, r.str("access_token"), "the token after the outage")
	e.requireStoredIntact(t, g, true)
}

// testRealInvalidGrant: a refresh token the fake does not know gets the
// fake's own invalid_grant; the error's instructions, followed, work.
func (e *faultEnv) testRealInvalidGrant(t *testing.T) {
	e.f.ClearFaults()
	access, _ := e.f.Issue()
	bogus := "revoked-" + randomHex(t, 16)
	e.a.must(t, http.MethodPost, mountPath+"/creds/revoked", map[string]any{
		"access_token": access, "refresh_token": bogus,
		"expires_at": time.Now().Add(dueImportIn).UTC().Format(time.RFC3339),
	})
	defer e.a.call(t, http.MethodDelete, mountPath+"/creds/revoked", nil)
	calls0 := e.calls()
	requireReauthError(t, e.read(t, "revoked"), "revoked", []string{"invalid_grant"})
	requireReauthError(t, e.read(t, "revoked"), "revoked", []string{"invalid_grant"})
	if n := e.calls() - calls0; n != 1 {
		t.Errorf("two reads of a rejected faultGrant made %d token calls, want 1", n)
	}
	if stored := rawCreds(t, e.a, e.uuid, "revoked"); stored["refresh_token"] != bogus || stored["needs_reauth"] != true {
		t.Errorf("the rejected faultGrant's refresh token was not kept, or needs_reauth not stored")
	}

	// Do what the error says: auth-url name=revoked, then exchange.
	r, err := e.a.do(http.MethodGet, mountPath+"/auth-url", url.Values{"name": {"revoked"}}, nil)
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("auth-url name=revoked: %v %s", err, r)
	}
	loc := e.f.Visit(t, r.str("url"))
	e.a.must(t, http.MethodPost, mountPath+"/exchange", map[string]any{"redirect_url": loc})
	r = e.read(t, "revoked")
	if r.Status != http.StatusOK || r.Data["needs_reauthorization"] != false || r.str("last_error") != "" {
		t.Fatalf("creds/revoked after re-authorizing: %s", r)
	}
	e.f.requireTokenWorks(t, r.str("access_token"), "creds/revoked after re-authorizing")
}
