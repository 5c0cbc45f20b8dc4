package e2e

import (
	"bytes"
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// browserStep is the walkthrough's one line whose output a person opens in
// a browser.
const browserStep = "vault read -field=url jawbone/auth-url"

// TestReadmeWalkthrough runs the README's walkthrough block as written, in
// bash from the repository's directory, against scripts/dev.sh (what `make
// dev` runs) with the export lines it printed. Go plays the browser at the
// one step a person does by hand: it opens the URL, clicks Allow on the
// fake's consent page and follows the redirect to Vault's callback.
func TestReadmeWalkthrough(t *testing.T) {
	first, rest := splitAtBrowserStep(t, readmeBlock(t, "## Walkthrough"))
	d := startDevScript(t)
	exports := d.exports(t)

	out := runReadmeShell(t, exports+first)
	// What the README says a config read shows.
	for _, want := range []string{`(?m)^refresh_ahead\s+168h$`, `(?m)^request_timeout\s+30s$`, `(?m)^max_ttl\s+1m$`, `(?m)^check_interval\s+1h$`, `(?m)^local_development\s+true$`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("the walkthrough's config read does not match %s:\n%s", want, out)
		}
	}
	page := clickAllow(t, lastLine(out))
	if !strings.Contains(page, "Jawbone access granted") || !strings.Contains(page, "“me”") {
		t.Fatalf("after Allow, the browser did not land on Vault's success page for the creds me:\n%s", page)
	}

	out = runReadmeShell(t, exports+rest)
	for _, want := range []string{
		`(?m)^access_token\s+\S{8,}$`,              // creds/me
		`(?m)^account_xid\s+alice-xid$`,            // the import
		`(?m)^alice$`,                              // the list
		`(?m)^revoked\s+true$`,                     // the revoke
		`(?m)^refresh_total_success\s+[1-9]`,       // status, as fields
		`(?m)^# TYPE jawbone_creds_failing gauge$`, // status, as Prometheus text
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("the walkthrough's output does not match %s:\n%s", want, out)
		}
	}
	// (Not anchored: -field prints no newline, so the next command's trace
	// follows on the same line.)
	status := regexp.MustCompile(`(?s)\+ vault read jawbone/creds/me/status\n.*?\n\+ `).FindString(out)
	if !regexp.MustCompile(`(?m)^account_xid\s+\S+$`).MatchString(status) || !regexp.MustCompile(`(?m)^expires_at\s+\S+$`).MatchString(status) {
		t.Errorf("the walkthrough's creds/me/status step shows no account and expiry:\n%s", out)
	}
	if strings.Contains(status, "access_token") {
		t.Errorf("creds/me/status shows the access token:\n%s", status)
	}
	d.interrupt(t)
}

// readmeBlock is the first ```sh block of the README section titled heading.
func readmeBlock(t *testing.T, heading string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(loadEnv(t).RepoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", heading)
	}
	_, block, ok := strings.Cut(section, "\n```sh\n")
	if !ok {
		t.Fatalf("README.md section %q has no sh block", heading)
	}
	block, _, _ = strings.Cut(block, "\n```")
	return block + "\n"
}

// splitAtBrowserStep splits the walkthrough after the line whose output is
// opened in a browser.
func splitAtBrowserStep(t *testing.T, block string) (first, rest string) {
	t.Helper()
	first, rest, ok := strings.Cut(block, "\n"+browserStep+"\n")
	if !ok {
		t.Fatalf("the README walkthrough has no line %q:\n%s", browserStep, block)
	}
	return first + "\n" + browserStep + "\n", rest
}

// runReadmeShell runs script in bash as a user's shell would, stopping at
// the first command that fails, and returns what it printed, commands
// included (bash -x, on the same stream).
func runReadmeShell(t *testing.T, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\nPS4='+ '\nset -x\n"+script)
	cmd.Dir = loadEnv(t).RepoRoot
	cmd.Env = cleanEnv("HOME=" + t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the README walkthrough failed (%v):\n%s", err, out.String())
	}
	return out.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// consentInput matches an input of the fake's consent form.
var consentInput = regexp.MustCompile(`<input type="(?:hidden|text)"(?: id="[^"]*")? name="([^"]+)" value="([^"]*)"`)

// clickAllow plays a person's browser: it opens authURL (the fake's consent
// page), submits its form with Allow, follows the redirects back to Vault's
// callback and returns the page it ends on.
func clickAllow(t *testing.T, authURL string) string {
	t.Helper()
	if _, err := url.ParseRequestURI(authURL); err != nil {
		t.Fatalf("the walkthrough's auth-url step printed %q, not a URL: %v", authURL, err)
	}
	consent := get(t, authURL)
	form := url.Values{"decision": {"allow"}}
	for _, m := range consentInput.FindAllStringSubmatch(consent, -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	if form.Get("state") == "" {
		t.Fatalf("the consent page has no form with a state:\n%s", consent)
	}
	// The form has no action: it posts to the page's own URL.
	resp, err := http.PostForm(authURL, form)
	if err != nil {
		t.Fatalf("clicking Allow: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after Allow the browser ended on %s with HTTP %d:\n%s", resp.Request.URL, resp.StatusCode, body)
	}
	return string(body)
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d:\n%s", u, resp.StatusCode, body)
	}
	return string(body)
}
