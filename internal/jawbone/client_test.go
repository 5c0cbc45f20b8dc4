package jawbone

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

const (
	testClientID     = "test-client"
	testClientSecret = "test-secret-do-not-leak"
	testRedirectURI  = "https://app.example/callback"
)

// testClient is a Client against a fake Jawbone, with a timeout short
// enough that timeout cases end quickly and long enough for a loopback
// request while other tests run in parallel (300ms was not, under -race).
func testClient(t *testing.T) (*Client, *fakejawbone.Server) {
	t.Helper()
	fake, srv := fakejawbone.NewTestServer(t, fakejawbone.Config{ClientID: testClientID, ClientSecret: testClientSecret})
	return New(Config{
		ClientID: testClientID, ClientSecret: testClientSecret, RedirectURI: testRedirectURI,
		AuthURL: fake.AuthURL(srv.URL), TokenURL: fake.TokenURL(srv.URL), APIURL: fake.APIURL(srv.URL),
		Timeout: 2 * time.Second,
	}), fake
}

// newLoopbackServer serves h on 127.0.0.1 for the test's lifetime.
func newLoopbackServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// The token endpoint sees a POST form with client credentials as parameters,
// never HTTP Basic: the fake rejects Basic-only credentials.
func TestClientSendsCredentialsAsFormParams(t *testing.T) {
	t.Parallel()
	var seen url.Values
	var basic bool
	fake := fakejawbone.New(fakejawbone.Config{ClientID: testClientID, ClientSecret: testClientSecret})
	spy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/token") {
			_, _, basic = r.BasicAuth()
			if err := r.ParseForm(); err != nil {
				t.Errorf("token request form: %v", err)
			}
			seen = r.PostForm
		}
		fake.ServeHTTP(w, r)
	})
	srv := newLoopbackServer(t, spy)
	_, refresh := fake.IssueTokens(nil)
	client := New(Config{ClientID: testClientID, ClientSecret: testClientSecret,
		TokenURL: fake.TokenURL(srv), Timeout: time.Second})
	tok, err := client.Refresh(context.Background(), refresh)
	if err != nil {
		t.Fatal(err)
	}
	if basic || seen.Get("client_id") != testClientID || seen.Get("client_secret") != testClientSecret ||
		seen.Get("grant_type") != "refresh_token" || seen.Get("refresh_token") != refresh {
		t.Fatalf("token request form %v basic=%v", seen, basic)
	}
	if tok.RefreshToken != refresh || tok.ExpiresIn != 365*24*time.Hour {
		t.Fatalf("reply %+v", tok)
	}
}

func TestClientRecoverRefreshToken(t *testing.T) {
	t.Parallel()
	client, fake := testClient(t)
	access, refresh := fake.IssueTokens(nil)
	got, err := client.RecoverRefreshToken(context.Background(), access)
	if err != nil || got != refresh {
		t.Fatalf("recovered %q, %v; want the grant's refresh token", got, err)
	}
	_, err = client.RecoverRefreshToken(context.Background(), "not-a-token")
	if KindOf(err) != TokenRejected || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("bad token: %v", err)
	}
	if strings.Count(err.Error(), "authentication_error") != 1 {
		t.Fatalf("the error type is printed twice: %v", err)
	}
	fake.InjectFault(fakejawbone.EndpointRefreshToken, fakejawbone.Fault{Status: 200, Body: `{"meta":{"code":200},"data":{}}`, Times: 1})
	if _, err := client.RecoverRefreshToken(context.Background(), access); err == nil || KindOf(err) == GrantRejected || !strings.Contains(err.Error(), "no data.refresh_token") {
		t.Fatalf("empty data: %v", err)
	}
	fake.InjectFault(fakejawbone.EndpointRefreshToken, fakejawbone.Fault{Status: 503, Times: 1})
	if _, err := client.RecoverRefreshToken(context.Background(), access); err == nil || KindOf(err) == GrantRejected {
		t.Fatalf("503: %v", err)
	}
}

// A redirect from the token endpoint is not followed: following it would
// re-send the client secret and the refresh token to wherever it points.
func TestClientDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var elsewhere int
	target := newLoopbackServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere++ }))
	redirector := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target+"/token", http.StatusTemporaryRedirect)
	}))
	client := New(Config{ClientID: "c", ClientSecret: "s",
		TokenURL: redirector + "/token", APIURL: redirector, Timeout: time.Second})
	if _, err := client.Refresh(context.Background(), "r"); err == nil || !strings.Contains(err.Error(), "HTTP 307") {
		t.Fatalf("a redirect was not reported: %v", err)
	}
	if _, err := client.RecoverRefreshToken(context.Background(), "a"); err == nil {
		t.Fatal("a redirected recovery succeeded")
	}
	if elsewhere != 0 {
		t.Fatalf("the redirect target got %d requests carrying the secret", elsewhere)
	}
}

// replyTransport answers every request with one canned reply.
type replyTransport struct {
	status      int
	contentType string
	body        []byte
}

func (rt replyTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: rt.status,
		Header:     http.Header{"Content-Type": {rt.contentType}},
		Body:       io.NopCloser(bytes.NewReader(rt.body)),
	}, nil
}

// FuzzTokenReply: whatever the token endpoint answers, a refresh either
// yields a usable token or a classified *Error, and never panics.
func FuzzTokenReply(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"access_token":"a","token_type":"Bearer","expires_in":31536000,"refresh_token":"r"}`))
	f.Add(200, "application/json", []byte(`{"access_token":"a"}`))
	f.Add(200, "application/json", []byte(`{"error":"invalid_grant"}`))
	f.Add(400, "application/json", []byte(`{"error":"invalid_client","error_description":"x"}`))
	f.Add(200, "text/plain", []byte(`access_token=a&expires_in=10`))
	f.Add(200, "application/x-www-form-urlencoded", []byte(`%zz`))
	f.Add(503, "text/html", []byte(`<html>down</html>`))
	f.Add(429, "application/json", []byte(``))
	f.Add(200, "application/json", []byte(`{"access_token":`))
	f.Add(200, "application/json", []byte(`{"access_token":"a","expires_in":-5}`))
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		client := New(Config{ClientID: "c", ClientSecret: "s",
			TokenURL: "https://jawbone.invalid/token", Timeout: time.Second,
			Transport: replyTransport{status: status, contentType: contentType, body: body}})
		tok, err := client.Refresh(context.Background(), "r")
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not classified", err, err)
			}
			if strings.Contains(err.Error(), "\x00") {
				t.Fatalf("error carries raw control bytes: %q", err)
			}
			return
		}
		// A token that has expired on arrival is an answer (the engine
		// treats it as such); only a reply that says so may give one.
		if tok.AccessToken == "" || (tok.ExpiresIn <= 0 && !bytes.Contains(body, []byte("expires_in"))) {
			t.Fatalf("accepted an unusable token %+v from %d %q", tok, status, body)
		}
	})
}

// Only Jawbone's own answer vouches for a token: a 200 in its envelope with
// a user_xid. A 401 in the envelope says the token is rejected; anything
// else (a portal's page, a proxy's 401) is no answer.
func TestMeNeedsJawbonesEnvelope(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		fault *fakejawbone.Fault
		token func(valid string) string
		kind  Kind
		works bool
	}{
		{"a working token", nil, func(v string) string { return v }, 0, true},
		{"a rejected token", nil, func(string) string { return "dead" }, TokenRejected, false},
		{"a captive portal's 200", &fakejawbone.Fault{Status: 200, ContentType: "text/html", Body: "<html>hotel wifi</html>"}, func(v string) string { return v }, Transient, false},
		{"an envelope without an account", &fakejawbone.Fault{Status: 200, Body: `{"meta":{"code":200},"data":{}}`}, func(v string) string { return v }, Transient, false},
		{"a proxy's bare 401", &fakejawbone.Fault{Status: 401, ContentType: "text/html", Body: "<html>login</html>"}, func(string) string { return "dead" }, Transient, false},
		{"a 503", &fakejawbone.Fault{Status: 503}, func(v string) string { return v }, Transient, false},
		// A user_xid is shown in CLI output, on the callback's page and in
		// the log: Jawbone's are short and URL-safe, anything else is not
		// Jawbone's answer.
		{"markup for an account", meFault(`<b>call 555-0100</b>`), func(v string) string { return v }, Transient, false},
		{"spaces in an account", meFault("jane xid"), func(v string) string { return v }, Transient, false},
		{"an overlong account", meFault(strings.Repeat("x", 65)), func(v string) string { return v }, Transient, false},
		{"an account with a newline", meFault("jane\\nWARN forged log line"), func(v string) string { return v }, Transient, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, fake := testClient(t)
			access, _ := fake.IssueTokensFor("jane-xid", nil)
			if tc.fault != nil {
				fake.InjectFault(fakejawbone.EndpointMe, *tc.fault)
			}
			acct, err := client.Me(context.Background(), tc.token(access))
			switch {
			case tc.works && (err != nil || acct.XID != "jane-xid"):
				t.Fatalf("Me = %+v, %v; want jane-xid", acct, err)
			case !tc.works && (err == nil || KindOf(err) != tc.kind):
				t.Fatalf("Me = %+v, %v; want an error of kind %v", acct, err, tc.kind)
			case err != nil && strings.ContainsAny(err.Error(), "<\n") || err != nil && strings.Contains(err.Error(), "xxxxx"):
				t.Fatalf("the error repeats the account the reply named: %v", err)
			}
		})
	}
}

// meFault is Jawbone's envelope naming account xid.
func meFault(xid string) *fakejawbone.Fault {
	return &fakejawbone.Fault{Status: 200, Body: `{"meta":{"code":200,"user_xid":"` + xid + `"},"data":{}}`}
}

// An exchange reply without a refresh token gives creds that could never
// be refreshed: it is refused.
func TestExchangeRefusesAReplyWithoutARefreshToken(t *testing.T) {
	t.Parallel()
	client, fake := testClient(t)
	fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Body: `{"access_token":"a","token_type":"Bearer","expires_in":60}`})
	if _, err := client.Exchange(context.Background(), "code"); err == nil || !strings.Contains(err.Error(), "no refresh_token") {
		t.Fatalf("Exchange = %v, want a refusal naming the missing refresh_token", err)
	}
}

// expires_in: missing is Jawbone's year; 0 or less has expired already; a
// form-encoded reply counts the same, on the injected clock.
func TestTheLifetimeOfAToken(t *testing.T) {
	t.Parallel()
	cases := []struct {
		contentType, body string
		want              time.Duration
	}{
		{"application/json", `{"access_token":"a"}`, DefaultTokenLifetime},
		{"application/json", `{"access_token":"a","expires_in":0}`, 0},
		{"application/json", `{"access_token":"a","expires_in":-5}`, -5 * time.Second},
		{"application/json", `{"access_token":"a","expires_in":"3600"}`, time.Hour},
		{"application/x-www-form-urlencoded", `access_token=a&expires_in=60`, time.Minute},
		{"application/x-www-form-urlencoded", `access_token=a`, DefaultTokenLifetime},
	}
	for _, tc := range cases {
		client := New(Config{ClientID: "c", ClientSecret: "s", TokenURL: "https://jawbone.invalid/token", Timeout: time.Second,
			Now:       func() time.Time { return time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC) },
			Transport: replyTransport{status: 200, contentType: tc.contentType, body: []byte(tc.body)}})
		tok, err := client.Refresh(context.Background(), "r")
		if err != nil || tok.ExpiresIn != tc.want {
			t.Fatalf("%s: lifetime %v, %v; want %s", tc.body, tok, err, tc.want)
		}
	}
}

// api_url with a trailing slash never makes a request path with "//".
func TestNoDoubleSlashFromATrailingSlash(t *testing.T) {
	t.Parallel()
	var paths []string
	fake := fakejawbone.New(fakejawbone.Config{ClientID: testClientID, ClientSecret: testClientSecret})
	srv := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		fake.ServeHTTP(w, r)
	}))
	access, _ := fake.IssueTokens(nil)
	client := New(Config{ClientID: testClientID, ClientSecret: testClientSecret, APIURL: fakejawbone.APIURL(srv) + "/", Timeout: 2 * time.Second})
	if _, err := client.RecoverRefreshToken(context.Background(), access); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Me(context.Background(), access); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if strings.Contains(p, "//") {
			t.Fatalf("request path %q has a double slash", p)
		}
	}
}
