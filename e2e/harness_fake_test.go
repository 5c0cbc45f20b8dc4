// The harness: the in-process fake Jawbone, recording every token it issues
// or is shown.

package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// ---------------------------------------------------------------------------
// The fake Jawbone

// Fake is the in-process fake Jawbone on httptest (127.0.0.1), wrapped so
// the test sees every token that crosses the wire.
type Fake struct {
	*fakejawbone.Server
	URL                       string
	AuthURL, TokenURL, APIURL string
	ClientID, ClientSecret    string
	RedirectURI               string

	// client is how the test itself calls the fake (Visit, MeStatus): it
	// follows no redirect and, for a fake served over TLS, trusts its CA.
	client *http.Client

	mu      sync.Mutex
	access  map[string]bool
	refresh map[string]bool
}

type fakeOption func(*fakejawbone.Config)

func withTokenLifetime(d time.Duration) fakeOption {
	return func(c *fakejawbone.Config) { c.TokenLifetime = d }
}

// StartFake starts the fake with a fresh client secret and a redirect URI on
// a free loopback port (nothing listens there: the test reads the redirect
// from the Location header, like a browser's address bar).
func StartFake(t *testing.T, opts ...fakeOption) *Fake {
	t.Helper()
	f := newFake(t, opts)
	f.client = noRedirects
	f.start(t, httptest.NewServer(f.record(f.Server)))
	return f
}

// StartTLSFake is StartFake served over https with cert, which roots (the
// CA that signed it) verifies: the test's own calls trust roots, Vault
// trusts what its config says.
func StartTLSFake(t *testing.T, cert tls.Certificate, roots *x509.CertPool, opts ...fakeOption) *Fake {
	t.Helper()
	f := newFake(t, opts)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	c := *noRedirects
	c.Transport = tr
	f.client = &c
	t.Cleanup(tr.CloseIdleConnections)
	srv := httptest.NewUnstartedServer(f.record(f.Server))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	// The handshakes a test makes fail on purpose are its to check, not
	// noise on the test's stderr.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	f.start(t, srv)
	return f
}

func newFake(t *testing.T, opts []fakeOption) *Fake {
	t.Helper()
	f := &Fake{
		ClientID:     "e2e-client-" + randomHex(t, 4),
		ClientSecret: "e2e-secret-" + randomHex(t, 16),
		RedirectURI:  fmt.Sprintf("http://127.0.0.1:%d/callback", freePort(t)),
		access:       map[string]bool{},
		refresh:      map[string]bool{},
	}
	cfg := fakejawbone.Config{
		ClientID:          f.ClientID,
		ClientSecret:      f.ClientSecret,
		RedirectURIPrefix: f.RedirectURI,
	}
	for _, o := range opts {
		o(&cfg)
	}
	f.Server = fakejawbone.New(cfg)
	return f
}

// start takes srv, already serving the fake on 127.0.0.1, as the fake's
// address.
func (f *Fake) start(t *testing.T, srv *httptest.Server) {
	t.Helper()
	f.closeWith(t, srv)
	f.URL = srv.URL
	f.AuthURL = fakejawbone.AuthURL(f.URL)
	f.TokenURL = fakejawbone.TokenURL(f.URL)
	f.APIURL = fakejawbone.APIURL(f.URL)
}

// serve serves h (the fake, or a handler in front of it) on an httptest
// server of its own on 127.0.0.1 until the test ends, and returns its URL.
func (f *Fake) serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	f.closeWith(t, srv)
	return srv.URL
}

// closeWith stops srv when the test ends.
func (f *Fake) closeWith(t *testing.T, srv *httptest.Server) {
	t.Cleanup(func() {
		f.Server.Close() // releases delayed handlers, which srv.Close waits for
		srv.Close()
	})
}

// record wraps the fake so every access and refresh token in a request or a
// reply is remembered: the secrets the suite must never see leak.
func (f *Fake) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if vals, err := url.ParseQuery(string(body)); err == nil {
				f.remember(vals.Get("refresh_token"), false)
			}
		}
		f.remember(r.URL.Query().Get("refresh_token"), false)
		if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
			f.remember(strings.TrimPrefix(auth, "Bearer "), true)
		}
		rec := &recordingWriter{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		var reply any
		if json.Unmarshal(rec.body.Bytes(), &reply) == nil {
			f.collect(reply)
		}
	})
}

type recordingWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.body.Write(p)
	return w.ResponseWriter.Write(p)
}

func (f *Fake) collect(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok {
				switch k {
				case "access_token":
					f.remember(s, true)
				case "refresh_token":
					f.remember(s, false)
				}
			}
			f.collect(val)
		}
	case []any:
		for _, val := range x {
			f.collect(val)
		}
	}
}

func (f *Fake) remember(tok string, access bool) {
	if tok == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if access {
		f.access[tok] = true
	} else {
		f.refresh[tok] = true
	}
}

// Issue mints a grant directly at the fake (as kiefer would have one) and
// remembers both tokens as secrets.
func (f *Fake) Issue(scopes ...string) (access, refresh string) {
	if len(scopes) == 0 {
		scopes = []string{"basic_read"}
	}
	access, refresh = f.IssueTokens(scopes)
	f.remember(access, true)
	f.remember(refresh, false)
	return access, refresh
}

// SeenAccessTokens and SeenRefreshTokens are every token the fake issued or
// was shown so far.
func (f *Fake) SeenAccessTokens() []string  { return f.seen(true) }
func (f *Fake) SeenRefreshTokens() []string { return f.seen(false) }

func (f *Fake) seen(access bool) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.refresh
	if access {
		m = f.access
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var noRedirects = &http.Client{
	Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// Visit plays the browser: GET the authorization URL and return where the
// fake redirects to, without following it.
func (f *Fake) Visit(t *testing.T, authURL string) string {
	t.Helper()
	if !strings.HasPrefix(authURL, f.AuthURL) {
		t.Fatalf("the authorization URL %q is not at the fake's %q", authURL, f.AuthURL)
	}
	resp, err := f.client.Get(authURL)
	if err != nil {
		t.Fatalf("visiting %s: %v", authURL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther || loc == "" {
		t.Fatalf("visiting %s: want a redirect, got %d (Location %q): %s", authURL, resp.StatusCode, loc, body)
	}
	if !strings.HasPrefix(loc, f.RedirectURI) {
		t.Fatalf("the fake redirected to %q, not to the redirect_uri %q", loc, f.RedirectURI)
	}
	return loc
}

// MeStatus calls GET /users/@me with the token and returns the HTTP status:
// 200 for a working token, 401 for a bad or superseded one.
func (f *Fake) MeStatus(t *testing.T, token string) int {
	t.Helper()
	return f.callAPI(t, http.MethodGet, "/users/@me", token)
}

// callAPI calls the fake's API at path (under api_url) with the token and
// returns the HTTP status.
func (f *Fake) callAPI(t *testing.T, method, path, token string) int {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimRight(f.APIURL, "/")+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body) // drained only to reuse the connection
	resp.Body.Close()
	return resp.StatusCode
}

// requireTokenWorks and requireTokenRejected check a token at the fake's API.
func (f *Fake) requireTokenWorks(t *testing.T, token, what string) {
	t.Helper()
	if st := f.MeStatus(t, token); st != http.StatusOK {
		t.Errorf("%s: GET /users/@me answered %d, want 200", what, st)
	}
}

func (f *Fake) requireTokenRejected(t *testing.T, token, what string) {
	t.Helper()
	if st := f.MeStatus(t, token); st != http.StatusUnauthorized {
		t.Errorf("%s: GET /users/@me answered %d, want 401", what, st)
	}
}

// Disconnect has the account holder of token disconnect the app at the
// fake (DELETE users/@me/PartnerAppMembership), as they could on Jawbone's
// site: none of the app's tokens for that account work afterwards.
func (f *Fake) Disconnect(t *testing.T, token string) {
	t.Helper()
	if st := f.callAPI(t, http.MethodDelete, "/users/@me/PartnerAppMembership", token); st != http.StatusOK {
		t.Fatalf("DELETE PartnerAppMembership answered %d, want 200", st)
	}
}
