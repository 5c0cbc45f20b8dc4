// The harness: the vault CLI, run as a user's shell would, and the plugin's
// flow driven through it.

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
)

// ---------------------------------------------------------------------------
// The CLI

// CLIResult is one run of the vault CLI.
type CLIResult struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int
}

// cliLog records every CLI run on one server.
type cliLog struct {
	mu   sync.Mutex
	runs []CLIResult
}

func (r CLIResult) String() string {
	return fmt.Sprintf("vault %s\nexit code: %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
}

func (r CLIResult) requireOK(t *testing.T) {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("command failed:\n%s", r)
	}
}

// requireFail asserts an API error (the CLI exits 2) whose message contains
// any of wants.
func (r CLIResult) requireFail(t *testing.T, wants ...string) {
	t.Helper()
	if r.Code != 2 {
		t.Errorf("want exit code 2 (an error from Vault), got %d:\n%s", r.Code, r)
		return
	}
	if !mentionsAny(r.Stderr+r.Stdout, wants) {
		t.Errorf("the error does not mention any of %q:\n%s", wants, r)
	}
}

// CLI runs the vault CLI with the root token.
func (v *Vault) CLI(args ...string) CLIResult {
	v.t.Helper()
	return v.CLIAs(v.Token, args...)
}

// CLIAs runs the vault CLI with token (none if empty), as a user's shell
// would: VAULT_ADDR and VAULT_TOKEN in the environment, a clean HOME.
func (v *Vault) CLIAs(token string, args ...string) CLIResult {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, v.env.VaultBin, args...)
	extra := []string{"HOME=" + v.home, "VAULT_ADDR=" + v.Addr}
	if token != "" {
		extra = append(extra, "VAULT_TOKEN="+token)
	}
	cmd.Env = cleanEnv(extra...)
	cmd.Dir = v.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := CLIResult{Args: args, Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.Code = exitErr.ExitCode()
	default:
		v.t.Fatalf("running vault %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		v.t.Fatalf("vault %s did not finish in %s", strings.Join(args, " "), cliTimeout)
	}
	v.log.mu.Lock()
	v.log.runs = append(v.log.runs, res)
	v.log.mu.Unlock()
	return res
}

// MustCLI runs a command that must succeed and returns its stdout.
func (v *Vault) MustCLI(args ...string) string {
	v.t.Helper()
	res := v.CLI(args...)
	res.requireOK(v.t)
	return res.Stdout
}

// Transcript is every CLI run on this server so far.
func (v *Vault) Transcript() []CLIResult {
	v.log.mu.Lock()
	defer v.log.mu.Unlock()
	return slices.Clone(v.log.runs)
}

// vaultSecret is the JSON the CLI prints with -format=json.
type vaultSecret struct {
	RequestID     string         `json:"request_id"`
	LeaseID       string         `json:"lease_id"`
	LeaseDuration int            `json:"lease_duration"`
	Renewable     bool           `json:"renewable"`
	Data          map[string]any `json:"data"`
	Warnings      []string       `json:"warnings"`
}

func parseSecret(t *testing.T, res CLIResult) vaultSecret {
	t.Helper()
	var s vaultSecret
	if err := json.Unmarshal([]byte(res.Stdout), &s); err != nil {
		t.Fatalf("cannot parse the JSON output of vault %s: %v\n%s", strings.Join(res.Args, " "), err, res.Stdout)
	}
	return s
}

// ReadJSON runs `vault read -format=json path [k=v...]` (must succeed).
func (v *Vault) ReadJSON(path string, kv ...string) vaultSecret {
	v.t.Helper()
	res := v.CLI(append([]string{"read", "-format=json", path}, kv...)...)
	res.requireOK(v.t)
	return parseSecret(v.t, res)
}

// WriteJSON runs `vault write -format=json path k=v...` (must succeed).
func (v *Vault) WriteJSON(path string, kv ...string) vaultSecret {
	v.t.Helper()
	args := []string{"write", "-format=json", path}
	if len(kv) == 0 {
		args = []string{"write", "-format=json", "-f", path}
	}
	res := v.CLI(append(args, kv...)...)
	res.requireOK(v.t)
	return parseSecret(v.t, res)
}

// ListCreds returns the names under jawbone/creds/ (none: empty).
func (v *Vault) ListCreds() []string {
	v.t.Helper()
	names := v.ListJSON(mountPath + "/creds")
	slices.Sort(names)
	return names
}

// ListJSON runs `vault list -format=json path`. An empty list is no error:
// the CLI then exits 2 printing "No value found" (table) or {} (JSON).
func (v *Vault) ListJSON(path string) []string {
	v.t.Helper()
	res := v.CLI("list", "-format=json", path)
	if res.Code == 2 && (strings.Contains(res.Stderr, "No value found") || strings.TrimSpace(res.Stdout) == "{}") {
		return nil
	}
	res.requireOK(v.t)
	var names []string
	if err := json.Unmarshal([]byte(res.Stdout), &names); err != nil {
		v.t.Fatalf("cannot parse the output of vault list %s: %v\n%s", path, err, res.Stdout)
	}
	return names
}

// ---------------------------------------------------------------------------
// The plugin through the CLI

// ConfigureFor writes jawbone/config pointing at the fake, plus any extra
// k=v fields.
func (v *Vault) ConfigureFor(f *Fake, extra ...string) {
	v.t.Helper()
	args := []string{"write", mountPath + "/config",
		"client_id=" + f.ClientID,
		"client_secret=" + f.ClientSecret,
		"redirect_uri=" + f.RedirectURI,
		"auth_url=" + f.AuthURL,
		"token_url=" + f.TokenURL,
		"api_url=" + f.APIURL,
		// The fake is served over http on 127.0.0.1.
		"local_development=true",
	}
	v.MustCLI(append(args, extra...)...)
}

// AuthURL reads jawbone/auth-url (with optional name/scopes k=v) and returns
// the URL and state.
func (v *Vault) AuthURL(kv ...string) (authURL, state string) {
	v.t.Helper()
	s := v.ReadJSON(mountPath+"/auth-url", kv...)
	authURL, _ = s.Data["url"].(string)
	state, _ = s.Data["state"].(string)
	if authURL == "" || state == "" {
		v.t.Fatalf("auth-url returned no url or state: %v", s.Data)
	}
	return authURL, state
}

// Authorize runs the whole flow for the creds named name with the CLI: get
// the auth URL, let the fake "browser" visit it, exchange the redirect.
func (v *Vault) Authorize(f *Fake, name string) {
	v.t.Helper()
	authURL, _ := v.AuthURL("name=" + name)
	loc := f.Visit(v.t, authURL)
	s := v.WriteJSON(mountPath+"/exchange", "redirect_url="+loc)
	if got, _ := s.Data["name"].(string); got != name {
		v.t.Fatalf("exchange stored creds %q, want %q: %v", got, name, s.Data)
	}
}

// Creds reads jawbone/creds/<name> and returns its data.
func (v *Vault) Creds(name string) map[string]any {
	v.t.Helper()
	return v.ReadJSON(mountPath + "/creds/" + name).Data
}

// AccessToken reads jawbone/creds/<name> and returns the access token.
func (v *Vault) AccessToken(name string) string {
	v.t.Helper()
	data := v.Creds(name)
	tok, _ := data["access_token"].(string)
	if tok == "" {
		v.t.Fatalf("creds/%s has no access_token: %v", name, data)
	}
	return tok
}
