package fakejawbone

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAuthorize(t *testing.T) {
	cases := []struct {
		name       string
		deny       bool
		edit       func(q url.Values)
		wantStatus int
		wantQuery  url.Values // of the redirect; "code" is only checked to be there
		wantBody   string     // in the error page
	}{
		{name: "code and state", edit: func(url.Values) {}, wantStatus: http.StatusFound,
			wantQuery: url.Values{"code": nil, "state": {"xyz 123"}}},
		{name: "redirect query kept", edit: func(q url.Values) { q.Set("redirect_uri", testRedirectURI+"?app=a&b=2") },
			wantStatus: http.StatusFound, wantQuery: url.Values{"code": nil, "state": {"xyz 123"}, "app": {"a"}, "b": {"2"}}},
		{name: "no state", edit: func(q url.Values) { q.Del("state") }, wantStatus: http.StatusFound,
			wantQuery: url.Values{"code": nil}},
		{name: "every scope", edit: func(q url.Values) { q.Set("scope", strings.Join(jawboneScopes, " ")) },
			wantStatus: http.StatusFound, wantQuery: url.Values{"code": nil, "state": {"xyz 123"}}},
		{name: "denied", deny: true, edit: func(url.Values) {}, wantStatus: http.StatusFound,
			wantQuery: url.Values{"error": {"access_denied"}, "error_description": {"The user denied access"}, "state": {"xyz 123"}}},
		{name: "unknown client", edit: func(q url.Values) { q.Set("client_id", "other") },
			wantStatus: http.StatusBadRequest, wantBody: `unknown client_id "other"`},
		{name: "missing client", edit: func(q url.Values) { q.Del("client_id") },
			wantStatus: http.StatusBadRequest, wantBody: "missing client_id"},
		{name: "missing redirect", edit: func(q url.Values) { q.Del("redirect_uri") },
			wantStatus: http.StatusBadRequest, wantBody: "missing redirect_uri"},
		{name: "unregistered redirect", edit: func(q url.Values) { q.Set("redirect_uri", "http://evil.example/callback") },
			wantStatus: http.StatusBadRequest, wantBody: "redirect_uri does not match"},
		{name: "relative redirect", edit: func(q url.Values) { q.Set("redirect_uri", "/callback") },
			wantStatus: http.StatusBadRequest, wantBody: "absolute URL"},
		{name: "bad scope", edit: func(q url.Values) { q.Set("scope", "basic_read fly_read") },
			wantStatus: http.StatusBadRequest, wantBody: `unknown scope "fly_read"`},
		{name: "bad response_type", edit: func(q url.Values) { q.Set("response_type", "token") },
			wantStatus: http.StatusBadRequest, wantBody: "response_type"},
		{name: "bad client while denying", deny: true, edit: func(q url.Values) { q.Set("client_id", "other") },
			wantStatus: http.StatusBadRequest, wantBody: "client_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, ts := NewTestServer(t, testConfig())
			s.SetDeny(c.deny)
			q := authParams("basic_read sleep_read", "xyz 123")
			c.edit(q)
			r := get(t, AuthURL(ts.URL)+"?"+q.Encode())
			if r.status != c.wantStatus {
				t.Fatalf("status = %d (%s), want %d", r.status, r.body, c.wantStatus)
			}
			if c.wantStatus != http.StatusFound {
				if loc := r.header.Get("Location"); loc != "" || !strings.Contains(r.body, c.wantBody) {
					t.Errorf("got Location %q, body %q; want no redirect and a body naming %q", loc, r.body, c.wantBody)
				}
				return
			}
			checkRedirect(t, r, q.Get("redirect_uri"), c.wantQuery)
		})
	}
}

// checkRedirect checks a redirect goes to redirectURI with exactly the
// wanted query parameters; a nil value only needs to be non-empty.
func checkRedirect(t *testing.T, r reply, redirectURI string, want url.Values) {
	t.Helper()
	loc := r.location(t)
	base, _ := url.Parse(redirectURI)
	if loc.Scheme != base.Scheme || loc.Host != base.Host || loc.Path != base.Path {
		t.Errorf("redirected to %s, want %s", loc.String(), redirectURI)
	}
	got := loc.Query()
	if len(got) != len(want) {
		t.Errorf("redirect query = %v, want the keys of %v", got, want)
	}
	for k, v := range want {
		switch {
		case v == nil && got.Get(k) == "":
			t.Errorf("redirect query has no %s: %v", k, got)
		case v != nil && !equalValues(got[k], v):
			t.Errorf("redirect %s = %q, want %q", k, got[k], v)
		}
	}
}

func equalValues(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

func TestConsentPage(t *testing.T) {
	cfg := testConfig()
	cfg.ConsentPage = true
	s, ts := NewTestServer(t, cfg)

	r := get(t, AuthURL(ts.URL)+"?"+authParams("move_read sleep_read", "s<1>").Encode())
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("consent GET: %d %s, want 200 HTML", r.status, r.header.Get("Content-Type"))
	}
	for _, want := range []string{
		`<form method="post">`,
		`<button type="submit" id="allow" name="decision" value="allow">Allow</button>`,
		`<button type="submit" id="deny" name="decision" value="deny">Deny</button>`,
		`<li>move_read</li>`, `<li>sleep_read</li>`, testClientID,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("consent page lacks %s:\n%s", want, r.body)
		}
	}
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(r.body, -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	if form.Get("state") != "s<1>" || form.Get("redirect_uri") != testRedirectURI || form.Get("scope") != "move_read sleep_read" {
		t.Fatalf("hidden inputs = %v, want the request's parameters", form)
	}

	cases := []struct {
		name       string
		decision   string
		edit       func(url.Values)
		wantStatus int
		wantQuery  url.Values
	}{
		{"allow", "allow", nil, http.StatusFound, url.Values{"code": nil, "state": {"s<1>"}}},
		{"deny", "deny", nil, http.StatusFound,
			url.Values{"error": {"access_denied"}, "error_description": {"The user denied access"}, "state": {"s<1>"}}},
		{"no decision", "", nil, http.StatusBadRequest, nil},
		{"tampered client", "allow", func(f url.Values) { f.Set("client_id", "evil") }, http.StatusBadRequest, nil},
		{"tampered redirect", "allow", func(f url.Values) { f.Set("redirect_uri", "http://evil.example/") }, http.StatusBadRequest, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			post := url.Values{"decision": {c.decision}}
			for k, v := range form {
				post[k] = v
			}
			if c.edit != nil {
				c.edit(post)
			}
			r := postForm(t, AuthURL(ts.URL), post)
			if r.status != c.wantStatus {
				t.Fatalf("POST: %d %s, want %d", r.status, r.body, c.wantStatus)
			}
			if c.wantQuery != nil {
				checkRedirect(t, r, testRedirectURI, c.wantQuery)
			}
		})
	}

	t.Run("allowed code works", func(t *testing.T) {
		r := postForm(t, AuthURL(ts.URL), url.Values{"decision": {"allow"}, "client_id": form["client_id"],
			"redirect_uri": form["redirect_uri"], "response_type": {"code"}, "scope": form["scope"]})
		code := r.location(t).Query().Get("code")
		tokens(t, postForm(t, TokenURL(ts.URL), exchangeParams(code)))
	})
	t.Run("empty scope asks for basic_read", func(t *testing.T) {
		r := get(t, AuthURL(ts.URL)+"?"+authParams("", "x").Encode())
		if !strings.Contains(r.body, "<li>basic_read</li>") || strings.Count(r.body, "<li>") != 1 {
			t.Errorf("consent page for an empty scope does not list just basic_read:\n%s", r.body)
		}
	})
	t.Run("deny switch overrides allow", func(t *testing.T) {
		s.SetDeny(true)
		defer s.SetDeny(false)
		post := url.Values{"decision": {"allow"}}
		for k, v := range form {
			post[k] = v
		}
		checkRedirect(t, postForm(t, AuthURL(ts.URL), post), testRedirectURI,
			url.Values{"error": {"access_denied"}, "error_description": {"The user denied access"}, "state": {"s<1>"}})
	})
}

func TestAuthorizePostWithoutConsentPage(t *testing.T) {
	_, ts := NewTestServer(t, testConfig())
	post := authParams("basic_read", "x")
	post.Set("decision", "allow")
	if r := postForm(t, AuthURL(ts.URL), post); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST to the auth endpoint without a consent page: %d, want 405", r.status)
	}
}

func TestExchange(t *testing.T) {
	cases := []struct {
		name string
		send func(t *testing.T, base string, params url.Values) reply
	}{
		{"POST form", func(t *testing.T, base string, p url.Values) reply { return postForm(t, TokenURL(base), p) }},
		{"GET query", func(t *testing.T, base string, p url.Values) reply { return get(t, TokenURL(base)+"?"+p.Encode()) }},
		{"POST form with redirect_uri", func(t *testing.T, base string, p url.Values) reply {
			p.Set("redirect_uri", testRedirectURI)
			return postForm(t, TokenURL(base), p)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, ts := NewTestServer(t, testConfig())
			tr := tokens(t, c.send(t, ts.URL, exchangeParams(authorize(t, ts.URL))))
			if tr.ExpiresIn != 31536000 {
				t.Errorf("expires_in = %d, want one year", tr.ExpiresIn)
			}
			if !s.TokenValid(tr.AccessToken) || meStatus(t, ts.URL, tr.AccessToken) != http.StatusOK {
				t.Errorf("the new access token does not work")
			}
			if s.TokenValid(tr.RefreshToken) {
				t.Errorf("a refresh token works as an access token")
			}
		})
	}
}

func TestCodeRedemption(t *testing.T) {
	cases := []struct {
		name      string
		first     url.Values // an exchange before the one checked, if any
		wait      time.Duration
		edit      func(url.Values)
		wantError string // "" = success
	}{
		{name: "fresh"},
		{name: "just before expiry", wait: codeLifetime - time.Second},
		{name: "expired", wait: codeLifetime, wantError: "invalid_grant"},
		{name: "used twice", first: url.Values{}, wantError: "invalid_grant"},
		{name: "spent by a failed try", first: url.Values{"redirect_uri": {"http://other/"}}, wantError: "invalid_grant"},
		{name: "unknown code", edit: func(p url.Values) { p.Set("code", "nope") }, wantError: "invalid_grant"},
		{name: "other redirect_uri", edit: func(p url.Values) { p.Set("redirect_uri", testRedirectURI+"/x") }, wantError: "invalid_grant"},
		{name: "missing code", edit: func(p url.Values) { p.Del("code") }, wantError: "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := newFakeClock()
			cfg := testConfig()
			cfg.Now = clock.Now
			_, ts := NewTestServer(t, cfg)
			code := authorize(t, ts.URL)
			if c.first != nil {
				p := exchangeParams(code)
				for k, v := range c.first {
					p[k] = v
				}
				postForm(t, TokenURL(ts.URL), p)
			}
			clock.Advance(c.wait)
			p := exchangeParams(code)
			if c.edit != nil {
				c.edit(p)
			}
			r := postForm(t, TokenURL(ts.URL), p)
			if c.wantError == "" {
				tokens(t, r)
			} else if got := oauthErrorCode(t, r); got != c.wantError {
				t.Errorf("error = %q, want %q", got, c.wantError)
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	s, ts := NewTestServer(t, testConfig())
	first := tokens(t, postForm(t, TokenURL(ts.URL), exchangeParams(authorize(t, ts.URL))))
	imported, importedRefresh := s.IssueTokens([]string{"basic_read"})

	cases := []struct {
		name               string
		oldAccess, refresh string
	}{
		{"from a code", first.AccessToken, first.RefreshToken},
		{"out of band", imported, importedRefresh},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			access := c.oldAccess
			for i := range 2 { // refreshing twice with the same token proves it did not rotate
				tr := tokens(t, postForm(t, TokenURL(ts.URL), refreshParams(c.refresh)))
				if tr.RefreshToken != c.refresh {
					t.Errorf("refresh %d: refresh_token changed", i)
				}
				if tr.AccessToken == access {
					t.Fatalf("refresh %d: the access token did not change", i)
				}
				if meStatus(t, ts.URL, access) != http.StatusUnauthorized || s.TokenValid(access) {
					t.Errorf("refresh %d: the previous access token still works", i)
				}
				if meStatus(t, ts.URL, tr.AccessToken) != http.StatusOK {
					t.Errorf("refresh %d: the new access token does not work", i)
				}
				access = tr.AccessToken
			}
		})
	}
	t.Run("other grants untouched", func(t *testing.T) {
		a, _ := s.IssueTokens(nil)
		tokens(t, postForm(t, TokenURL(ts.URL), refreshParams(importedRefresh)))
		if !s.TokenValid(a) {
			t.Errorf("refreshing one grant invalidated another grant's access token")
		}
	})
	t.Run("unknown refresh token", func(t *testing.T) {
		if got := oauthErrorCode(t, postForm(t, TokenURL(ts.URL), refreshParams("bogus"))); got != "invalid_grant" {
			t.Errorf("error = %q, want invalid_grant", got)
		}
	})
}

func TestTokenEndpointErrors(t *testing.T) {
	s, ts := NewTestServer(t, testConfig())
	_, refresh := s.IssueTokens(nil)
	cases := []struct {
		name      string
		params    url.Values
		basicAuth bool
		want      string // error code; "" = success
	}{
		{"params", refreshParams(refresh), false, ""},
		{"params and basic", refreshParams(refresh), true, ""},
		{"basic only", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, true, "invalid_client"},
		{"basic for the secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {testClientID}}, true, "invalid_client"},
		{"no credentials", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, false, "invalid_client"},
		{"wrong secret", with(refreshParams(refresh), "client_secret", "guess"), false, "invalid_client"},
		{"wrong client", with(refreshParams(refresh), "client_id", "other"), false, "invalid_client"},
		{"no grant_type", with(refreshParams(refresh), "grant_type", ""), false, "invalid_request"},
		{"password grant", with(refreshParams(refresh), "grant_type", "password"), false, "unsupported_grant_type"},
		{"no refresh_token", with(refreshParams(refresh), "refresh_token", ""), false, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := newRequest(t, http.MethodPost, TokenURL(ts.URL), c.params)
			if c.basicAuth {
				req.SetBasicAuth(testClientID, testClientSecret)
			}
			r := do(t, req)
			if c.want == "" {
				tokens(t, r)
			} else if got := oauthErrorCode(t, r); got != c.want {
				t.Errorf("error = %q, want %q", got, c.want)
			}
		})
	}
}

func with(v url.Values, key, value string) url.Values {
	v.Set(key, value)
	return v
}

func TestTokenLifetime(t *testing.T) {
	clock := newFakeClock()
	cfg := testConfig()
	cfg.Now, cfg.TokenLifetime = clock.Now, time.Hour
	s, ts := NewTestServer(t, cfg)

	tr := tokens(t, postForm(t, TokenURL(ts.URL), exchangeParams(authorize(t, ts.URL))))
	if tr.ExpiresIn != 3600 {
		t.Errorf("expires_in = %d, want 3600", tr.ExpiresIn)
	}
	clock.Advance(time.Hour - time.Second)
	if meStatus(t, ts.URL, tr.AccessToken) != http.StatusOK {
		t.Errorf("the token stopped working before it expired")
	}
	clock.Advance(time.Second)
	if meStatus(t, ts.URL, tr.AccessToken) != http.StatusUnauthorized || s.TokenValid(tr.AccessToken) {
		t.Errorf("the token still works after it expired")
	}
	s.SetTokenLifetime(90 * time.Second)
	renewed := tokens(t, postForm(t, TokenURL(ts.URL), refreshParams(tr.RefreshToken)))
	if renewed.ExpiresIn != 90 || meStatus(t, ts.URL, renewed.AccessToken) != http.StatusOK {
		t.Errorf("after SetTokenLifetime: expires_in = %d, want 90 and a working token", renewed.ExpiresIn)
	}
}

func TestAPI(t *testing.T) {
	s, ts := NewTestServer(t, testConfig())
	access, refresh := s.IssueTokens([]string{"basic_read"})
	superseded, otherRefresh := s.IssueTokens(nil)
	tokens(t, postForm(t, TokenURL(ts.URL), refreshParams(otherRefresh)))
	secret := url.Values{"secret": {testClientSecret}}

	cases := []struct {
		name          string
		method, path  string
		token         string
		form          url.Values
		wantStatus    int
		wantErrorType string
		wantData      map[string]any
	}{
		{"recover", http.MethodPost, "/users/@me/refreshToken", access, secret, 200, "", map[string]any{"refresh_token": refresh}},
		{"recover wrong secret", http.MethodPost, "/users/@me/refreshToken", access, url.Values{"secret": {"guess"}}, 400, "invalid_request", nil},
		{"recover no secret", http.MethodPost, "/users/@me/refreshToken", access, url.Values{}, 400, "invalid_request", nil},
		{"recover bad token", http.MethodPost, "/users/@me/refreshToken", "bogus", secret, 401, "authentication_error", nil},
		{"recover superseded token", http.MethodPost, "/users/@me/refreshToken", superseded, secret, 401, "authentication_error", nil},
		{"recover no token", http.MethodPost, "/users/@me/refreshToken", "", secret, 401, "authentication_error", nil},
		{"recover by GET", http.MethodGet, "/users/@me/refreshToken", access, nil, 405, "method_not_allowed", nil},
		{"me", http.MethodGet, "/users/@me", access, nil, 200, "", map[string]any{"xid": s.DefaultAccount(), "first": "Jane", "last": "Doe"}},
		{"me bad token", http.MethodGet, "/users/@me", "bogus", nil, 401, "authentication_error", nil},
		{"me superseded token", http.MethodGet, "/users/@me", superseded, nil, 401, "authentication_error", nil},
		{"me no token", http.MethodGet, "/users/@me", "", nil, 401, "authentication_error", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := callAPI(t, c.method, APIURL(ts.URL)+c.path, c.token, c.form)
			if r.status != c.wantStatus {
				t.Fatalf("status = %d %s, want %d", r.status, r.body, c.wantStatus)
			}
			env := envelopeOf(t, r)
			if env.Meta.ErrorType != c.wantErrorType || (c.wantErrorType != "") != (env.Meta.ErrorDetail != "") {
				t.Errorf("meta = %+v, want error_type %q with a detail", env.Meta, c.wantErrorType)
			}
			for k, v := range c.wantData {
				if env.Data[k] != v {
					t.Errorf("data.%s = %v, want %v", k, env.Data[k], v)
				}
			}
			if c.wantStatus == 200 && (env.Meta.UserXID != s.DefaultAccount() || env.Meta.Message != "OK" || env.Meta.Time == 0) {
				t.Errorf("meta = %+v, want the user's xid, message OK and a time", env.Meta)
			}
		})
	}
}

// The refreshToken secret is read from a url-encoded or a multipart body,
// and never from the query.
func TestRefreshTokenBodies(t *testing.T) {
	s, ts := NewTestServer(t, testConfig())
	access, refresh := s.IssueTokens(nil)
	target := APIURL(ts.URL) + "/users/@me/refreshToken"
	secretQuery := "?" + url.Values{"secret": {testClientSecret}}.Encode()
	cases := []struct {
		name        string
		query       string
		contentType string
		body        string
		wantStatus  int
	}{
		{"url-encoded", "", "application/x-www-form-urlencoded", "secret=" + testClientSecret, http.StatusOK},
		{"multipart", "", multipartType, multipartBody("secret", testClientSecret), http.StatusOK},
		{"multipart with other fields", "", multipartType,
			multipartBody("app", "x", "secret", testClientSecret), http.StatusOK},
		{"multipart wrong secret", "", multipartType, multipartBody("secret", "guess"), http.StatusBadRequest},
		{"multipart secret in the query only", secretQuery, multipartType, multipartBody("app", "x"), http.StatusBadRequest},
		{"url-encoded secret in the query only", secretQuery, "application/x-www-form-urlencoded", "", http.StatusBadRequest},
		{"multipart without a boundary", "", "multipart/form-data", multipartBody("secret", testClientSecret),
			http.StatusBadRequest},
		{"truncated multipart", "", multipartType, strings.TrimSuffix(multipartBody("secret", testClientSecret), "--\r\n"),
			http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodPost, target+c.query, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", c.contentType)
			req.Header.Set("Authorization", "Bearer "+access)
			r := do(t, req)
			if r.status != c.wantStatus {
				t.Fatalf("status = %d %s, want %d", r.status, r.body, c.wantStatus)
			}
			env := envelopeOf(t, r)
			if c.wantStatus == http.StatusOK && env.Data["refresh_token"] != refresh {
				t.Errorf("data = %v, want the grant's refresh token", env.Data)
			}
			if c.wantStatus != http.StatusOK && env.Meta.ErrorType != "invalid_request" {
				t.Errorf("meta = %+v, want invalid_request", env.Meta)
			}
		})
	}
}

const multipartBoundary = "jawbone-boundary"

var multipartType = "multipart/form-data; boundary=" + multipartBoundary

// multipartBody encodes name, value pairs as form-data parts, the way
// Jawbone's Android SDK sent the secret.
func multipartBody(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=%q\r\n\r\n%s\r\n",
			multipartBoundary, pairs[i], pairs[i+1])
	}
	fmt.Fprintf(&b, "--%s--\r\n", multipartBoundary)
	return b.String()
}

func TestUnknownPaths(t *testing.T) {
	s, ts := NewTestServer(t, testConfig())
	cases := []struct{ name, method, path string }{
		{"root", http.MethodGet, "/"},
		{"auth prefix", http.MethodGet, "/auth/oauth2"},
		{"unserved API endpoint", http.MethodGet, "/nudge/api/v.1.1/users/@me/moves"},
		{"trailing slash", http.MethodGet, "/nudge/api/v.1.1/users/@me/"},
		{"POST to an unserved endpoint", http.MethodPost, "/nudge/api/v.1.1/users/@me/moves"},
		{"other API version", http.MethodGet, "/nudge/api/v.1.0/users/@me"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := do(t, newRequest(t, c.method, ts.URL+c.path, url.Values{}))
			if r.status != http.StatusNotFound || r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("%s %s: %d %s %q, want a 404 in JSON", c.method, c.path, r.status, r.header.Get("Content-Type"), r.body)
			}
			env := envelopeOf(t, r)
			if env.Meta.Message != "Not Found" || env.Meta.ErrorType != "not_found" || env.Meta.ErrorDetail == "" ||
				env.Meta.Time == 0 || env.Data == nil {
				t.Errorf("%s %s: envelope %s, want Jawbone's meta error with empty data", c.method, c.path, r.body)
			}
		})
	}
	t.Cleanup(func() {
		for _, e := range []string{EndpointAuth, EndpointToken, EndpointRefreshToken, EndpointMe, EndpointMembership} {
			if n := s.Calls(e); n != 0 {
				t.Errorf("Calls(%s) = %d after requests to unknown paths", e, n)
			}
		}
	})
}

// Paths with repeated slashes, as kiefer sends them, reach their endpoint
// directly: no redirect, and a POST keeps its body.
func TestRepeatedSlashes(t *testing.T) {
	s := New(testConfig())
	var mu sync.Mutex
	seen := map[string]bool{} // the paths as the fake received them
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path] = true
		mu.Unlock()
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	base := ts.URL
	access, refresh := s.IssueTokens(nil)
	_, otherRefresh := s.IssueTokens(nil) // refreshed below; access stays good
	cases := []struct {
		name       string
		method     string
		path       string
		token      string
		form       url.Values
		wantStatus int
		endpoint   string
	}{
		{"kiefer's refreshToken POST", http.MethodPost, "//nudge/api/v.1.1/users/@me/refreshToken", access,
			url.Values{"secret": {testClientSecret}}, http.StatusOK, EndpointRefreshToken},
		{"v.1.1// in an API path", http.MethodGet, "/nudge/api/v.1.1//users/@me", access, nil, http.StatusOK, EndpointMe},
		{"many slashes", http.MethodGet, "///nudge//api///v.1.1/users//@me", access, nil, http.StatusOK, EndpointMe},
		{"token endpoint", http.MethodPost, "//auth//oauth2/token", "", refreshParams(otherRefresh), http.StatusOK, EndpointToken},
		{"auth endpoint", http.MethodGet, "//auth/oauth2//auth?" + authParams("basic_read", "s").Encode(), "", nil,
			http.StatusFound, EndpointAuth},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.Calls(c.endpoint)
			r := callAPI(t, c.method, base+c.path, c.token, c.form)
			if r.status != c.wantStatus {
				t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, r.status, r.body, c.wantStatus)
			}
			if c.wantStatus == http.StatusFound && r.location(t).Host != "127.0.0.1:8250" {
				t.Errorf("redirected to %s, want the app's redirect URI", r.header.Get("Location"))
			}
			if got := s.Calls(c.endpoint); got != before+1 {
				t.Errorf("Calls(%s) went from %d to %d, want one more", c.endpoint, before, got)
			}
			path, _, _ := strings.Cut(c.path, "?")
			mu.Lock()
			defer mu.Unlock()
			if !seen[path] {
				t.Errorf("the fake never received %q as sent (got %v): the test proves nothing", path, seen)
			}
		})
	}
	t.Run("recovered refresh token", func(t *testing.T) {
		r := callAPI(t, http.MethodPost, base+"//nudge/api/v.1.1/users/@me/refreshToken", access,
			url.Values{"secret": {testClientSecret}})
		if got := envelopeOf(t, r).Data["refresh_token"]; got != refresh {
			t.Errorf("refresh_token = %v, want the grant's (%d %s)", got, r.status, r.body)
		}
	})
}

func TestCalls(t *testing.T) {
	s, ts := NewTestServer(t, testConfig())
	code := authorize(t, ts.URL)                                                // auth 1
	tr := tokens(t, get(t, TokenURL(ts.URL)+"?"+exchangeParams(code).Encode())) // token 1
	postForm(t, TokenURL(ts.URL), refreshParams("bogus"))                       // token 2: failed calls count
	s.InjectFault(EndpointMe, Fault{Status: http.StatusServiceUnavailable, Times: 1})
	for range 3 {
		meStatus(t, ts.URL, tr.AccessToken) // me 3: one answered by a fault
	}
	callAPI(t, http.MethodPost, APIURL(ts.URL)+"/users/@me/refreshToken", tr.AccessToken,
		url.Values{"secret": {testClientSecret}}) // refreshToken 1
	want := map[string]int{EndpointAuth: 1, EndpointToken: 2, EndpointMe: 3, EndpointRefreshToken: 1}
	for e, n := range want {
		if got := s.Calls(e); got != n {
			t.Errorf("Calls(%s) = %d, want %d", e, got, n)
		}
	}
	s.ResetCalls()
	for e := range want {
		if got := s.Calls(e); got != 0 {
			t.Errorf("after ResetCalls, Calls(%s) = %d", e, got)
		}
	}
}

// WaitForCalls returns once a call it waits for has come (one begun while
// it waits, as one counted before), and says how many came when ctx ends
// first.
func TestWaitForCalls(t *testing.T) {
	s, ts := NewTestServer(t, testConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.InjectFault(EndpointMe, Fault{Status: http.StatusServiceUnavailable})
	waited := make(chan error, 1)
	go func() { waited <- s.WaitForCalls(ctx, EndpointMe, 2) }()
	meStatus(t, ts.URL, "a")
	meStatus(t, ts.URL, "b")
	if err := <-waited; err != nil {
		t.Fatalf("waiting for 2 calls that came: %v", err)
	}
	if err := s.WaitForCalls(ctx, EndpointMe, 1); err != nil {
		t.Fatalf("waiting for a call counted before: %v", err)
	}
	short, stop := context.WithTimeout(ctx, 10*time.Millisecond)
	defer stop()
	err := s.WaitForCalls(short, EndpointMe, 3)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "2 calls to me, want 3") {
		t.Fatalf("waiting for a call that never came: %v", err)
	}
}

func TestFaults(t *testing.T) {
	cases := []struct {
		name       string
		fault      Fault
		wantStatus int
		realReply  bool   // the token endpoint's own reply follows the fault
		wantBody   string // checked if set
		check      func(t *testing.T, r reply)
	}{
		{name: "status", fault: Fault{Status: 503}, wantStatus: 503, wantBody: "Service Unavailable\n"},
		{name: "body", fault: Fault{Status: 500, Body: `{"error":"server_error"}`}, wantStatus: 500,
			wantBody: `{"error":"server_error"}`, check: contentType("application/json")},
		{name: "body without status", fault: Fault{Body: "<html>maintenance</html>", ContentType: "text/html"},
			wantStatus: 200, wantBody: "<html>maintenance</html>", check: contentType("text/html")},
		{name: "retry-after", fault: Fault{Status: 429, RetryAfter: "7"}, wantStatus: 429,
			wantBody: "Too Many Requests\n", check: header("Retry-After", "7")},
		{name: "retry-after on the real reply", fault: Fault{RetryAfter: "3"}, wantStatus: 200, realReply: true,
			check: header("Retry-After", "3")},
		{name: "short delay then the real reply", fault: Fault{Delay: time.Millisecond}, wantStatus: 200, realReply: true},
		{name: "drip", fault: Fault{Status: 502, Body: `{"error":"bad gateway"}`, DripBody: true, DripInterval: time.Millisecond},
			wantStatus: 502, wantBody: `{"error":"bad gateway"}`},
		{name: "oversize", fault: Fault{OversizeBytes: 3 << 20}, wantStatus: 200, check: func(t *testing.T, r reply) {
			if len(r.body) != 3<<20 || !strings.HasPrefix(r.body, `{"access_token":"xxx`) || !strings.HasSuffix(r.body, `xx"}`) {
				t.Errorf("oversize body: %d bytes starting %.30q, want %d bytes of a JSON frame", len(r.body), r.body, 3<<20)
			}
		}},
		{name: "oversize below the frame", fault: Fault{OversizeBytes: 5}, wantStatus: 200, wantBody: `{"acc`},
		{name: "redirect", fault: Fault{Status: 302, Header: http.Header{"Location": {"http://127.0.0.1:9/token"}}},
			wantStatus: 302, check: header("Location", "http://127.0.0.1:9/token")},
		{name: "header on the real reply", fault: Fault{Header: http.Header{"X-Served-By": {"edge-3"}}}, wantStatus: 200,
			realReply: true, check: header("X-Served-By", "edge-3")},
		{name: "header key in any case", fault: Fault{Status: 503, Header: http.Header{"x-served-by": {"edge-3"}}},
			wantStatus: 503, check: header("X-Served-By", "edge-3")},
		{name: "header with a body", fault: Fault{Status: 503, Body: `{}`, Header: http.Header{"Retry-After": {"9"}}},
			wantStatus: 503, wantBody: `{}`, check: header("Retry-After", "9")},
		{name: "retry-after wins over header", fault: Fault{Status: 429, RetryAfter: "7", Header: http.Header{"Retry-After": {"99"}}},
			wantStatus: 429, check: header("Retry-After", "7")},
		{name: "reply's own content type wins", fault: Fault{Header: http.Header{"Content-Type": {"text/plain"}}},
			wantStatus: 200, realReply: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, ts := NewTestServer(t, testConfig())
			_, refresh := s.IssueTokens(nil)
			s.InjectFault(EndpointToken, c.fault)
			r := postForm(t, TokenURL(ts.URL), refreshParams(refresh))
			if r.status != c.wantStatus {
				t.Fatalf("status = %d, want %d", r.status, c.wantStatus)
			}
			if c.realReply {
				tokens(t, r)
			}
			if c.wantBody != "" && r.body != c.wantBody {
				t.Errorf("body = %q, want %q", r.body, c.wantBody)
			}
			if c.check != nil {
				c.check(t, r)
			}
			if n := s.Calls(EndpointToken); n != 1 {
				t.Errorf("Calls = %d, want 1", n)
			}
		})
	}
}

func contentType(want string) func(*testing.T, reply) { return header("Content-Type", want) }

func header(key, want string) func(*testing.T, reply) {
	return func(t *testing.T, r reply) {
		t.Helper()
		if got := r.header.Get(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
}

// A fault answers instead of the real handler: the code it stood in front
// of is still good afterwards.
func TestFaultKeepsRealHandlerOut(t *testing.T) {
	s, ts := NewTestServer(t, testConfig())
	code := authorize(t, ts.URL)
	s.InjectFault(EndpointToken, Fault{Status: http.StatusBadGateway, Times: 1})
	if r := postForm(t, TokenURL(ts.URL), exchangeParams(code)); r.status != http.StatusBadGateway {
		t.Fatalf("status = %d, want the fault's 502", r.status)
	}
	tokens(t, postForm(t, TokenURL(ts.URL), exchangeParams(code)))
}

func TestFaultQueue(t *testing.T) {
	cases := []struct {
		name   string
		faults []Fault
		clear  int   // call ClearFaults before this request (0 = never)
		want   []int // statuses of successive GET /users/@me
	}{
		{"times", []Fault{{Status: 503, Times: 2}}, 0, []int{503, 503, 200, 200}},
		{"queued in order", []Fault{{Status: 500, Times: 1}, {Status: 502, Times: 2}}, 0, []int{500, 502, 502, 200}},
		{"until cleared", []Fault{{Status: 503}}, 3, []int{503, 503, 503, 200}},
		{"forever hides later faults", []Fault{{Status: 503}, {Status: 500, Times: 1}}, 0, []int{503, 503, 503}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, ts := NewTestServer(t, testConfig())
			access, _ := s.IssueTokens(nil)
			for _, f := range c.faults {
				s.InjectFault(EndpointMe, f)
			}
			s.InjectFault(EndpointToken, Fault{Status: 418}) // another endpoint's fault changes nothing here
			for i, want := range c.want {
				if c.clear != 0 && i == c.clear {
					s.ClearFaults()
				}
				if got := meStatus(t, ts.URL, access); got != want {
					t.Errorf("request %d: status %d, want %d", i, got, want)
				}
			}
		})
	}
}

func TestInjectFaultUnknownEndpoint(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("InjectFault with an unknown endpoint did not panic")
		}
	}()
	New(testConfig()).InjectFault("/auth/oauth2/token", Fault{Status: 500})
}

func TestCloseConnectionFault(t *testing.T) {
	s, ts := NewTestServer(t, testConfig())
	_, refresh := s.IssueTokens(nil)
	s.InjectFault(EndpointToken, Fault{CloseConnection: true, Times: 1})
	req := newRequest(t, http.MethodPost, TokenURL(ts.URL), refreshParams(refresh))
	resp, err := browser.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got a reply (%d), want the connection closed", resp.StatusCode)
	}
	if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") {
		t.Errorf("error = %v, want EOF", err)
	}
	tokens(t, postForm(t, TokenURL(ts.URL), refreshParams(refresh))) // Times 1: the next one is served
	if n := s.Calls(EndpointToken); n != 2 {
		t.Errorf("Calls = %d, want 2", n)
	}
}

// A delayed handler returns as soon as its client gives up, also when the
// request has a body the handler has not read yet.
func TestDelayEndsWhenClientLeaves(t *testing.T) {
	cases := []struct {
		name     string
		endpoint string
		request  func(t *testing.T, base string) *http.Request
	}{
		{"GET me", EndpointMe, func(t *testing.T, base string) *http.Request {
			return newRequest(t, http.MethodGet, APIURL(base)+"/users/@me", nil)
		}},
		{"POST token", EndpointToken, func(t *testing.T, base string) *http.Request {
			return newRequest(t, http.MethodPost, TokenURL(base), refreshParams("r"))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := New(testConfig())
			handlerIn, handlerDone := make(chan struct{}, 1), make(chan struct{}, 1)
			ts := startWithHook(t, s, func() { handlerIn <- struct{}{} }, func() { handlerDone <- struct{}{} })
			s.InjectFault(c.endpoint, Fault{Delay: time.Hour})

			// The client leaves once its request is in the handler: a
			// deadline instead could end the request before it was sent,
			// on a loaded machine, and no handler would ever run.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req := c.request(t, ts.URL).WithContext(ctx)
			replied := make(chan error, 1)
			go func() {
				resp, err := browser.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				replied <- err
			}()
			select {
			case <-handlerIn:
			case err := <-replied:
				t.Fatalf("the request ended (%v) before it reached the handler", err)
			}
			cancel()
			if err := <-replied; !errors.Is(err, context.Canceled) {
				t.Fatalf("error = %v, want the client's cancellation", err)
			}
			select {
			case <-handlerDone:
			case <-time.After(5 * time.Second):
				t.Fatal("the handler is still in its Delay after the client left")
			}
		})
	}
}

// A ResponseWriter that cannot be hijacked (a test's recording wrapper)
// still gets its connection closed without a reply.
func TestCloseConnectionThroughWrapper(t *testing.T) {
	s := New(testConfig())
	type wrapper struct{ http.ResponseWriter }
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ServeHTTP(wrapper{w}, r)
	}))
	t.Cleanup(ts.Close)
	s.InjectFault(EndpointMe, Fault{CloseConnection: true})
	resp, err := browser.Get(APIURL(ts.URL) + "/users/@me")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got a reply (%d), want the connection closed", resp.StatusCode)
	}
}

// Close releases a request waiting in a Delay or a drip.
func TestCloseReleasesWaits(t *testing.T) {
	cases := []struct {
		name  string
		fault Fault
		check func(t *testing.T, resp *http.Response)
	}{
		{"delay", Fault{Delay: time.Hour}, func(t *testing.T, resp *http.Response) {
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("status = %d, want 503", resp.StatusCode)
			}
		}},
		{"drip", Fault{Body: "abc", DripBody: true, DripInterval: time.Hour}, func(t *testing.T, resp *http.Response) {
			if body, err := io.ReadAll(resp.Body); err == nil || string(body) != "a" {
				t.Errorf("body = %q, %v; want just the first byte and a short read", body, err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := New(testConfig())
			entered := make(chan struct{}, 1)
			ts := startWithHook(t, s, func() { entered <- struct{}{} }, func() {})
			s.InjectFault(EndpointMe, c.fault)

			type result struct {
				resp *http.Response
				err  error
			}
			done := make(chan result, 1)
			go func() {
				resp, err := browser.Get(APIURL(ts.URL) + "/users/@me") //nolint:bodyclose // closed by the receiver below
				done <- result{resp, err}
			}()
			<-entered
			s.Close()
			r := <-done
			if r.err != nil {
				t.Fatalf("request: %v", r.err)
			}
			defer r.resp.Body.Close()
			c.check(t, r.resp)
		})
	}
}

// A dripped body arrives a byte at a time: a client that stops waiting has
// the first byte and a timeout.
func TestDripReachesClientTimeout(t *testing.T) {
	s, ts := NewTestServer(t, testConfig())
	s.InjectFault(EndpointMe, Fault{Body: `{"meta":{}}`, DripBody: true, DripInterval: time.Hour})
	client := &http.Client{Timeout: 200 * time.Millisecond}
	resp, err := client.Get(APIURL(ts.URL) + "/users/@me")
	if err != nil {
		t.Fatalf("the headers should arrive before the drip: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	var netErr interface{ Timeout() bool }
	if string(body) != "{" || !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Errorf("read %q, %v; want the first byte, then a timeout", body, err)
	}
}

// Many clients at once, under -race: each runs a whole grant's life.
func TestConcurrentGrants(t *testing.T) {
	s, ts := NewTestServer(t, testConfig())
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := grantLife(ts.URL, fmt.Sprint(i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Go(func() { // readers and writers of the other shared state
		for range n {
			s.Calls(EndpointToken)
			s.SetTokenLifetime(2 * time.Hour)
			s.InjectFault(EndpointAuth, Fault{Delay: time.Nanosecond, Times: 1})
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.Calls(EndpointToken); got != 2*n {
		t.Errorf("Calls(token) = %d, want %d", got, 2*n)
	}
}

// grantLife authorizes, exchanges, refreshes and checks both tokens,
// returning errors rather than failing so it can run off the test goroutine.
func grantLife(base, state string) error {
	loc, err := redirectOf(AuthURL(base) + "?" + authParams("basic_read", state).Encode())
	if err != nil {
		return err
	}
	if loc.Query().Get("state") != state {
		return fmt.Errorf("state %q came back as %q", state, loc.Query().Get("state"))
	}
	first, err := tokenCall(base, exchangeParams(loc.Query().Get("code")))
	if err != nil {
		return err
	}
	second, err := tokenCall(base, refreshParams(first.RefreshToken))
	if err != nil {
		return err
	}
	if second.RefreshToken != first.RefreshToken {
		return errors.New("the refresh token rotated")
	}
	if code, _ := statusOfMe(base, first.AccessToken); code != http.StatusUnauthorized {
		return fmt.Errorf("superseded token: status %d, want 401", code)
	}
	if code, err := statusOfMe(base, second.AccessToken); code != http.StatusOK {
		return fmt.Errorf("new token: status %d (%v), want 200", code, err)
	}
	return nil
}

func TestURLs(t *testing.T) {
	s, ts := NewTestServer(t, testConfig())
	if !strings.HasPrefix(ts.URL, "http://127.0.0.1:") {
		t.Errorf("test server at %s, want 127.0.0.1", ts.URL)
	}
	cases := []struct {
		name      string
		got, want string
	}{
		{"auth", AuthURL("http://h:1"), "http://h:1/auth/oauth2/auth"},
		{"token", TokenURL("http://h:1/"), "http://h:1/auth/oauth2/token"},
		{"api", APIURL("http://h:1"), "http://h:1/nudge/api/v.1.1"},
		{"method auth", s.AuthURL("http://h:1/"), "http://h:1/auth/oauth2/auth"},
		{"method token", s.TokenURL("http://h:1"), "http://h:1/auth/oauth2/token"},
		{"method api", s.APIURL("http://h:1"), "http://h:1/nudge/api/v.1.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %s, want %s", c.got, c.want)
			}
		})
	}
}

// A seeded Config.Random makes every token, code and xid repeatable.
func TestSeededRandom(t *testing.T) {
	run := func(t *testing.T, seed byte) []string {
		t.Helper()
		cfg := testConfig()
		cfg.Random = rand.NewChaCha8([32]byte{seed})
		s, ts := NewTestServer(t, cfg)
		access, refresh := s.IssueTokens(nil)
		code := authorize(t, ts.URL)
		tr := tokens(t, postForm(t, TokenURL(ts.URL), exchangeParams(code)))
		renewed := tokens(t, postForm(t, TokenURL(ts.URL), refreshParams(tr.RefreshToken)))
		return []string{s.DefaultAccount(), access, refresh, code, tr.AccessToken, tr.RefreshToken, renewed.AccessToken}
	}
	first, again, other := run(t, 1), run(t, 1), run(t, 2)
	if !slices.Equal(first, again) {
		t.Errorf("the same seed gave %v, then %v", first, again)
	}
	for i := range first {
		if first[i] == other[i] {
			t.Errorf("value %d is %q under two seeds", i, first[i])
		}
	}
}

func TestFailingRandomPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("New with a Random that fails did not panic")
		}
	}()
	cfg := testConfig()
	cfg.Random = strings.NewReader("short")
	New(cfg)
}

func TestScopes(t *testing.T) {
	got := Scopes()
	if !slices.Equal(got, jawboneScopes) || len(got) != 19 || got[0] != "basic_read" {
		t.Fatalf("Scopes() = %v, want the fake's own list", got)
	}
	got[0] = "edited"
	if Scopes()[0] != "basic_read" {
		t.Errorf("editing the result of Scopes changed the fake's list")
	}
}

// Another client's refresh retires the access token the plugin holds; the
// refresh token, the account and the plugin's own refreshes go on working.
func TestRefreshOutside(t *testing.T) {
	s, ts := NewTestServer(t, testConfig())
	held, refresh := s.IssueTokensFor("kiefer-user", nil)
	s.InjectFault(EndpointToken, Fault{Status: http.StatusServiceUnavailable, Times: 1}) // not for RefreshOutside

	outside, ok := s.RefreshOutside(refresh)
	if !ok || outside == "" || outside == held {
		t.Fatalf("RefreshOutside = %q, %v; want a new access token", outside, ok)
	}
	if got := meStatus(t, ts.URL, held); got != http.StatusUnauthorized {
		t.Errorf("GET /users/@me with the held token: %d, want 401", got)
	}
	checkAccount(t, ts.URL, outside, "kiefer-user")
	if n := s.Calls(EndpointToken); n != 0 {
		t.Errorf("Calls(token) = %d, want 0: RefreshOutside is no request", n)
	}
	if r := postForm(t, TokenURL(ts.URL), refreshParams(refresh)); r.status != http.StatusServiceUnavailable {
		t.Fatalf("the queued fault did not answer the first real refresh: %d", r.status)
	}
	renewed := tokens(t, postForm(t, TokenURL(ts.URL), refreshParams(refresh)))
	if renewed.RefreshToken != refresh || meStatus(t, ts.URL, outside) != http.StatusUnauthorized {
		t.Errorf("the plugin's refresh after another client's: want the same refresh token and the other's access token retired")
	}
	if _, ok := s.RefreshOutside("bogus"); ok {
		t.Errorf("RefreshOutside of an unknown refresh token reported ok")
	}
}
