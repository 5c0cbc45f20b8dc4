package jawbone

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/physical/inmem"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// testCallbackURI is a redirect_uri that is the jawbone/ mount's own
// callback.
const testCallbackURI = "https://vault.example/v1/jawbone/callback"

// newCallbackEnv is a testEnv on the mount jawbone/ whose redirect_uri is
// its callback: its authorizations are completed there, as a browser's.
func newCallbackEnv(t testing.TB) *testEnv {
	t.Helper()
	e := newTestEnvFor(t, testCallbackURI)
	e.mount = "jawbone/"
	e.configure()
	return e
}

// callbackReply is what Vault would send the browser for a callback.
type callbackReply struct {
	status int
	body   string
	resp   *logical.Response
}

// callback plays Vault's HTTP layer for GET /v1/jawbone/callback?<query>:
// an unauthenticated read whose data is the query, one value as a string
// and a repeated one as a []string (http/handler.go parseQuery in Vault).
func (e *testEnv) callback(query url.Values) callbackReply {
	e.t.Helper()
	var data map[string]any
	for k, v := range query {
		if data == nil {
			data = map[string]any{}
		}
		if len(v) == 1 {
			data[k] = v[0]
		} else {
			data[k] = v
		}
	}
	return e.callbackData(data)
}

func (e *testEnv) callbackData(data map[string]any) callbackReply {
	e.t.Helper()
	resp, err := e.handle(&logical.Request{
		Operation: logical.ReadOperation, Path: callbackPath, Data: data,
		Storage: e.store(), MountPoint: "jawbone/", Unauthenticated: true,
	})
	if err != nil {
		e.t.Fatalf("callback: the handler returned an error instead of a page: %v", err)
	}
	if resp == nil {
		e.t.Fatal("callback: no response")
	}
	d := resp.Data
	if d[logical.HTTPContentType] != "text/html; charset=utf-8" {
		e.t.Fatalf("callback: content type %v, want an HTML page", d[logical.HTTPContentType])
	}
	if d[logical.HTTPCacheControlHeader] != "no-store" || d[logical.HTTPPragmaHeader] != "no-cache" {
		e.t.Fatalf("callback: cache headers %v / %v, want no-store / no-cache", d[logical.HTTPCacheControlHeader], d[logical.HTTPPragmaHeader])
	}
	for k := range resp.Headers {
		if strings.EqualFold(k, "Set-Cookie") {
			e.t.Fatal("callback: the page sets a cookie")
		}
	}
	if resp.Secret != nil || resp.Auth != nil || resp.Redirect != "" {
		e.t.Fatalf("callback: the reply is more than a page: %#v", resp)
	}
	body, ok := d[logical.HTTPRawBody].([]byte)
	if !ok {
		e.t.Fatalf("callback: raw body is %T, want []byte", d[logical.HTTPRawBody])
	}
	status, ok := d[logical.HTTPStatusCode].(int)
	if !ok {
		e.t.Fatalf("callback: status is %T, want int", d[logical.HTTPStatusCode])
	}
	// The leak check at cleanup reads the page as the browser gets it.
	e.seen(string(body))
	return callbackReply{status: status, body: string(body), resp: resp}
}

// requirePage checks the status and that the page says every one of wants.
func (r callbackReply) requirePage(t testing.TB, status int, wants ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("callback page status %d, want %d:\n%s", r.status, status, r.body)
	}
	text := pageText(r.body)
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Fatalf("callback page does not say %q:\n%s", w, text)
		}
	}
}

// requireNoEcho fails if the page repeats any of the inputs.
func (r callbackReply) requireNoEcho(t testing.TB, inputs ...string) {
	t.Helper()
	for _, s := range inputs {
		if strings.Contains(r.body, s) {
			t.Fatalf("the page echoes %q:\n%s", s, r.body)
		}
	}
}

// pageText is the page with its markup removed and entities decoded, close
// enough to what a person reads.
func pageText(body string) string {
	var b strings.Builder
	inTag := false
	for _, r := range body {
		switch {
		case r == '<':
			inTag = true
		case r == '>':
			inTag = false
		case !inTag:
			b.WriteRune(r)
		}
	}
	return strings.NewReplacer("&#34;", `"`, "&#39;", "'", "&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`).Replace(b.String())
}

// landing starts an authorization for name and returns the query the
// browser comes back with from the fake Jawbone's (auto-approving) page.
func (e *testEnv) landing(name string) url.Values {
	e.t.Helper()
	auth := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: name})
	return queryOf(e.t, e.visit(auth.Data[keyURL].(string)))
}

func TestCallbackCompletesTheFlow(t *testing.T) {
	t.Parallel()
	e := newCallbackEnv(t)
	q := e.landing("alice")
	r := e.callback(q)
	r.requirePage(t, http.StatusOK, "Jawbone access granted", "creds “alice”", "scopes: basic_read",
		"vault read jawbone/creds/alice", "You can close this window",
		"valid until "+e.clock.Now().Add(365*24*time.Hour).UTC().Format(time.RFC3339))
	stored := e.stored("alice")
	if stored == nil || !e.fake.TokenValid(stored.AccessToken) || stored.RefreshToken == "" {
		t.Fatalf("stored creds %+v do not hold a working grant", stored)
	}
	for what, s := range map[string]string{
		"access token": stored.AccessToken, "refresh token": stored.RefreshToken,
		"client secret": testClientSecret, "code": q.Get("code"), "state": q.Get("state"),
	} {
		if strings.Contains(r.body, s) {
			t.Errorf("the page shows the %s", what)
		}
	}
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 1 {
		t.Fatalf("token endpoint called %d times, want 1", n)
	}
	// The creds read like any others.
	if got := e.accessToken("alice"); got != stored.AccessToken {
		t.Fatalf("creds/alice gives %q, want the stored token", got)
	}
}

func TestCallbackIsAnUnauthenticatedReadOnly(t *testing.T) {
	t.Parallel()
	e := newCallbackEnv(t)
	if !slices.Contains(e.b.SpecialPaths().Unauthenticated, "callback") {
		t.Fatalf("unauthenticated paths %v lack callback", e.b.SpecialPaths().Unauthenticated)
	}
	for _, p := range e.b.SpecialPaths().Unauthenticated {
		if p != "callback" {
			t.Fatalf("path %q is unauthenticated too", p)
		}
	}
	q := e.landing("me")
	before := e.snapshot()
	for _, op := range []logical.Operation{logical.UpdateOperation, logical.CreateOperation, logical.DeleteOperation, logical.ListOperation} {
		data := map[string]any{keyCode: q.Get(keyCode), keyState: q.Get(keyState)}
		_, err := e.handle(&logical.Request{Operation: op, Path: callbackPath, Data: data, Storage: e.storage})
		if !errors.Is(err, logical.ErrUnsupportedOperation) {
			t.Errorf("%s callback: err %v, want unsupported operation", op, err)
		}
	}
	if after := e.snapshot(); !reflect.DeepEqual(before, after) {
		t.Fatal("an unsupported operation changed storage")
	}
}

// TestCallbackBadInputChangesNothing: junk without a valid state gets a 4xx
// page, no call to Jawbone, and leaves storage byte for byte as it was (a
// pending authorization included).
func TestCallbackBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("a", 1<<20)
	cases := []struct {
		name  string
		query func(real url.Values) url.Values
		wants []string
	}{
		{"no parameters", func(url.Values) url.Values { return nil }, []string{"carries no code", "vault read jawbone/auth-url"}},
		{"code without state", func(r url.Values) url.Values { return url.Values{"code": {r.Get("code")}} }, []string{"carries no state"}},
		{"garbage state", func(r url.Values) url.Values { return with(r, "state", "garbage") }, []string{"state is unknown"}},
		{"state of another format", func(r url.Values) url.Values { return with(r, "state", "../../config") }, []string{"state is unknown"}},
		{"markup in state", func(r url.Values) url.Values { return with(r, "state", `"><script>alert(1)</script>`) }, []string{"state is unknown"}},
		{"two states", func(r url.Values) url.Values { r.Add("state", "other"); return r }, []string{`2 "state" parameters`}},
		{"two codes", func(r url.Values) url.Values { r.Add("code", "other"); return r }, []string{`2 "code" parameters`}},
		{"two errors", func(r url.Values) url.Values { return url.Values{"error": {"a", "b"}} }, []string{`2 "error" parameters`}},
		{"huge query", func(r url.Values) url.Values { r.Set("junk", huge); return r }, []string{"bytes, more than a Jawbone redirect carries"}},
		{"huge state", func(r url.Values) url.Values { return with(r, "state", huge) }, []string{"bytes, more than a Jawbone redirect carries"}},
		{"many parameters", func(r url.Values) url.Values {
			for i := range 2000 {
				r.Set(fmt.Sprintf("p%d", i), "xxxx")
			}
			return r
		}, []string{"bytes, more than a Jawbone redirect carries"}},
		{"denial with a forged state", func(url.Values) url.Values {
			return url.Values{"error": {"access_denied"}, "error_description": {"<b>Call 555-0100 now</b>"}, "state": {"forged"}}
		}, []string{"Jawbone access was not granted", "error access_denied", "vault read jawbone/auth-url"}},
		{"error without state", func(url.Values) url.Values { return url.Values{"error": {"server_error"}} }, []string{"not granted", "error server_error"}},
		{"markup as error code", func(url.Values) url.Values { return url.Values{"error": {"<script>x</script>"}} }, []string{"not granted", "an unrecognised error"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newCallbackEnv(t)
			real := e.landing("me")
			e.fake.ResetCalls()
			before := e.snapshot()
			r := e.callback(tc.query(cloneQuery(t, real)))
			r.requirePage(t, http.StatusBadRequest, tc.wants...)
			r.requireNoEcho(t, "<script", "<b>", "555-0100", "../../config", huge[:64])
			if after := e.snapshot(); !reflect.DeepEqual(before, after) {
				t.Fatalf("storage changed:\nbefore %v\nafter  %v", keysOf(before), keysOf(after))
			}
			if n := e.fake.Calls(fakejawbone.EndpointToken); n != 0 {
				t.Fatalf("the token endpoint was called %d times", n)
			}
			// The pending authorization still works afterwards.
			e.callback(real).requirePage(t, http.StatusOK, "Jawbone access granted")
		})
	}
}

// TestCallbackWithAValidStateSpendsIt: a request carrying a real state is
// the user's (the state is a 256-bit secret). Like exchange, it spends the
// state on the first try, success or not; it writes no creds, and only a
// complete, unexpired callback reaches Jawbone.
func TestCallbackWithAValidStateSpendsIt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		deny       bool
		advance    time.Duration
		query      func(real url.Values) url.Values
		tokenCalls int
		wants      []string
	}{
		{"denied at Jawbone", true, 0, func(r url.Values) url.Values { return r },
			0, []string{"Jawbone access was not granted", "error access_denied", "chose “Deny”", "vault read jawbone/auth-url"}},
		{"expired state", false, 10 * time.Minute, func(r url.Values) url.Values { return r },
			0, []string{"state expired at", "vault read jawbone/auth-url"}},
		{"no code", false, 0, func(r url.Values) url.Values { r.Del("code"); return r },
			0, []string{"carries no code"}},
		{"rejected code", false, 0, func(r url.Values) url.Values { return with(r, "code", "not-a-code") },
			1, []string{"invalid_grant", "vault read jawbone/auth-url"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newCallbackEnv(t)
			e.fake.SetDeny(tc.deny)
			real := e.landing("me")
			e.fake.ResetCalls()
			e.clock.Advance(tc.advance)
			r := e.callback(tc.query(cloneQuery(t, real)))
			r.requirePage(t, http.StatusBadRequest, tc.wants...)
			if keys := storedKeys(t, e, indexPrefix, saltStoragePath); len(keys) != 3 || keys[0] != configStoragePath ||
				!strings.HasPrefix(keys[1], stateNamePrefix+"me/") || !strings.HasPrefix(keys[2], stateStoragePrefix) {
				t.Fatalf("storage holds %v, want only the config and the spent state with its name's marker (no creds)", keys)
			}
			if n := e.fake.Calls(fakejawbone.EndpointToken); n != tc.tokenCalls {
				t.Fatalf("token endpoint called %d times, want %d", n, tc.tokenCalls)
			}
		})
	}
}

// A reloaded success page says that the authorization succeeded, and
// exchanges nothing again.
func TestCallbackReplayIsRefused(t *testing.T) {
	t.Parallel()
	e := newCallbackEnv(t)
	q := e.landing("me")
	e.callback(q).requirePage(t, http.StatusOK)
	token := e.stored("me").AccessToken
	before := e.snapshot()
	r := e.callback(q)
	r.requirePage(t, http.StatusOK, "Jawbone access was granted already", `the creds “me”`, "vault read jawbone/creds/me")
	if strings.Contains(r.body, token) {
		t.Fatal("the replay page shows the token")
	}
	if after := e.snapshot(); !reflect.DeepEqual(before, after) {
		t.Fatal("a replay changed storage")
	}
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 1 {
		t.Fatalf("a replay reached the token endpoint: %d calls", n)
	}
}

// TestCallbackConcurrentReplayUsesTheStateOnce: a browser that sends the
// callback several times at once (a double click, a retry) reaches Jawbone
// once; every page says the access is granted or being granted, none that
// the authorization failed.
func TestCallbackConcurrentReplayUsesTheStateOnce(t *testing.T) {
	t.Parallel()
	e := newCallbackEnv(t)
	q := e.landing("me")
	const n = 8
	pages := make([]callbackReply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { pages[i] = e.callback(q) })
	}
	wg.Wait()
	for i, p := range pages {
		granted := p.status == http.StatusOK && strings.Contains(p.body, "Jawbone access") && strings.Contains(p.body, "granted")
		completing := p.status == http.StatusConflict && strings.Contains(p.body, "Jawbone access is being granted")
		if !granted && !completing {
			t.Errorf("callback %d: HTTP %d, a page that is neither granted nor being granted:\n%s", i, p.status, pageText(p.body))
		}
	}
	if c := e.fake.Calls(fakejawbone.EndpointToken); c != 1 {
		t.Fatalf("token endpoint called %d times, want 1", c)
	}
}

// A callback sent again while the first is still at Jawbone says that the
// authorization is being completed (not that it failed), and one sent once
// it is done, that it was granted.
func TestCallbackSentAgainWhileTheFirstRuns(t *testing.T) {
	t.Parallel()
	e := newCallbackEnv(t)
	q := e.landing("me")
	h := newHoldingTransport()
	e.b.transport = h
	first := make(chan callbackReply, 1)
	go func() { first <- e.callback(q) }()
	<-h.arrived
	e.callback(q).requirePage(t, http.StatusConflict, "Jawbone access is being granted",
		"this authorization is being completed by an earlier request with the same state", "read the creds in a moment with vault read jawbone/creds/me")
	close(h.release)
	(<-first).requirePage(t, http.StatusOK, "Jawbone access granted")
	e.callback(q).requirePage(t, http.StatusOK, "Jawbone access was granted already")
}

func TestCallbackNeedsConfig(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	before := e.snapshot()
	e.callback(url.Values{"code": {"x"}, "state": {"y"}}).requirePage(t, http.StatusBadRequest, "not configured")
	if after := e.snapshot(); !reflect.DeepEqual(before, after) {
		t.Fatal("storage changed")
	}
}

func TestCallbackProviderOutageIsBadGateway(t *testing.T) {
	t.Parallel()
	e := newCallbackEnv(t)
	q := e.landing("me")
	e.fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 503, Body: "down", Times: 1})
	r := e.callback(q)
	r.requirePage(t, http.StatusBadGateway, "Jawbone could not finish the authorization", "HTTP 503", "vault read jawbone/auth-url")
	if e.stored("me") != nil {
		t.Fatal("creds stored after a failed exchange")
	}
}

// The page is for an anonymous browser: of what Jawbone said about a
// failed exchange it shows the error code, if well-formed, and nothing
// else (the exchange's reply, to a Vault user, has the description too).
func TestCallbackShowsNoProviderWords(t *testing.T) {
	t.Parallel()
	for name, fault := range map[string]fakejawbone.Fault{
		"a description":                 {Status: 400, Body: `{"error":"invalid_grant","error_description":"call 555-0100 to restore access"}`},
		"an error code that is not one": {Status: 400, Body: `{"error":"call 555-0100","error_description":"x"}`},
		"an API's words":                {Status: 400, Body: `{"error":"invalid_grant","error_uri":"https://phish.example/","error_description":"visit phish.example"}`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newCallbackEnv(t)
			q := e.landing("me")
			e.fake.InjectFault(fakejawbone.EndpointToken, fault)
			r := e.callback(q)
			r.requirePage(t, http.StatusBadRequest, "jawbone exchange failed (HTTP 400)", "vault read jawbone/auth-url name=me")
			r.requireNoEcho(t, "555-0100", "phish.example")
			if strings.Contains(fault.Body, `"invalid_grant"`) {
				r.requirePage(t, http.StatusBadRequest, "invalid_grant")
			}
		})
	}
}

func TestCallbackInternalErrorIsAPageWithoutDetails(t *testing.T) {
	t.Parallel()
	e := newCallbackEnv(t)
	q := e.landing("me")
	e.storage.FailGet(true) // the config is cached: the state's read fails
	r := e.callbackData(map[string]any{keyCode: q.Get(keyCode), keyState: q.Get(keyState)})
	e.storage.FailGet(false)
	r.requirePage(t, http.StatusInternalServerError, "Vault could not finish the authorization", "Vault server log")
	r.requireNoEcho(t, inmem.GetDisabledError.Error())
	if !strings.Contains(e.logs.String(), inmem.GetDisabledError.Error()) {
		t.Fatal("the internal error was not logged")
	}
	if e.fake.Calls(fakejawbone.EndpointToken) != 0 || e.stored("me") != nil {
		t.Fatal("an internal error led to a token call or creds")
	}
}

func TestCallbackNonTextParameter(t *testing.T) {
	t.Parallel()
	e := newCallbackEnv(t)
	e.callbackData(map[string]any{keyState: 42}).requirePage(t, http.StatusBadRequest, `the "state" parameter is not text`)
	e.callbackData(map[string]any{keyState: []any{42}}).requirePage(t, http.StatusBadRequest, `the "state" parameter is not text`)
}

// TestCallbackQueryAsAnExternalPluginGetsIt: across the plugin boundary the
// request data is JSON, so a repeated parameter arrives as a []any.
func TestCallbackQueryAsAnExternalPluginGetsIt(t *testing.T) {
	t.Parallel()
	e := newCallbackEnv(t)
	q := e.landing("me")
	before := e.snapshot()
	e.callbackData(map[string]any{keyCode: q.Get(keyCode), keyState: []any{q.Get(keyState), "other"}}).
		requirePage(t, http.StatusBadRequest, `2 "state" parameters`)
	e.callbackData(map[string]any{keyCode: q.Get(keyCode), keyState: q.Get(keyState), "junk": []any{strings.Repeat("a", 5000), strings.Repeat("b", 5000)}}).
		requirePage(t, http.StatusBadRequest, "more than a Jawbone redirect carries")
	if after := e.snapshot(); !reflect.DeepEqual(before, after) {
		t.Fatal("storage changed")
	}
	e.callbackData(map[string]any{keyCode: []any{q.Get(keyCode)}, keyState: []any{q.Get(keyState)}}).
		requirePage(t, http.StatusOK, "Jawbone access granted")
}

func cloneQuery(t *testing.T, q url.Values) url.Values {
	t.Helper()
	c, err := url.ParseQuery(q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func with(q url.Values, key, value string) url.Values {
	q.Set(key, value)
	return q
}

func keysOf(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// The pages of a denial and of an expired state advise starting again for
// the name the state was bound to, not for the default one.
func TestCallbackRestartAdviceNamesTheCreds(t *testing.T) {
	t.Parallel()
	e := newCallbackEnv(t)
	e.fake.SetDeny(true)
	e.callback(e.landing("alice")).requirePage(t, http.StatusBadRequest, "Jawbone access was not granted", "vault read jawbone/auth-url name=alice")
	e.fake.SetDeny(false)
	q := e.landing("bob")
	e.clock.Advance(stateTTL + time.Second)
	e.callback(q).requirePage(t, http.StatusBadRequest, "state expired at", "vault read jawbone/auth-url name=bob")
}

// With redirect_uri elsewhere (kiefer's way, callback_in_use=false) an
// authorization is finished by pasting the URL the browser landed on into
// exchange, which needs a Vault token with update on it. Whoever else saw
// that URL (an access log, browser history, a chat) cannot finish it at
// the unauthenticated callback, nor spend its state there.
func TestTheCallbackCompletesOnlyCallbackStates(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.mount = "jawbone/"
	auth := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: "alice"})
	if inUse, _ := auth.Data[keyCallbackInUse].(bool); inUse {
		t.Fatal("auth-url says the callback is in use with redirect_uri elsewhere")
	}
	landed := e.visit(auth.Data[keyURL].(string))
	q := queryOf(t, landed)
	before := e.snapshot()
	r := e.callback(q)
	r.requirePage(t, http.StatusBadRequest, "this authorization was started to be pasted into exchange (redirect_uri is not this mount's callback), so the callback does not complete it; nothing was stored",
		"vault write jawbone/exchange redirect_url=")
	r.requireNoEcho(t, q.Get(keyCode))
	if after := e.snapshot(); !reflect.DeepEqual(before, after) || e.fake.Calls(fakejawbone.EndpointToken) != 0 {
		t.Fatal("the callback spent a state of the paste flow, or exchanged its code")
	}
	e.mustOK(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed})
}

// And exchange does not complete a state of the callback: Jawbone sends
// the browser there, and the callback completes it.
func TestExchangeCompletesOnlyPastedStates(t *testing.T) {
	t.Parallel()
	e := newCallbackEnv(t)
	q := e.landing("alice")
	before := e.snapshot()
	e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: testCallbackURI + "?" + q.Encode()}, http.StatusBadRequest,
		"this authorization was started for the browser callback (redirect_uri is this mount's callback), so exchange does not complete it: Jawbone sends the browser to the callback, which does; nothing was stored",
		"vault read jawbone/auth-url name=alice")
	if after := e.snapshot(); !reflect.DeepEqual(before, after) || e.fake.Calls(fakejawbone.EndpointToken) != 0 {
		t.Fatal("exchange spent a state of the callback, or exchanged its code")
	}
	e.callback(q).requirePage(t, http.StatusOK, "Jawbone access granted")
}

// A state issued before states recorded how they are completed is
// completed the way its redirect_uri says, for its ten minutes.
func TestAStateFromBeforeTheUpgradeKeepsItsWay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		env         func(testing.TB) *testEnv
		callbackOK  bool
		redirectURI string
	}{
		{"pasted", newConfiguredEnv, false, testRedirectURI},
		{"callback", newCallbackEnv, true, testCallbackURI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := tc.env(t)
			e.mount = "jawbone/"
			q := e.landing("me")
			key := storedStateKey(q.Get(keyState))
			var p map[string]any
			if _, err := getJSON(context.Background(), e.storage, key, &p); err != nil {
				t.Fatal(err)
			}
			delete(p, "via")
			if err := putJSON(context.Background(), e.storage, key, p); err != nil {
				t.Fatal(err)
			}
			r := e.callback(q)
			switch {
			case tc.callbackOK:
				r.requirePage(t, http.StatusOK, "Jawbone access granted")
			default:
				r.requirePage(t, http.StatusBadRequest, "so the callback does not complete it")
				e.mustOK(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: tc.redirectURI + "?" + q.Encode()})
			}
		})
	}
}
