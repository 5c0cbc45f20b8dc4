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
	"path/filepath"
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

// requireStatus asserts an API error (the CLI exits 2) with HTTP status
// status whose message contains every one of wants.
func (r CLIResult) requireStatus(t *testing.T, status int, wants ...string) {
	t.Helper()
	if r.Code != 2 || !strings.Contains(r.Stderr, fmt.Sprintf("Code: %d.", status)) {
		t.Errorf("want HTTP %d from Vault (exit code 2), got:\n%s", status, r)
		return
	}
	for _, w := range wants {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("the error does not say %q:\n%s", w, r)
		}
	}
}

// requireDenied asserts Vault's own 403: the token's policies refused the
// request before the plugin saw it.
func (r CLIResult) requireDenied(t *testing.T) {
	t.Helper()
	r.requireStatus(t, 403, "permission denied")
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

// PolicyToken writes the policy name from hcl and returns a new token that
// has only it (plus Vault's default policy).
func (v *Vault) PolicyToken(name, hcl string) string {
	v.t.Helper()
	policyFile := filepath.Join(v.t.TempDir(), name+".hcl")
	writeFile(v.t, policyFile, hcl)
	v.MustCLI("policy", "write", name, policyFile)
	token := strings.TrimSpace(v.MustCLI("token", "create", "-policy="+name, "-field=token"))
	if token == "" {
		v.t.Fatal("vault token create printed no token")
	}
	return token
}

// cliCall is one CLI command, named for a subtest.
type cliCall struct {
	what string
	args []string
}

// command is the CLI command args, named what.
func command(what string, args ...string) cliCall { return cliCall{what, args} }

// requireAllDenied runs each call with v's token, each in a subtest, and
// requires Vault's 403 for every one.
func (v *Vault) requireAllDenied(calls ...cliCall) {
	v.t.Helper()
	for _, c := range calls {
		v.t.Run(c.what, func(t *testing.T) {
			v.For(t).CLI(c.args...).requireDenied(t)
		})
	}
}

// As returns a view of v whose CLI runs with token instead of the root
// token, with a transcript of its own: every helper of the harness then
// acts as that token's holder, and Transcript is what they were told.
func (v *Vault) As(token string) *Vault {
	c := *v
	c.Token = token
	c.log = &cliLog{}
	return &c
}

// ---------------------------------------------------------------------------
// The plugin through the CLI

// ConfigureFor writes jawbone/config pointing at the fake, plus any extra
// k=v fields.
func (v *Vault) ConfigureFor(f *Fake, extra ...string) {
	v.t.Helper()
	// The fake is served over http on 127.0.0.1.
	args := append(configArgs(f), "local_development=true")
	v.MustCLI(append(args, extra...)...)
}

// startConfigured starts a fake and a dev Vault with the plugin, configured
// for the fake.
func startConfigured(t *testing.T, opts ...fakeOption) (*Fake, *Vault) {
	t.Helper()
	f := StartFake(t, opts...)
	v := StartVaultWithPlugin(t)
	v.ConfigureFor(f)
	return f, v
}

// configArgs is the command that writes jawbone/config for the fake: the
// app's registration and the fake's endpoints, nothing else.
func configArgs(f *Fake) []string {
	return []string{"write", mountPath + "/config",
		"client_id=" + f.ClientID,
		"client_secret=" + f.ClientSecret,
		"redirect_uri=" + f.RedirectURI,
		"auth_url=" + f.AuthURL,
		"token_url=" + f.TokenURL,
		"api_url=" + f.APIURL,
	}
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
