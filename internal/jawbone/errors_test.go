package jawbone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
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

// Whatever a server says about a request, in the fields meant for its
// words (an OAuth error, the API's error_type and error_detail, where a
// redirect points), never repeats a secret the request carried: common
// OAuth servers echo the refresh token ("Wrong client for this refresh
// token: …") or the client credentials. Each secret is blanked, raw or
// URL-encoded, before the text is cut to its bound, so that no prefix of
// one survives the cut either.
func TestProviderWordsNeverRepeatASecret(t *testing.T) {
	t.Parallel()
	type call func(c *Client, secret string) error
	cases := []struct {
		name     string
		endpoint string
		call     call
		echo     func(said string) fakejawbone.Fault
	}{
		{"refresh, OAuth error", fakejawbone.EndpointToken,
			func(c *Client, s string) error { _, err := c.Refresh(context.Background(), s); return err },
			func(said string) fakejawbone.Fault {
				return fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_client","error_description":` + quoteJSON(said) + `}`}
			}},
		{"exchange, OAuth error", fakejawbone.EndpointToken,
			func(c *Client, s string) error { _, err := c.Exchange(context.Background(), s); return err },
			func(said string) fakejawbone.Fault {
				return fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_grant","error_description":` + quoteJSON(said) + `}`}
			}},
		{"refresh, OAuth error code", fakejawbone.EndpointToken,
			func(c *Client, s string) error { _, err := c.Refresh(context.Background(), s); return err },
			func(said string) fakejawbone.Fault {
				return fakejawbone.Fault{Status: 400, Body: `{"error":` + quoteJSON(said) + `}`}
			}},
		{"refresh, a redirect", fakejawbone.EndpointToken,
			func(c *Client, s string) error { _, err := c.Refresh(context.Background(), s); return err },
			func(said string) fakejawbone.Fault {
				return fakejawbone.Fault{Status: 302, Header: http.Header{"Location": {"https://sso.example/" + url.PathEscape(said)}}}
			}},
		{"check access token, API error", fakejawbone.EndpointMe,
			func(c *Client, s string) error { _, err := c.Me(context.Background(), s); return err },
			func(said string) fakejawbone.Fault { return apiErrorFault(401, said) }},
		{"recover refresh token, API error", fakejawbone.EndpointRefreshToken,
			func(c *Client, s string) error { _, err := c.RecoverRefreshToken(context.Background(), s); return err },
			func(said string) fakejawbone.Fault { return apiErrorFault(400, said) }},
		{"disconnect, API error", fakejawbone.EndpointMembership,
			func(c *Client, s string) error { return c.Disconnect(context.Background(), s) },
			func(said string) fakejawbone.Fault { return apiErrorFault(403, said) }},
	}
	const sent = "sent-Secret/Value+with=odd~chars_0123456789abcdef"
	echoes := map[string]string{
		"the request's secret":             "Wrong client for this refresh token: " + sent,
		"it URL-encoded":                   "token=" + url.QueryEscape(sent) + " rejected",
		"the client secret":                "client_id=" + testClientID + "&client_secret=" + testClientSecret,
		"a secret across the length bound": strings.Repeat("x", maxDescriptionLen-10) + sent,
	}
	for _, tc := range cases {
		for what, said := range echoes {
			t.Run(tc.name+": "+what, func(t *testing.T) {
				t.Parallel()
				client, fake := testClient(t)
				fake.InjectFault(tc.endpoint, tc.echo(said))
				err := tc.call(client, sent)
				var je *Error
				if !errors.As(err, &je) {
					t.Fatalf("%v (%T) is not an *Error", err, err)
				}
				msg := err.Error()
				for _, secret := range []string{sent, url.QueryEscape(sent), url.PathEscape(sent), sent[:12], testClientSecret} {
					if strings.Contains(msg, secret) {
						t.Fatalf("the error repeats %q: %s", secret, msg)
					}
				}
				if len(je.Description) > maxDescriptionLen+len("…") || len(je.Code) > maxCodeLen+len("…") {
					t.Fatalf("what the server said is not bounded: code %d, description %d bytes", len(je.Code), len(je.Description))
				}
			})
		}
	}
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// apiErrorFault is an API error in Jawbone's envelope that says said.
func apiErrorFault(status int, said string) fakejawbone.Fault {
	return fakejawbone.Fault{Status: status, Body: fmt.Sprintf(`{"meta":{"code":%d,"error_type":"bad_request","error_detail":%s},"data":{}}`, status, quoteJSON(said))}
}

// A reply that can hold a refresh token (any JSON reply: a token reply,
// the recovery's data.refresh_token) is never logged, not even at debug
// level: a token it holds is no secret the request carried, so blanking
// those cannot catch it. Its shape is logged instead: its keys and length.
func TestRepliesThatCanHoldATokenAreLoggedByShape(t *testing.T) {
	t.Parallel()
	const issued = "RT-issued-by-the-server-0123456789"
	cases := []struct {
		name     string
		endpoint string
		call     func(c *Client) error
		fault    fakejawbone.Fault
		keys     []string
	}{
		{"recovery reply outside the envelope", fakejawbone.EndpointRefreshToken,
			func(c *Client) error {
				_, err := c.RecoverRefreshToken(context.Background(), "an-access-token")
				return err
			},
			fakejawbone.Fault{Status: 200, Body: `{"meta":{"code":201},"data":{"refresh_token":"` + issued + `"}}`},
			[]string{"data.refresh_token", "meta.code"}},
		{"recovery reply that is not JSON", fakejawbone.EndpointRefreshToken,
			func(c *Client) error {
				_, err := c.RecoverRefreshToken(context.Background(), "an-access-token")
				return err
			},
			fakejawbone.Fault{Status: 200, ContentType: "text/plain", Body: "refresh_token=" + issued},
			nil},
		{"token error reply carrying a token", fakejawbone.EndpointToken,
			func(c *Client) error { _, err := c.Refresh(context.Background(), "a-refresh-token"); return err },
			fakejawbone.Fault{Status: 400, Body: `{"error":"invalid_request","refresh_token":"` + issued + `"}`},
			[]string{"error", "refresh_token"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, fake := testClient(t)
			var logged []string
			var mu sync.Mutex
			client.debug = func(msg string, kv ...any) {
				mu.Lock()
				defer mu.Unlock()
				logged = append(logged, fmt.Sprint(append([]any{msg}, kv...)...))
			}
			fake.InjectFault(tc.endpoint, tc.fault)
			if err := tc.call(client); err == nil {
				t.Fatal("the call succeeded")
			}
			mu.Lock()
			defer mu.Unlock()
			joined := strings.Join(logged, "\n")
			if joined == "" {
				t.Fatal("nothing was logged about the unexpected reply")
			}
			if strings.Contains(joined, issued) || strings.Contains(joined, issued[:10]) {
				t.Fatalf("the debug log holds the token the reply carried: %s", joined)
			}
			for _, k := range tc.keys {
				if !strings.Contains(joined, k) {
					t.Fatalf("the debug log does not name the reply's key %s: %s", k, joined)
				}
			}
			if !strings.Contains(joined, strconv.Itoa(len(tc.fault.Body))) {
				t.Fatalf("the debug log does not give the reply's length %d: %s", len(tc.fault.Body), joined)
			}
		})
	}
}
