package fakejawbone

import (
	"net/http"
	"net/url"
	"testing"
)

func membershipURL(base string) string { return APIURL(base) + "/users/@me/PartnerAppMembership" }

// Disconnecting the app ends every grant of the account, and only of that
// account.
func TestDisconnect(t *testing.T) {
	s, ts := NewTestServer(t, testConfig())
	access1, refresh1 := s.IssueTokensFor("ann", nil)
	_, refresh2 := s.IssueTokensFor("ann", []string{"move_read"})
	access2 := tokens(t, postForm(t, TokenURL(ts.URL), refreshParams(refresh2))).AccessToken
	s.SetSignedIn("ann")
	pendingCode := authorize(t, ts.URL) // approved, not yet redeemed
	s.SetSignedIn("")
	otherAccess, otherRefresh := s.IssueTokensFor("ben", nil)
	otherCode := authorize(t, ts.URL) // the default account's

	r := callAPI(t, http.MethodDelete, membershipURL(ts.URL), access2, nil)
	if r.status != http.StatusOK {
		t.Fatalf("DELETE PartnerAppMembership: %d %s, want 200", r.status, r.body)
	}
	if env := envelopeOf(t, r); env.Meta.UserXID != "ann" || env.Meta.Message != "OK" || len(env.Data) != 0 {
		t.Errorf("reply %s, want the envelope of ann's reply with empty data", r.body)
	}
	if n := s.Calls(EndpointMembership); n != 1 {
		t.Errorf("Calls(membership) = %d, want 1", n)
	}

	cases := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"access tokens of the account", func(t *testing.T) {
			for _, a := range []string{access1, access2} {
				if got := meStatus(t, ts.URL, a); got != http.StatusUnauthorized || s.TokenValid(a) {
					t.Errorf("GET /users/@me with a disconnected token: %d, want 401", got)
				}
			}
		}},
		{"refresh tokens of the account", func(t *testing.T) {
			for _, rt := range []string{refresh1, refresh2} {
				if got := oauthErrorCode(t, postForm(t, TokenURL(ts.URL), refreshParams(rt))); got != "invalid_grant" {
					t.Errorf("refresh after disconnect: %q, want invalid_grant", got)
				}
			}
		}},
		{"code the account approved", func(t *testing.T) {
			if got := oauthErrorCode(t, postForm(t, TokenURL(ts.URL), exchangeParams(pendingCode))); got != "invalid_grant" {
				t.Errorf("exchange after disconnect: %q, want invalid_grant", got)
			}
		}},
		{"disconnecting again", func(t *testing.T) {
			if r := callAPI(t, http.MethodDelete, membershipURL(ts.URL), access2, nil); r.status != http.StatusUnauthorized {
				t.Errorf("second DELETE: %d, want 401", r.status)
			}
		}},
		{"other accounts untouched", func(t *testing.T) {
			checkAccount(t, ts.URL, otherAccess, "ben")
			tokens(t, postForm(t, TokenURL(ts.URL), refreshParams(otherRefresh)))
			tokens(t, postForm(t, TokenURL(ts.URL), exchangeParams(otherCode)))
		}},
		{"connecting again", func(t *testing.T) {
			s.SetSignedIn("ann")
			defer s.SetSignedIn("")
			tr := tokens(t, postForm(t, TokenURL(ts.URL), exchangeParams(authorize(t, ts.URL))))
			checkAccount(t, ts.URL, tr.AccessToken, "ann")
		}},
	}
	for _, c := range cases { // in order: they share the server
		t.Run(c.name, c.check)
	}
}

func TestDisconnectErrors(t *testing.T) {
	s, ts := NewTestServer(t, testConfig())
	access, _ := s.IssueTokens(nil)
	cases := []struct {
		name          string
		method, token string
		wantStatus    int
		wantErrorType string
	}{
		{"GET", http.MethodGet, access, http.StatusMethodNotAllowed, "method_not_allowed"},
		{"POST", http.MethodPost, access, http.StatusMethodNotAllowed, "method_not_allowed"},
		{"no token", http.MethodDelete, "", http.StatusUnauthorized, "authentication_error"},
		{"bad token", http.MethodDelete, "bogus", http.StatusUnauthorized, "authentication_error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := callAPI(t, c.method, membershipURL(ts.URL), c.token, url.Values{})
			if r.status != c.wantStatus || envelopeOf(t, r).Meta.ErrorType != c.wantErrorType {
				t.Fatalf("%s: %d %s, want %d with %s", c.method, r.status, r.body, c.wantStatus, c.wantErrorType)
			}
			if c.wantStatus == http.StatusMethodNotAllowed && r.header.Get("Allow") != http.MethodDelete {
				t.Errorf("Allow = %q, want DELETE", r.header.Get("Allow"))
			}
		})
	}
	t.Cleanup(func() {
		if !s.TokenValid(access) {
			t.Errorf("a refused disconnect ended the grant")
		}
	})
}

// The endpoint takes faults like the others: one answers instead of it,
// and the grant survives.
func TestDisconnectFault(t *testing.T) {
	s, ts := NewTestServer(t, testConfig())
	access, _ := s.IssueTokens(nil)
	s.InjectFault(EndpointMembership, Fault{Status: http.StatusBadGateway, Times: 1})
	if r := callAPI(t, http.MethodDelete, membershipURL(ts.URL), access, nil); r.status != http.StatusBadGateway {
		t.Fatalf("status = %d, want the fault's 502", r.status)
	}
	if !s.TokenValid(access) {
		t.Errorf("the faulted disconnect ended the grant")
	}
	if r := callAPI(t, http.MethodDelete, membershipURL(ts.URL), access, nil); r.status != http.StatusOK || s.TokenValid(access) {
		t.Errorf("after the fault: %d, token valid %v; want 200 and the grant gone", r.status, s.TokenValid(access))
	}
	if n := s.Calls(EndpointMembership); n != 2 {
		t.Errorf("Calls(membership) = %d, want 2", n)
	}
}
