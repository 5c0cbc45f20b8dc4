package jawbone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

func TestClientRefreshClassifiesFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		fault      fakejawbone.Fault
		kind       Kind
		wants      []string
		retryAfter time.Duration
	}{
		{"invalid_grant", fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_grant","error_description":"bad token"}`}, GrantRejected, []string{"HTTP 400", "invalid_grant", "bad token"}, 0},
		{"invalid_client", fakejawbone.Fault{Status: 401, Body: `{"error":"invalid_client"}`}, ClientRejected, []string{"invalid_client"}, 0},
		// Only invalid_grant says the grant is dead: a reply without an OAuth
		// error comes from a proxy, a firewall or a wrong token_url.
		{"plain 400", fakejawbone.Fault{Status: 400, Body: "no"}, ClientRejected, []string{"HTTP 400"}, 0},
		{"plain 401", fakejawbone.Fault{Status: 401, Body: "<html>login</html>", ContentType: "text/html"}, ClientRejected, []string{"HTTP 401"}, 0},
		{"invalid_scope", fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_scope"}`}, ClientRejected, []string{"invalid_scope"}, 0},
		{"a redirect", fakejawbone.Fault{Status: 302, Header: map[string][]string{"Location": {"https://sso.example/login?next=%2F"}}}, ClientRejected, []string{"HTTP 302", "a redirect to https://sso.example/login"}, 0},
		{"404: not a token endpoint", fakejawbone.Fault{Status: 404, Body: "no such page"}, ClientRejected, []string{"HTTP 404"}, 0},
		{"500", fakejawbone.Fault{Status: 500, Body: "oops"}, Transient, []string{"HTTP 500"}, 0},
		{"502", fakejawbone.Fault{Status: 502, Body: "<html>bad gateway</html>", ContentType: "text/html"}, Transient, []string{"HTTP 502"}, 0},
		{"503 server_error", fakejawbone.Fault{Status: 503, Body: `{"error":"server_error"}`}, Transient, []string{"server_error"}, 0},
		{"429 with Retry-After", fakejawbone.Fault{Status: 429, RetryAfter: "42"}, Transient, []string{"HTTP 429"}, 42 * time.Second},
		{"429 without Retry-After", fakejawbone.Fault{Status: 429}, Transient, []string{"HTTP 429"}, 0},
		{"malformed json", fakejawbone.Fault{Status: 200, Body: `{"access_token":`}, Transient, []string{"not a token reply"}, 0},
		{"200 with an oauth error", fakejawbone.Fault{Status: 200, Body: `{"error":"invalid_grant"}`}, GrantRejected, []string{"invalid_grant"}, 0},
		{"no access_token", fakejawbone.Fault{Status: 200, Body: `{"token_type":"Bearer","expires_in":10}`}, Transient, []string{"not a token reply"}, 0},
		{"oversized body", fakejawbone.Fault{OversizeBytes: 3 << 20}, Transient, []string{"refresh failed"}, 0},
		{"timeout", fakejawbone.Fault{Delay: time.Minute}, Transient, []string{"timed out"}, 0},
		{"slow drip", fakejawbone.Fault{Status: 200, Body: strings.Repeat(" ", 100) + "{}", DripBody: true, DripInterval: 50 * time.Millisecond}, Transient, []string{"refresh failed"}, 0},
		{"connection dropped", fakejawbone.Fault{CloseConnection: true}, Transient, []string{"refresh failed"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, fake := testClient(t)
			_, refresh := fake.IssueTokens([]string{"basic_read"})
			fake.InjectFault(fakejawbone.EndpointToken, tc.fault)
			_, err := client.Refresh(context.Background(), refresh)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			if KindOf(err) != tc.kind {
				t.Fatalf("kind = %v for %v, want %v", KindOf(err), err, tc.kind)
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
	// Not parallel: the freed port must stay free, and a parallel test's
	// server could be given it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now
	client := New(Config{
		ClientID: "c", ClientSecret: "s", TokenURL: "http://" + addr + "/token",
		APIURL: "http://" + addr, Timeout: time.Second,
	})
	if _, err := client.Refresh(context.Background(), "r"); err == nil || KindOf(err) == GrantRejected {
		t.Fatalf("connection refused: err=%v permanent=%v", err, (KindOf(err) == GrantRejected))
	}
	if _, err := client.RecoverRefreshToken(context.Background(), "a"); err == nil || KindOf(err) == GrantRejected {
		t.Fatalf("connection refused on recovery: err=%v", err)
	}
}

func TestProviderErrorsNeverCarryTheSecret(t *testing.T) {
	t.Parallel()
	client, fake := testClient(t)
	fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_client"}`})
	_, err := client.Refresh(context.Background(), "some-refresh-token")
	if err == nil || strings.Contains(err.Error(), testClientSecret) || strings.Contains(err.Error(), "some-refresh-token") {
		t.Fatalf("error %v leaks a secret", err)
	}
}

// What a server says reaches an error only through the OAuth fields, cut
// short and without control characters; the rest of its body never does
// (a config writer could otherwise read a local service's replies), and it
// is logged at debug level with every secret the request carried blanked.
func TestRepliesNeverReachAnErrorRaw(t *testing.T) {
	t.Parallel()
	client, fake := testClient(t)
	var logged []string
	client.debug = func(msg string, kv ...any) { logged = append(logged, fmt.Sprint(append([]any{msg}, kv...)...)) }
	_, refresh := fake.IssueTokens(nil)
	cases := []struct {
		name  string
		fault fakejawbone.Fault
	}{
		{"an HTML page", fakejawbone.Fault{Status: 500, ContentType: "text/html", Body: "<html>internal-service-banner v1.2 " + refresh + " " + testClientSecret + "</html>"}},
		{"an OAuth error with a long description", fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_request","error_description":"internal-service-banner` + strings.Repeat("x", 500) + "\u0007\n" + `"}`}},
	}
	for _, tc := range cases {
		fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Times: 1, Status: tc.fault.Status, ContentType: tc.fault.ContentType, Body: tc.fault.Body})
		_, err := client.Refresh(context.Background(), refresh)
		var je *Error
		if !errors.As(err, &je) {
			t.Fatalf("%s: %v", tc.name, err)
		}
		msg := err.Error()
		if strings.Contains(msg, "<html>") || len(je.Description) > maxDescriptionLen+len("…") || strings.ContainsAny(msg, "\a\n") {
			t.Fatalf("%s: the error carries the raw reply: %q", tc.name, msg)
		}
		if tc.fault.ContentType == "text/html" && strings.Contains(msg, "internal-service-banner") {
			t.Fatalf("%s: the error echoes the body: %q", tc.name, msg)
		}
	}
	joined := strings.Join(logged, "\n")
	if !strings.Contains(joined, "internal-service-banner") || strings.Contains(joined, refresh) || strings.Contains(joined, testClientSecret) {
		t.Fatalf("the debug log should hold the body with its secrets blanked: %q", joined)
	}
}

// Every row of the outcome table (outcomeOfReply): what each answer to a
// refresh and to a disconnect proves about whether Jawbone carried it out.
func TestOutcomeOfEveryAnswer(t *testing.T) {
	t.Parallel()
	const jsonType = "application/json"
	cases := []struct {
		name     string
		endpoint string
		fault    fakejawbone.Fault
		want     Outcome
	}{
		{"refresh: Jawbone's OAuth error", fakejawbone.EndpointToken, fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_grant"}`}, NotCarriedOut},
		{"refresh: Jawbone's server_error", fakejawbone.EndpointToken, fakejawbone.Fault{Status: 500, Body: `{"error":"server_error"}`}, NotCarriedOut},
		{"refresh: 429", fakejawbone.EndpointToken, fakejawbone.Fault{Status: 429}, NotCarriedOut},
		{"refresh: a gateway's 502", fakejawbone.EndpointToken, fakejawbone.Fault{Status: 502}, Unknown},
		{"refresh: a gateway's 504 after Jawbone carried it out", fakejawbone.EndpointToken, fakejawbone.Fault{Status: 504, AfterProcessing: true}, Unknown},
		{"refresh: a proxy's 401", fakejawbone.EndpointToken, fakejawbone.Fault{Status: 401, Body: "<html>login</html>", ContentType: "text/html"}, Unknown},
		{"refresh: a redirect", fakejawbone.EndpointToken, fakejawbone.Fault{Status: 302, Header: http.Header{"Location": {"https://elsewhere.example/"}}}, Unknown},
		{"refresh: a 200 that is not a token reply", fakejawbone.EndpointToken, fakejawbone.Fault{Body: "<html>portal</html>", ContentType: "text/html"}, UnknownFinished},
		{"refresh: the reply lost", fakejawbone.EndpointToken, fakejawbone.Fault{LoseReply: true}, Unknown},
		{"disconnect: Jawbone's 401", fakejawbone.EndpointMembership, fakejawbone.Fault{Status: 401, Body: `{"meta":{"code":401,"error_type":"authentication_error"}}`, ContentType: jsonType}, NotCarriedOut},
		{"disconnect: Jawbone's own 503", fakejawbone.EndpointMembership, fakejawbone.Fault{Status: 503, Body: `{"meta":{"code":503,"error_type":"unavailable"}}`, ContentType: jsonType}, NotCarriedOut},
		{"disconnect: a gateway's 503", fakejawbone.EndpointMembership, fakejawbone.Fault{Status: 503}, Unknown},
		{"disconnect: 429", fakejawbone.EndpointMembership, fakejawbone.Fault{Status: 429}, NotCarriedOut},
		{"disconnect: the reply lost", fakejawbone.EndpointMembership, fakejawbone.Fault{LoseReply: true}, Unknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			client, fake := testClient(t)
			access, refresh := fake.IssueTokens(nil)
			c.fault.Times = 1
			fake.InjectFault(c.endpoint, c.fault)
			var err error
			if c.endpoint == fakejawbone.EndpointToken {
				_, err = client.Refresh(context.Background(), refresh)
			} else {
				err = client.Disconnect(context.Background(), access)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if got := OutcomeOf(err); got != c.want {
				t.Fatalf("outcome %d, want %d (%v)", got, c.want, err)
			}
		})
	}
	t.Run("never sent", func(t *testing.T) {
		t.Parallel()
		client := New(Config{ClientID: testClientID, ClientSecret: testClientSecret, TokenURL: "http://127.0.0.1:1/token", Timeout: time.Second})
		if _, err := client.Refresh(context.Background(), "r"); OutcomeOf(err) != NotCarriedOut {
			t.Fatalf("a refused connection: outcome %d (%v)", OutcomeOf(err), err)
		}
	})
}

// A Retry-After too large for a time.Duration is bounded, not wrapped.
func TestHugeRetryAfterIsBounded(t *testing.T) {
	t.Parallel()
	client, fake := testClient(t)
	_, refresh := fake.IssueTokens(nil)
	fake.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 429, RetryAfter: "18446744073", Times: 1})
	_, err := client.Refresh(context.Background(), refresh)
	if got := RetryAfter(err); got != maxRetryAfterSeconds*time.Second {
		t.Fatalf("Retry-After: 18446744073 reads as %s", got)
	}
}
