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
	if KindOf(err) != GrantRejected || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("bad token: %v", err)
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
		if tok.AccessToken == "" || tok.ExpiresIn <= 0 {
			t.Fatalf("accepted an unusable token %+v from %d %q", tok, status, body)
		}
	})
}
