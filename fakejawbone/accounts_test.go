package fakejawbone

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Every way to get a grant gives it an account, and the API names that
// account for all of the grant's tokens, also after a refresh.
func TestAccounts(t *testing.T) {
	cfg := testConfig()
	cfg.AccountXID = "jane-doe_1"
	s, ts := NewTestServer(t, cfg)
	viaBrowser := func(t *testing.T) (string, string) {
		t.Helper()
		tr := tokens(t, postForm(t, TokenURL(ts.URL), exchangeParams(authorize(t, ts.URL))))
		return tr.AccessToken, tr.RefreshToken
	}
	cases := []struct {
		name  string
		grant func(t *testing.T) (access, refresh string)
		want  string
	}{
		{"IssueTokens", func(*testing.T) (string, string) { return s.IssueTokens(nil) }, "jane-doe_1"},
		{"IssueTokensFor", func(*testing.T) (string, string) { return s.IssueTokensFor("bob", nil) }, "bob"},
		{"IssueTokensFor the default", func(*testing.T) (string, string) { return s.IssueTokensFor("", nil) }, "jane-doe_1"},
		{"browser", viaBrowser, "jane-doe_1"},
		{"browser signed in as another", func(t *testing.T) (string, string) {
			s.SetSignedIn("carol")
			defer s.SetSignedIn("")
			return viaBrowser(t)
		}, "carol"},
		{"code approved before signing out", func(t *testing.T) (string, string) {
			s.SetSignedIn("dave")
			code := authorize(t, ts.URL)
			s.SetSignedIn("")
			tr := tokens(t, postForm(t, TokenURL(ts.URL), exchangeParams(code)))
			return tr.AccessToken, tr.RefreshToken
		}, "dave"},
		{"signed out again", viaBrowser, "jane-doe_1"},
	}
	for _, c := range cases { // in order: the signed-in account is shared
		t.Run(c.name, func(t *testing.T) {
			access, refresh := c.grant(t)
			checkAccount(t, ts.URL, access, c.want)
			if got, ok := s.AccountOf(access); !ok || got != c.want {
				t.Errorf("AccountOf = %q, %v; want %q", got, ok, c.want)
			}
			recovered := callAPI(t, http.MethodPost, APIURL(ts.URL)+"/users/@me/refreshToken", access,
				url.Values{"secret": {testClientSecret}})
			if got := envelopeOf(t, recovered).Meta.UserXID; got != c.want {
				t.Errorf("refreshToken: meta.user_xid = %q, want %q", got, c.want)
			}
			renewed := tokens(t, postForm(t, TokenURL(ts.URL), refreshParams(refresh)))
			checkAccount(t, ts.URL, renewed.AccessToken, c.want)
			if got, ok := s.AccountOf(access); ok {
				t.Errorf("AccountOf a superseded token = %q, want not ok", got)
			}
		})
	}
}

// checkAccount checks that GET /users/@me with access names account xid.
func checkAccount(t *testing.T, base, access, xid string) {
	t.Helper()
	r := callAPI(t, http.MethodGet, APIURL(base)+"/users/@me", access, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /users/@me: %d %s", r.status, r.body)
	}
	env := envelopeOf(t, r)
	if env.Meta.UserXID != xid || env.Data["xid"] != xid {
		t.Errorf("GET /users/@me: meta.user_xid %q, data.xid %v; want %q", env.Meta.UserXID, env.Data["xid"], xid)
	}
}

func TestDefaultAccount(t *testing.T) {
	t.Parallel()
	a, b := New(testConfig()), New(testConfig())
	if ValidateAccountXID(a.DefaultAccount()) != nil || a.DefaultAccount() == b.DefaultAccount() {
		t.Errorf("random default accounts %q and %q: want two different valid xids", a.DefaultAccount(), b.DefaultAccount())
	}
	cfg := testConfig()
	cfg.AccountXID = "fixed"
	if got := New(cfg).DefaultAccount(); got != "fixed" {
		t.Errorf("DefaultAccount = %q, want Config.AccountXID", got)
	}
}

var accountInput = regexp.MustCompile(`<input type="text" id="account" name="account" value="([^"]*)" maxlength="64"`)

// The consent page signs in as the account typed into "Sign in as",
// prefilled with the signed-in one.
func TestConsentAccount(t *testing.T) {
	cfg := testConfig()
	cfg.ConsentPage = true
	s, ts := NewTestServer(t, cfg)
	s.SetSignedIn("dave")
	page := get(t, AuthURL(ts.URL)+"?"+authParams("basic_read", "st").Encode())
	m := accountInput.FindStringSubmatch(page.body)
	if m == nil || html.UnescapeString(m[1]) != "dave" || !strings.Contains(page.body, `<label for="account">Sign in as</label>`) {
		t.Fatalf("consent page has no \"Sign in as\" prefilled with dave:\n%s", page.body)
	}
	long := strings.Repeat("x", 65)
	cases := []struct {
		name       string
		account    []string // the field's values; nil = no field
		wantStatus int
		want       string // the grant's account
	}{
		{"prefilled", []string{"dave"}, http.StatusFound, "dave"},
		{"another account", []string{"erin"}, http.StatusFound, "erin"},
		{"emptied", []string{""}, http.StatusFound, "dave"},
		{"no field", nil, http.StatusFound, "dave"},
		{"longest", []string{long[:64]}, http.StatusFound, long[:64]},
		{"too long", []string{long}, http.StatusBadRequest, ""},
		{"space", []string{"eve mallory"}, http.StatusBadRequest, ""},
		{"markup", []string{`"><script>`}, http.StatusBadRequest, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			post := authParams("basic_read", "st")
			post.Set("decision", "allow")
			if c.account != nil {
				post["account"] = c.account
			}
			r := postForm(t, AuthURL(ts.URL), post)
			if r.status != c.wantStatus {
				t.Fatalf("POST: %d %s, want %d", r.status, r.body, c.wantStatus)
			}
			if c.wantStatus != http.StatusFound {
				if !strings.Contains(r.body, "account xid") {
					t.Errorf("error page %q does not name the account", r.body)
				}
				return
			}
			tr := tokens(t, postForm(t, TokenURL(ts.URL), exchangeParams(r.location(t).Query().Get("code"))))
			checkAccount(t, ts.URL, tr.AccessToken, c.want)
		})
	}
}

func TestValidateAccountXID(t *testing.T) {
	cases := []struct {
		name, xid string
		ok        bool
	}{
		{"letters and digits", "Ab09", true},
		{"underscore and dash", "_-_", true},
		{"22 base64url characters", "Q2xpZW50X3hpZF8xMjM0NQ", true},
		{"64 characters", strings.Repeat("a", 64), true},
		{"empty", "", false},
		{"65 characters", strings.Repeat("a", 65), false},
		{"space", "a b", false},
		{"slash", "a/b", false},
		{"at", "@me", false},
		{"non-ASCII letter", "jäne", false},
		{"newline", "a\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if err := ValidateAccountXID(c.xid); (err == nil) != c.ok {
				t.Errorf("ValidateAccountXID(%q) = %v, want ok: %v", c.xid, err, c.ok)
			}
		})
	}
}

// An invalid account from a test is a mistake in the test: it panics.
func TestInvalidAccountPanics(t *testing.T) {
	cases := []struct {
		name string
		call func()
	}{
		{"New", func() {
			cfg := testConfig()
			cfg.AccountXID = "no spaces"
			New(cfg)
		}},
		{"SetSignedIn", func() { New(testConfig()).SetSignedIn("a/b") }},
		{"IssueTokensFor", func() { New(testConfig()).IssueTokensFor(strings.Repeat("a", 65), nil) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Errorf("%s with an invalid account did not panic", c.name)
				}
			}()
			c.call()
		})
	}
}
