package jawbone

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// testClient is a jawboneClient against a fake Jawbone, with a short timeout
// so timeout cases end quickly.
func testClient(t *testing.T) (*jawboneClient, *fakejawbone.Server) {
	t.Helper()
	fake, srv := fakejawbone.NewTestServer(t, fakejawbone.Config{ClientID: testClientID, ClientSecret: testClientSecret})
	cfg := &jawboneConfig{
		ClientID: testClientID, ClientSecret: testClientSecret, RedirectURI: testRedirectURI,
		AuthURL: fake.AuthURL(srv.URL), TokenURL: fake.TokenURL(srv.URL), APIURL: fake.APIURL(srv.URL),
		RequestTimeout: 300 * time.Millisecond,
	}
	return newJawboneClient(cfg, nil), fake
}

func TestClientRefreshClassifiesFailures(t *testing.T) {
	cases := []struct {
		name       string
		fault      fakejawbone.Fault
		permanent  bool
		wants      []string
		retryAfter time.Duration
	}{
		{"invalid_grant", fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_grant","error_description":"bad token"}`}, true, []string{"HTTP 400", "invalid_grant", "bad token"}, 0},
		{"invalid_client", fakejawbone.Fault{Status: 401, Body: `{"error":"invalid_client"}`}, true, []string{"invalid_client"}, 0},
		{"plain 400", fakejawbone.Fault{Status: 400, Body: "no"}, true, []string{"HTTP 400"}, 0},
		{"500", fakejawbone.Fault{Status: 500, Body: "oops"}, false, []string{"HTTP 500"}, 0},
		{"502", fakejawbone.Fault{Status: 502, Body: "<html>bad gateway</html>", ContentType: "text/html"}, false, []string{"HTTP 502"}, 0},
		{"503 server_error", fakejawbone.Fault{Status: 503, Body: `{"error":"server_error"}`}, false, []string{"server_error"}, 0},
		{"429 with Retry-After", fakejawbone.Fault{Status: 429, RetryAfter: "42"}, false, []string{"HTTP 429"}, 42 * time.Second},
		{"429 without Retry-After", fakejawbone.Fault{Status: 429}, false, []string{"HTTP 429"}, 0},
		{"malformed json", fakejawbone.Fault{Status: 200, Body: `{"access_token":`}, false, []string{"cannot parse"}, 0},
		{"200 with an oauth error", fakejawbone.Fault{Status: 200, Body: `{"error":"invalid_grant"}`}, true, []string{"invalid_grant"}, 0},
		{"no access_token", fakejawbone.Fault{Status: 200, Body: `{"token_type":"Bearer","expires_in":10}`}, false, []string{"missing access_token"}, 0},
		{"oversized body", fakejawbone.Fault{OversizeBytes: 3 << 20}, false, []string{"refresh failed"}, 0},
		{"timeout", fakejawbone.Fault{Delay: time.Minute}, false, []string{"timed out"}, 0},
		{"slow drip", fakejawbone.Fault{Status: 200, Body: strings.Repeat(" ", 100) + "{}", DripBody: true, DripInterval: 50 * time.Millisecond}, false, []string{"refresh failed"}, 0},
		{"connection dropped", fakejawbone.Fault{CloseConnection: true}, false, []string{"refresh failed"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, fake := testClient(t)
			_, refresh := fake.IssueTokens([]string{"basic_read"})
			fake.InjectFault(fakejawbone.EndpointToken, tc.fault)
			_, err := client.Refresh(context.Background(), refresh)
			var pe *providerError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a providerError", err, err)
			}
			if isPermanent(err) != tc.permanent {
				t.Fatalf("permanent = %v for %v", isPermanent(err), err)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("%q does not mention %q", err, w)
				}
			}
			if pe.RetryAfter != tc.retryAfter {
				t.Fatalf("RetryAfter %s, want %s", pe.RetryAfter, tc.retryAfter)
			}
		})
	}
}

func TestClientConnectionRefusedIsTransient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now
	client := newJawboneClient(&jawboneConfig{
		ClientID: "c", ClientSecret: "s", TokenURL: "http://" + addr + "/token",
		APIURL: "http://" + addr, RequestTimeout: time.Second,
	}, nil)
	if _, err := client.Refresh(context.Background(), "r"); err == nil || isPermanent(err) {
		t.Fatalf("connection refused: err=%v permanent=%v", err, isPermanent(err))
	}
	if _, err := client.RecoverRefreshToken(context.Background(), "a"); err == nil || isPermanent(err) {
		t.Fatalf("connection refused on recovery: err=%v", err)
	}
}

// The token endpoint sees a POST form with client credentials as parameters,
// never HTTP Basic: the fake rejects Basic-only credentials.
func TestClientSendsCredentialsAsFormParams(t *testing.T) {
	var seen url.Values
	var basic bool
	fake := fakejawbone.New(fakejawbone.Config{ClientID: testClientID, ClientSecret: testClientSecret})
	spy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/token") {
			_, _, basic = r.BasicAuth()
			r.ParseForm()
			seen = r.PostForm
		}
		fake.ServeHTTP(w, r)
	})
	srv := newLoopbackServer(t, spy)
	_, refresh := fake.IssueTokens(nil)
	client := newJawboneClient(&jawboneConfig{ClientID: testClientID, ClientSecret: testClientSecret,
		TokenURL: fake.TokenURL(srv), RequestTimeout: time.Second}, nil)
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
	client, fake := testClient(t)
	access, refresh := fake.IssueTokens(nil)
	got, err := client.RecoverRefreshToken(context.Background(), access)
	if err != nil || got != refresh {
		t.Fatalf("recovered %q, %v; want the grant's refresh token", got, err)
	}
	_, err = client.RecoverRefreshToken(context.Background(), "not-a-token")
	if !isPermanent(err) || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("bad token: %v", err)
	}
	fake.InjectFault(fakejawbone.EndpointRefreshToken, fakejawbone.Fault{Status: 200, Body: `{"meta":{"code":200},"data":{}}`, Times: 1})
	if _, err := client.RecoverRefreshToken(context.Background(), access); err == nil || isPermanent(err) || !strings.Contains(err.Error(), "no data.refresh_token") {
		t.Fatalf("empty data: %v", err)
	}
	fake.InjectFault(fakejawbone.EndpointRefreshToken, fakejawbone.Fault{Status: 503, Times: 1})
	if _, err := client.RecoverRefreshToken(context.Background(), access); err == nil || isPermanent(err) {
		t.Fatalf("503: %v", err)
	}
}

func TestProviderErrorsNeverCarryTheSecret(t *testing.T) {
	client, fake := testClient(t)
	fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_client"}`})
	_, err := client.Refresh(context.Background(), "some-refresh-token")
	if err == nil || strings.Contains(err.Error(), testClientSecret) || strings.Contains(err.Error(), "some-refresh-token") {
		t.Fatalf("error %v leaks a secret", err)
	}
}
