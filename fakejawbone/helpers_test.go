package fakejawbone

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	testClientID     = "test-client"
	testClientSecret = "test-secret"
	testRedirectURI  = "http://127.0.0.1:8250/callback"
)

func testConfig() Config {
	return Config{ClientID: testClientID, ClientSecret: testClientSecret, RedirectURIPrefix: testRedirectURI}
}

func newFakeClock() *ManualClock { return NewManualClock(time.Date(2016, 3, 1, 12, 0, 0, 0, time.UTC)) }

// browser never follows redirects: tests read the Location header, as the
// plugin's users read the address bar.
var browser = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// reply is a whole HTTP response, body read.
type reply struct {
	status int
	header http.Header
	body   string
}

func (r reply) location(t *testing.T) *url.URL {
	t.Helper()
	u, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		t.Fatalf("Location %q: %v", r.header.Get("Location"), err)
	}
	return u
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL.Path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func newRequest(t *testing.T, method, target string, form url.Values) *http.Request {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}

func get(t *testing.T, target string) reply {
	t.Helper()
	return do(t, newRequest(t, http.MethodGet, target, nil))
}

func postForm(t *testing.T, target string, form url.Values) reply {
	t.Helper()
	return do(t, newRequest(t, http.MethodPost, target, form))
}

// authParams is a valid authorization request.
func authParams(scope, state string) url.Values {
	return url.Values{
		"response_type": {"code"},
		"client_id":     {testClientID},
		"redirect_uri":  {testRedirectURI},
		"scope":         {scope},
		"state":         {state},
	}
}

// authorize runs an auto-approved authorization and returns the code.
func authorize(t *testing.T, base string) string {
	t.Helper()
	r := get(t, AuthURL(base)+"?"+authParams("basic_read move_read", "st").Encode())
	code := r.location(t).Query().Get("code")
	if r.status != http.StatusFound || code == "" {
		t.Fatalf("authorize: got %d, Location %q; want 302 with a code", r.status, r.header.Get("Location"))
	}
	return code
}

func clientParams(grant url.Values) url.Values {
	grant.Set("client_id", testClientID)
	grant.Set("client_secret", testClientSecret)
	return grant
}

func exchangeParams(code string) url.Values {
	return clientParams(url.Values{"grant_type": {"authorization_code"}, "code": {code}})
}

func refreshParams(refreshToken string) url.Values {
	return clientParams(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

// tokens parses a successful token reply, failing unless it is exactly
// Jawbone's four fields.
func tokens(t *testing.T, r reply) tokenReply {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("token endpoint: got %d %s, want 200", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(r.body), &fields); err != nil {
		t.Fatalf("token reply %q: %v", r.body, err)
	}
	want := []string{"access_token", "expires_in", "refresh_token", "token_type"}
	if got := slices.Sorted(maps.Keys(fields)); !slices.Equal(got, want) {
		t.Errorf("token reply fields = %v, want %v", got, want)
	}
	var tr tokenReply
	if err := json.Unmarshal([]byte(r.body), &tr); err != nil {
		t.Fatalf("token reply %s: %v", r.body, err)
	}
	if tr.AccessToken == "" || tr.RefreshToken == "" || tr.TokenType != "Bearer" {
		t.Errorf("token reply %s: want both tokens and token_type Bearer", r.body)
	}
	return tr
}

// oauthErrorCode parses a token endpoint error reply.
func oauthErrorCode(t *testing.T, r reply) string {
	t.Helper()
	var e oauthError
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || r.status != http.StatusBadRequest || e.Description == "" {
		t.Fatalf("want a 400 OAuth error with a description, got %d %q", r.status, r.body)
	}
	return e.Code
}

// callAPI makes an API request with an optional bearer token and form.
func callAPI(t *testing.T, method, target, token string, form url.Values) reply {
	t.Helper()
	req := newRequest(t, method, target, form)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func meStatus(t *testing.T, base, token string) int {
	t.Helper()
	return callAPI(t, http.MethodGet, APIURL(base)+"/users/@me", token, nil).status
}

// apiReply is the envelope as a test reads it.
type apiReply struct {
	Meta struct {
		UserXID     string `json:"user_xid"`
		Message     string `json:"message"`
		Code        int    `json:"code"`
		Time        int64  `json:"time"`
		ErrorType   string `json:"error_type"`
		ErrorDetail string `json:"error_detail"`
	} `json:"meta"`
	Data map[string]any `json:"data"`
}

func envelopeOf(t *testing.T, r reply) apiReply {
	t.Helper()
	var env apiReply
	if err := json.Unmarshal([]byte(r.body), &env); err != nil {
		t.Fatalf("API reply %q is not the envelope: %v", r.body, err)
	}
	if env.Meta.Code != r.status {
		t.Errorf("meta.code = %d, HTTP status %d", env.Meta.Code, r.status)
	}
	return env
}

// startWithHook serves s behind a wrapper that runs before and after each
// request, for tests that must know when a handler has started or ended.
func startWithHook(t *testing.T, s *Server, before, after func()) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		before()
		defer after()
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return ts
}

// The helpers below return errors instead of failing, for goroutines other
// than the test's own.

func redirectOf(target string) (*url.URL, error) {
	resp, err := browser.Get(target)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("GET %s: status %d, want 302", target, resp.StatusCode)
	}
	return resp.Location()
}

func tokenCall(base string, params url.Values) (tokenReply, error) {
	var tr tokenReply
	resp, err := browser.PostForm(TokenURL(base), params)
	if err != nil {
		return tr, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return tr, fmt.Errorf("token endpoint: status %d", resp.StatusCode)
	}
	return tr, json.NewDecoder(resp.Body).Decode(&tr)
}

func statusOfMe(base, token string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, APIURL(base)+"/users/@me", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := browser.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
