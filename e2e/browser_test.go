package e2e

// The flow without copy-paste, as a person does it: a real headless Chromium
// opens the URL from `vault read jawbone/auth-url`, clicks Allow (or Deny) on
// the fake Jawbone's consent page, and lands on the plugin's callback page
// served by a real Vault at /v1/jawbone/callback. Also a bad-input sweep of
// the callback over plain HTTP.
//
// Chromium is Debian's package (scripts/install-chromium.sh, run by
// `make e2e`); CHROMIUM_BIN overrides /usr/bin/chromium. It is driven over
// the DevTools protocol with chromedp, through a pipe (no debugging port).
// Screenshots of the final pages are saved in e2e/artifacts/.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

const (
	defaultChromium = "/usr/bin/chromium"
	browserTimeout  = 60 * time.Second
)

// callbackHeaders are the page's security headers. Vault drops headers a
// plugin sets unless the mount lists them in allowed_response_headers.
var callbackHeaders = []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"}

// callbackSetup is a dev Vault with the plugin, and a fake Jawbone whose
// registered redirect URI is Vault's own callback.
type callbackSetup struct {
	v           *Vault
	f           *Fake
	callbackURL string
}

// withRedirect registers uri at the fake as the app's redirect URI.
func withRedirect(uri string) fakeOption {
	return func(c *fakejawbone.Config) { c.RedirectURIPrefix = uri }
}

// withConsentPage makes the fake show its Allow/Deny page.
func withConsentPage() fakeOption {
	return func(c *fakejawbone.Config) { c.ConsentPage = true }
}

// startCallbackSetup configures jawbone/ with redirect_uri pointing at
// Vault's /v1/jawbone/callback. tune also lets the page's security headers
// through, as the README advises.
func startCallbackSetup(t *testing.T, tune bool, opts ...fakeOption) *callbackSetup {
	t.Helper()
	v := StartVaultWithPlugin(t)
	cb := v.Addr + "/v1/" + mountPath + "/callback"
	f := StartFake(t, append(opts, withRedirect(cb))...)
	f.RedirectURI = cb
	v.ConfigureFor(f)
	if tune {
		args := []string{"secrets", "tune"}
		for _, h := range callbackHeaders {
			args = append(args, "-allowed-response-headers="+h)
		}
		v.MustCLI(append(args, mountPath+"/")...)
	}
	return &callbackSetup{v: v, f: f, callbackURL: cb}
}

// authURL reads jawbone/auth-url as the CLI user would, and checks that the
// reply says the callback is in use (nothing to paste).
func (s *callbackSetup) authURL(t *testing.T, kv ...string) string {
	t.Helper()
	sec := s.v.ReadJSON(mountPath+"/auth-url", kv...)
	if inUse, _ := sec.Data["callback_in_use"].(bool); !inUse {
		t.Fatalf("auth-url says callback_in_use=%v with redirect_uri %s: %v", sec.Data["callback_in_use"], s.callbackURL, sec.Data)
	}
	u, _ := sec.Data["url"].(string)
	if !strings.HasPrefix(u, s.f.AuthURL+"?") {
		t.Fatalf("auth-url returned %q, not a URL at the fake %s", u, s.f.AuthURL)
	}
	return u
}

// secrets is everything that must never show on a page.
func (s *callbackSetup) secrets() map[string][]string {
	return map[string][]string{
		"client secret": {s.f.ClientSecret},
		"access token":  s.f.SeenAccessTokens(),
		"refresh token": s.f.SeenRefreshTokens(),
		"root token":    {s.v.Token},
	}
}

// ---------------------------------------------------------------------------
// The browser

// browser is one headless Chromium with a fresh profile, stopped (by its own
// process, through chromedp's allocator) when the test ends.
type browser struct {
	ctx     context.Context // the tab
	logPath string
}

func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CHROMIUM_BIN")
	if p == "" {
		p = defaultChromium
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no Chromium at %s (%v): run scripts/install-chromium.sh (make e2e does), or set CHROMIUM_BIN", p, err)
	}
	return p
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	bin := chromiumPath(t)
	// Created before the browser's stop is registered, so they are removed
	// after Chromium has exited.
	profile := filepath.Join(t.TempDir(), "profile")
	home := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "chromium.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		// The flags the machine needs: it has no network, and without these
		// Chromium tries to reach outside.
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		// Quiet and small: no crash reporter, extensions, default apps,
		// translate prompts or /dev/shm (tiny in containers).
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1000, 720),
		chromedp.Env("HOME=" + home),
		chromedp.CombinedOutput(logf),
	}
	allocCtx, stopAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tabCtx, closeTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		closeTab()
		stopAlloc() // cancels the browser and waits for its process
		logf.Close()
	})
	t.Cleanup(func() { dumpLogOnFailure(t, "chromium", logPath) })
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Logf("started %s (profile %s)", bin, profile)
	return &browser{ctx: tabCtx, logPath: logPath}
}

// step runs one browser action with a deadline.
func step[T any](t *testing.T, b *browser, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// navigation runs actions that load a page (a navigation, a click on a form
// button) and returns the HTTP response of the page that finally loads,
// after any redirects.
func navigation(t *testing.T, b *browser, what string, actions ...chromedp.Action[chromedp.Void]) *network.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
	if resp == nil {
		t.Fatalf("browser: %s: no page loaded", what)
	}
	return resp
}

// screenshot saves the whole page as e2e/artifacts/<name>.png and prints
// where.
func screenshot(t *testing.T, b *browser, name string) {
	t.Helper()
	png := step(t, b, "screenshot "+name, chromedp.FullScreenshot(100))
	dir := filepath.Join(loadEnv(t).RepoRoot, "e2e", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// requireCallbackPage checks the page the browser landed on: Vault's
// callback, with status, headers and text as a person would see them.
func (s *callbackSetup) requireCallbackPage(t *testing.T, b *browser, resp *network.Response, status int, wants ...string) {
	t.Helper()
	loc := step(t, b, "read the location", chromedp.Location())
	if !strings.HasPrefix(loc, s.callbackURL+"?") {
		t.Fatalf("the browser is at %s, not at Vault's callback %s", loc, s.callbackURL)
	}
	if int(resp.Status) != status {
		t.Errorf("the callback page answered HTTP %d, want %d", resp.Status, status)
	}
	if ct := header(resp.Headers, "Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("the callback page is %q, want text/html", ct)
	}
	if cc := header(resp.Headers, "Cache-Control"); cc != "no-store" {
		t.Errorf("the callback page has Cache-Control %q, want no-store", cc)
	}
	if c := header(resp.Headers, "Set-Cookie"); c != "" {
		t.Errorf("the callback page sets a cookie: %q", c)
	}
	// The mount is tuned: the page's own security headers arrive too.
	if csp := header(resp.Headers, "Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q did not pass through the tuned mount", csp)
	}
	if xfo := header(resp.Headers, "X-Frame-Options"); xfo != "DENY" {
		t.Errorf("X-Frame-Options %q did not pass through the tuned mount", xfo)
	}
	cookies := step(t, b, "read document.cookie", chromedp.Evaluate[string](`document.cookie`))
	if cookies != "" {
		t.Errorf("the browser holds cookies for Vault: %q", cookies)
	}
	text := step(t, b, "read the page text", chromedp.Text(chromedp.CSS("body")))
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("the callback page does not say %q; it says:\n%s", w, text)
		}
	}
	html := step(t, b, "read the page source", chromedp.OuterHTML(chromedp.CSS("html")))
	requireNoSecrets(t, "the callback page", html, s.secrets())
	if q, err := url.Parse(loc); err == nil {
		if code := q.Query().Get("code"); code != "" && strings.Contains(html, code) {
			t.Error("the callback page shows the authorization code")
		}
	}
}

// consent opens the authorization URL and checks the fake Jawbone's consent
// page: the app, the scopes asked for, Allow and Deny.
func (s *callbackSetup) consent(t *testing.T, b *browser, authURL string, scopes ...string) {
	t.Helper()
	resp := navigation(t, b, "open the authorization URL", chromedp.Navigate(authURL))
	if resp.Status != http.StatusOK {
		t.Fatalf("the consent page answered HTTP %d", resp.Status)
	}
	step(t, b, "wait for the consent page", chromedp.WaitVisible(chromedp.ID("allow")))
	text := step(t, b, "read the consent page", chromedp.Text(chromedp.CSS("body")))
	for _, w := range append([]string{s.f.ClientID, "Allow", "Deny"}, scopes...) {
		if !strings.Contains(text, w) {
			t.Errorf("the consent page does not show %q; it says:\n%s", w, text)
		}
	}
}

// ---------------------------------------------------------------------------
// The tests

// TestBrowserCallbackAllow: one URL, one click, and the token is in Vault.
func TestBrowserCallbackAllow(t *testing.T) {
	s := startCallbackSetup(t, true, withConsentPage())
	b := startBrowser(t)
	authURL := s.authURL(t, "scopes=basic_read,sleep_read")

	s.consent(t, b, authURL, "basic_read", "sleep_read")
	screenshot(t, b, "browser-consent")
	resp := navigation(t, b, `click "Allow"`, chromedp.Click(chromedp.ID("allow")))
	screenshot(t, b, "browser-allow")
	s.requireCallbackPage(t, b, resp, http.StatusOK,
		"Jawbone access granted",
		"Vault stored the tokens as the creds “me”",
		"scopes: basic_read, sleep_read",
		"vault read jawbone/creds/me",
		"You can close this window.")

	// The CLI user reads a token that works.
	token := s.v.AccessToken("me")
	s.f.requireTokenWorks(t, token, "the token from vault read jawbone/creds/me")
	if names := s.v.ListCreds(); len(names) != 1 || names[0] != "me" {
		t.Errorf("creds after the callback: %v, want [me]", names)
	}

	// Back and reload: the state is spent, but its authorization worked, so
	// the page says so (and not to start again), and the stored token stays
	// as it was.
	resp = navigation(t, b, "reload the callback", chromedp.Reload())
	s.requireCallbackPage(t, b, resp, http.StatusOK, "Jawbone access was granted already", "vault read jawbone/creds/me")
	if page := step(t, b, "read the page text", chromedp.Text(chromedp.CSS("body"))); strings.Contains(page, "auth-url") {
		t.Errorf("the page after a reload advises starting again:\n%s", page)
	}
	if again := s.v.AccessToken("me"); again != token {
		t.Error("a replayed callback changed the stored token")
	}
}

// TestBrowserCallbackDeny: clicking Deny ends on a page that says so, and
// writes nothing.
func TestBrowserCallbackDeny(t *testing.T) {
	s := startCallbackSetup(t, true, withConsentPage())
	b := startBrowser(t)
	authURL := s.authURL(t, "name=alice")

	s.consent(t, b, authURL, "basic_read")
	resp := navigation(t, b, `click "Deny"`, chromedp.Click(chromedp.ID("deny")))
	screenshot(t, b, "browser-deny")
	s.requireCallbackPage(t, b, resp, http.StatusBadRequest,
		"Jawbone access was not granted",
		"error access_denied",
		"chose “Deny”",
		"Nothing was stored",
		"vault read jawbone/auth-url name=alice")

	if names := s.v.ListCreds(); len(names) != 0 {
		t.Errorf("a denial wrote creds: %v", names)
	}
	s.v.CLI("read", mountPath+"/creds/alice").requireFail(t, "alice")
	if n := s.f.Calls(fakejawbone.EndpointToken); n != 0 {
		t.Errorf("a denial reached the token endpoint %d times", n)
	}
}

// TestCallbackHTTPSweep sends the callback what the internet might, over
// real HTTP through Vault: every answer is a 4xx, none changes anything,
// and the authorization that was pending all along still completes.
func TestCallbackHTTPSweep(t *testing.T) {
	s := startCallbackSetup(t, false) // untuned, auto-approving fake
	landing := s.f.Visit(t, s.authURL(t))
	real, err := url.Parse(landing)
	if err != nil {
		t.Fatal(err)
	}
	q := real.Query()
	code, state := q.Get("code"), q.Get("state")
	s.f.ResetCalls()

	// The callback as a browser comes back to it: no Vault token, and a
	// reply whose body is cut short (Vault resets the connection after it
	// refuses an oversized request) taken as far as it came.
	anon := apiOf(s.v, withToken(""), withTimeout(30*time.Second))
	send := func(req *http.Request) (int, http.Header, string) {
		t.Helper()
		var body bytes.Buffer
		status, h, err := anon.send(req, &body)
		if status == 0 {
			t.Fatalf("%s callback: %v", req.Method, err)
		}
		return status, h, body.String()
	}
	get := func(rawQuery string) (int, http.Header, string) {
		t.Helper()
		req, err := anon.newRequest(http.MethodGet, mountPath+"/callback", rawQuery, nil)
		if err != nil {
			t.Fatal(err)
		}
		return send(req)
	}
	enc := url.QueryEscape
	cases := []struct {
		name, query string
		page        bool // the plugin's HTML page (not an answer from Vault's HTTP layer)
		wants       []string
	}{
		{"no query", "", true, []string{"carries no code"}},
		{"garbage state", "code=x&state=garbage", true, []string{"state is unknown"}},
		{"code without state", "code=" + enc(code), true, []string{"carries no state"}},
		{"markup in state", "code=x&state=" + enc(`"><script>alert(1)</script>`), true, []string{"state is unknown"}},
		{"repeated state", "code=" + enc(code) + "&state=" + enc(state) + "&state=other", true, []string{`2 &#34;state&#34; parameters`}},
		{"repeated code", "code=" + enc(code) + "&code=x&state=" + enc(state), true, []string{`2 &#34;code&#34; parameters`}},
		{"repeated huge parameter", "code=" + enc(code) + "&state=" + enc(state) + "&junk=" + strings.Repeat("a", 5000) + "&junk=" + strings.Repeat("b", 5000), true, []string{"more than a Jawbone redirect carries"}},
		{"forged denial", "error=access_denied&error_description=" + enc("<b>call 555-0100</b>") + "&state=forged", true, []string{"Jawbone access was not granted", "error access_denied"}},
		{"error without state", "error=server_error", true, []string{"not granted"}},
		{"huge query", "code=" + enc(code) + "&state=" + enc(state) + "&junk=" + strings.Repeat("a", 100<<10), true, []string{"more than a Jawbone redirect carries"}},
		{"query over Vault's header limit", "code=x&state=y&junk=" + strings.Repeat("a", 2<<20), false, nil},
		{"list instead of read", "list=true&code=" + enc(code) + "&state=" + enc(state), false, nil},
	}
	secrets := s.secrets()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := get(tc.query)
			if status < 400 || status > 499 {
				t.Fatalf("HTTP %d, want a 4xx:\n%.2000s", status, body)
			}
			if h.Get("Set-Cookie") != "" {
				t.Errorf("sets a cookie: %q", h.Get("Set-Cookie"))
			}
			requireNoSecrets(t, "the answer", body, secrets)
			for _, echo := range []string{"<script", "<b>", "555-0100", code} {
				if strings.Contains(body, echo) {
					t.Errorf("the answer echoes %q", echo)
				}
			}
			if !tc.page {
				return
			}
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q, want an HTML page", ct)
			}
			if cc := h.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			// Untuned, Vault drops the plugin's own headers; the meta tags
			// in the page carry the policy instead.
			if h.Get("X-Frame-Options") != "" {
				t.Errorf("X-Frame-Options arrived without the tune: %q", h.Get("X-Frame-Options"))
			}
			if !strings.Contains(body, `http-equiv="Content-Security-Policy"`) {
				t.Error("the page lacks its Content-Security-Policy meta tag")
			}
			for _, w := range tc.wants {
				if !strings.Contains(body, w) {
					t.Errorf("the page does not say %q:\n%s", w, body)
				}
			}
		})
	}
	// A POST is not how a browser comes back; Vault refuses it.
	post, err := anon.newRequest(http.MethodPost, mountPath+"/callback", "", "code="+enc(code)+"&state="+enc(state))
	if err != nil {
		t.Fatal(err)
	}
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if postStatus, _, _ := send(post); postStatus < 400 || postStatus > 499 {
		t.Errorf("POST callback: HTTP %d, want a 4xx", postStatus)
	}

	if names := s.v.ListCreds(); len(names) != 0 {
		t.Fatalf("the sweep wrote creds: %v", names)
	}
	if n := s.f.Calls(fakejawbone.EndpointToken); n != 0 {
		t.Fatalf("the sweep reached the token endpoint %d times", n)
	}
	// Nothing was spent: the real redirect still completes, once.
	status, h, body := get(real.RawQuery)
	if status != http.StatusOK || !strings.Contains(body, "Jawbone access granted") {
		t.Fatalf("the pending authorization did not survive the sweep: HTTP %d\n%s", status, body)
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("Set-Cookie") != "" {
		t.Errorf("success page headers: Cache-Control %q, Set-Cookie %q", h.Get("Cache-Control"), h.Get("Set-Cookie"))
	}
	requireNoSecrets(t, "the success page", body, s.secrets())
	token := s.v.AccessToken("me")
	s.f.requireTokenWorks(t, token, "the token after the sweep")
	status, _, body = get(real.RawQuery)
	if status != http.StatusOK || !strings.Contains(body, "Jawbone access was granted already") {
		t.Errorf("replay: HTTP %d, want 200 saying the access was granted already:\n%s", status, body)
	}
	if s.v.AccessToken("me") != token || fmt.Sprint(s.v.ListCreds()) != "[me]" {
		t.Error("the replay changed the creds")
	}
	if n := s.f.Calls(fakejawbone.EndpointToken); n != 1 {
		t.Errorf("token endpoint called %d times, want 1", n)
	}
}

// land plays a browser without Chromium: it opens authURL at the fake (which
// approves at once, for the account signed in there), follows the redirect
// to Vault's callback as a browser would, with no Vault token, and returns
// the callback page's status and HTML.
func (s *callbackSetup) land(t *testing.T, authURL string) (int, string) {
	t.Helper()
	loc := s.f.Visit(t, authURL)
	if !strings.HasPrefix(loc, s.callbackURL+"?") {
		t.Fatalf("the fake sent the browser to %s, not to Vault's callback %s", loc, s.callbackURL)
	}
	resp, err := noRedirects.Get(loc)
	if err != nil {
		t.Fatalf("following the redirect to %s: %v", loc, err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatalf("reading the callback page: %v", err)
	}
	return resp.StatusCode, body.String()
}
