package fakejawbone

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"testing"
)

func mintParams(extra url.Values) url.Values {
	p := url.Values{"client_id": {testClientID}, "client_secret": {testClientSecret}}
	maps.Copy(p, extra)
	return p
}

// The mint endpoint hands out a working grant to a caller with the app's
// credentials in the form, and to no one else.
func TestMint(t *testing.T) {
	cfg := testConfig()
	cfg.AccountXID = "demo-user"
	s, ts := NewTestServer(t, cfg)
	s.InjectFault(EndpointToken, Fault{Status: http.StatusServiceUnavailable}) // faults are for Jawbone's endpoints
	credsQuery := "?" + url.Values{"client_id": {testClientID}, "client_secret": {testClientSecret}}.Encode()
	cases := []struct {
		name        string
		method      string
		query       string
		form        url.Values
		wantStatus  int
		wantError   string
		wantAccount string
	}{
		{"defaults", http.MethodPost, "", mintParams(nil), http.StatusOK, "", "demo-user"},
		{"scope and account", http.MethodPost, "",
			mintParams(url.Values{"scope": {"basic_read move_read"}, "account": {"other_1"}}), http.StatusOK, "", "other_1"},
		{"empty account", http.MethodPost, "", mintParams(url.Values{"account": {""}}), http.StatusOK, "", "demo-user"},
		{"wrong secret", http.MethodPost, "", mintParams(url.Values{"client_secret": {"guess"}}),
			http.StatusBadRequest, "invalid_client", ""},
		{"wrong client", http.MethodPost, "", mintParams(url.Values{"client_id": {"other"}}),
			http.StatusBadRequest, "invalid_client", ""},
		{"no credentials", http.MethodPost, "", url.Values{}, http.StatusBadRequest, "invalid_client", ""},
		{"credentials in the query", http.MethodPost, credsQuery, url.Values{}, http.StatusBadRequest, "invalid_client", ""},
		{"unknown scope", http.MethodPost, "", mintParams(url.Values{"scope": {"fly_read"}}),
			http.StatusBadRequest, "invalid_scope", ""},
		{"bad account", http.MethodPost, "", mintParams(url.Values{"account": {"a b"}}),
			http.StatusBadRequest, "invalid_request", ""},
		{"GET", http.MethodGet, credsQuery, nil, http.StatusMethodNotAllowed, "invalid_request", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := do(t, newRequest(t, c.method, MintURL(ts.URL)+c.query, c.form))
			if r.status != c.wantStatus || r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("%s: %d %q %s, want %d in JSON", c.method, r.status, r.header.Get("Content-Type"), r.body, c.wantStatus)
			}
			if c.wantError != "" {
				var e oauthError
				if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Code != c.wantError || e.Description == "" {
					t.Errorf("reply %s, want error %q with a description", r.body, c.wantError)
				}
				return
			}
			checkMinted(t, s, ts.URL, r, c.wantAccount)
		})
	}
	t.Cleanup(func() {
		// refreshToken is left out: checkMinted calls it.
		for _, e := range []string{EndpointAuth, EndpointToken, EndpointMe, EndpointMembership} {
			if n := s.Calls(e); n != 0 {
				t.Errorf("Calls(%s) = %d, want 0: mint is not Jawbone's", e, n)
			}
		}
	})
}

// checkMinted checks a mint reply: exactly its four fields, and a grant of
// account that the API accepts.
func checkMinted(t *testing.T, s *Server, base string, r reply, account string) {
	t.Helper()
	var fields map[string]any
	if err := json.Unmarshal([]byte(r.body), &fields); err != nil {
		t.Fatalf("mint reply %q: %v", r.body, err)
	}
	want := []string{"access_token", "expires_in", "refresh_token", "user_xid"}
	if got := slices.Sorted(maps.Keys(fields)); !slices.Equal(got, want) {
		t.Errorf("mint reply fields = %v, want %v", got, want)
	}
	var m mintReply
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatal(err)
	}
	if m.UserXID != account || m.ExpiresIn != 31536000 || m.RefreshToken == "" {
		t.Errorf("mint reply %s, want account %q, a year and a refresh token", r.body, account)
	}
	if got, ok := s.AccountOf(m.AccessToken); !ok || got != account {
		t.Errorf("AccountOf(minted) = %q, %v; want %q", got, ok, account)
	}
	recovered := callAPI(t, http.MethodPost, APIURL(base)+"/users/@me/refreshToken", m.AccessToken,
		url.Values{"secret": {testClientSecret}})
	if got := envelopeOf(t, recovered).Data["refresh_token"]; got != m.RefreshToken {
		t.Errorf("the API recovers %v for the minted access token, want the minted refresh token", got)
	}
}
