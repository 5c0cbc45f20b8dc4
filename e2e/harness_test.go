// Package e2e drives a real Vault server, the real vault CLI and Vault Agent
// against the plugin binary and an in-process fake Jawbone.
//
// It is a module of its own (e2e/go.mod, with the plugin's module replaced
// by this checkout), so what only the suite needs (chromedp) stays out of the
// plugin's go.mod. Run it with `make e2e`, or by hand from e2e/:
//
//	VAULT_BIN=/path/to/vault PLUGIN_DIR=bin/plugins PLUGIN_VERSION=v0.1.0 \
//	    go test -count=1 -v ./...
//
// The load harness (load_test.go) builds only with -tags bench: `make bench`.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

const (
	pluginName = "vault-plugin-secrets-jawbone"
	mountPath  = "jawbone"

	// Bounds for waiting on real signals; none of them is a sleep.
	startTimeout = 60 * time.Second
	stopTimeout  = 20 * time.Second
	cliTimeout   = 90 * time.Second
	pollEvery    = 100 * time.Millisecond
)

// ---------------------------------------------------------------------------
// Environment

type suiteEnv struct {
	VaultBin      string // the vault binary (server, CLI and Agent)
	PluginBin     string // the built plugin binary inside PLUGIN_DIR
	PluginVersion string // what the plugin was built as (-version at register)
	RepoRoot      string
}

var (
	envOnce sync.Once
	envVal  suiteEnv
	envErr  error
)

// loadEnv reads VAULT_BIN, PLUGIN_DIR and PLUGIN_VERSION and checks that the
// binaries they name exist. A missing variable fails the test with a message
// that says how to run the suite.
func loadEnv(t *testing.T) suiteEnv {
	t.Helper()
	envOnce.Do(func() { envVal, envErr = readEnv() })
	if envErr != nil {
		t.Fatalf("e2e environment: %v\n\nRun the suite with `make e2e`, or set VAULT_BIN (path to the vault binary; "+
			"scripts/install-vault.sh prints it) and PLUGIN_DIR (the directory holding the built %s, e.g. bin/plugins "+
			"after `make build`), and optionally PLUGIN_VERSION (default v0.1.0).", envErr, pluginName)
	}
	return envVal
}

func readEnv() (suiteEnv, error) {
	var e suiteEnv
	root, err := filepath.Abs("..")
	if err != nil {
		return e, err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return e, fmt.Errorf("cannot find the repository root from %s: %v", root, err)
	}
	e.RepoRoot = root

	vaultBin := os.Getenv("VAULT_BIN")
	pluginDir := os.Getenv("PLUGIN_DIR")
	var missing []string
	if vaultBin == "" {
		missing = append(missing, "VAULT_BIN")
	}
	if pluginDir == "" {
		missing = append(missing, "PLUGIN_DIR")
	}
	if len(missing) > 0 {
		return e, fmt.Errorf("%s not set", strings.Join(missing, " and "))
	}
	if e.VaultBin, err = resolvePath(root, vaultBin); err != nil {
		return e, fmt.Errorf("VAULT_BIN=%s: %v", vaultBin, err)
	}
	dir, err := resolvePath(root, pluginDir)
	if err != nil {
		return e, fmt.Errorf("PLUGIN_DIR=%s: %v", pluginDir, err)
	}
	e.PluginBin = filepath.Join(dir, pluginName)
	if _, err := os.Stat(e.PluginBin); err != nil {
		return e, fmt.Errorf("PLUGIN_DIR=%s holds no %s (run `make build`): %v", pluginDir, pluginName, err)
	}
	e.PluginVersion = os.Getenv("PLUGIN_VERSION")
	if e.PluginVersion == "" {
		e.PluginVersion = "v0.1.0"
	}
	return e, nil
}

// resolvePath accepts an absolute path, a path relative to the test's working
// directory (e2e/), or one relative to the repository root (as the Makefile
// writes them).
func resolvePath(root, p string) (string, error) {
	candidates := []string{p}
	if !filepath.IsAbs(p) {
		candidates = append(candidates, filepath.Join(root, p))
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return filepath.Abs(c)
		}
	}
	return "", errors.New("no such file or directory")
}

// ---------------------------------------------------------------------------
// Ports and small utilities

// freePort returns a 127.0.0.1 TCP port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freePortPair returns a port p with p and p+1 both free: a dev server puts
// its cluster listener on the API port + 1, and has no flag to move it.
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		a, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		p := a.Addr().(*net.TCPAddr).Port
		b, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		a.Close()
		if err == nil {
			b.Close()
			return p
		}
	}
	t.Fatal("found no two consecutive free ports on 127.0.0.1")
	return 0
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(buf)
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes; what describes
// the awaited state for the failure message.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
		}
		time.Sleep(pollEvery)
	}
}

// cleanEnv is the test process's environment without any VAULT_* variable,
// so a developer's own Vault settings never leak into a test.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VAULT_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// ---------------------------------------------------------------------------
// Processes

// proc is a child process whose output goes to a log file. It is stopped by
// its own PID: SIGTERM, then SIGKILL if it has not exited in time.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

// startProc starts bin with args, appending its output to logPath, and
// registers its stop (and, on failure, the printing of its log) on t.
func startProc(t *testing.T, name, logPath string, env []string, bin string, args ...string) *proc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "==== %s: %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Dir = filepath.Dir(logPath)
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Logf("started %s (pid %d), log %s", name, cmd.Process.Pid, logPath)
	// Cleanups run last-registered first: stop the process, then print its
	// log (complete by then) if the test failed.
	t.Cleanup(func() { dumpLogOnFailure(t, name, logPath) })
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process by its PID and waits for it. It is idempotent.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if p.exited() {
		return
	}
	pid := p.cmd.Process.Pid
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(stopTimeout):
	}
	t.Logf("%s (pid %d) ignored SIGTERM for %s; killing it", p.name, pid, stopTimeout)
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		t.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, pid)
	}
}

func dumpLogOnFailure(t *testing.T, name, path string) {
	if !t.Failed() {
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Logf("could not read the log of %s: %v", name, err)
		return
	}
	const max = 48 << 10
	if len(data) > max {
		data = append([]byte("...[earlier lines cut]...\n"), data[len(data)-max:]...)
	}
	t.Logf("---- log of %s (%s) ----\n%s\n---- end of log of %s ----", name, path, data, name)
}

// ---------------------------------------------------------------------------
// Vault servers

// Vault is one vault server process plus everything needed to drive it with
// the CLI as a user would.
type Vault struct {
	t    *testing.T
	env  suiteEnv
	dir  string // the server's own temp dir: logs, config, storage, home
	home string // HOME for the CLI, so no ~/.vault-token is read or written

	Addr      string
	Token     string // root token
	PluginDir string
	PluginSHA string
	LogPath   string

	fileStorage bool
	configPath  string
	unsealKey   string
	proc        *proc

	log *cliLog // shared by every For(t) view of this server
}

// cliLog records every CLI run on one server.
type cliLog struct {
	mu   sync.Mutex
	runs []CLIResult
}

// For returns a view of v that reports failures on t: use it inside
// subtests, so a failing check fails the subtest and not its parent.
func (v *Vault) For(t *testing.T) *Vault {
	c := *v
	c.t = t
	return &c
}

func newVault(t *testing.T) *Vault {
	t.Helper()
	env := loadEnv(t)
	dir := t.TempDir()
	v := &Vault{t: t, env: env, dir: dir, home: filepath.Join(dir, "home"), PluginDir: filepath.Join(dir, "plugins"), log: &cliLog{}}
	for _, d := range []string{v.home, v.PluginDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The plugin directory holds a copy, so the sha256 registered is of
	// exactly the file Vault will run.
	copyFile(t, env.PluginBin, filepath.Join(v.PluginDir, pluginName), 0o755)
	v.PluginSHA = sha256File(t, filepath.Join(v.PluginDir, pluginName))
	v.LogPath = filepath.Join(dir, "vault.log")
	return v
}

// StartDevVault starts `vault server -dev` on free 127.0.0.1 ports (API and
// cluster) with the plugin directory, and waits until it is active.
func StartDevVault(t *testing.T) *Vault {
	t.Helper()
	v := newVault(t)
	port := freePortPair(t)
	v.Addr = fmt.Sprintf("http://127.0.0.1:%d", port)
	v.Token = "root-" + randomHex(t, 8)
	v.proc = startProc(t, "vault dev server", v.LogPath, cleanEnv("HOME="+v.home,
		// The cluster address is the listener's port + 1, checked free above.
		fmt.Sprintf("VAULT_CLUSTER_ADDR=https://127.0.0.1:%d", port+1)),
		v.env.VaultBin, "server", "-dev",
		"-dev-root-token-id="+v.Token,
		fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port),
		"-dev-plugin-dir="+v.PluginDir,
		"-dev-no-store-token",
	)
	v.waitHealth(http.StatusOK)
	return v
}

// StartFileVault starts a non-dev server with file storage, initialises it
// with one key share and unseals it.
func StartFileVault(t *testing.T) *Vault {
	t.Helper()
	v := newVault(t)
	v.fileStorage = true
	apiPort, clusterPort := freePort(t), freePort(t)
	for clusterPort == apiPort {
		clusterPort = freePort(t)
	}
	v.Addr = fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	v.configPath = filepath.Join(v.dir, "server.hcl")
	storage := fmt.Sprintf("storage \"file\" {\n  path = %q\n}\n", filepath.Join(v.dir, "data"))
	writeFile(t, v.configPath, serverConfig(storage, apiPort, clusterPort, v.PluginDir))
	v.startFileServer()
	// Not initialised yet: sys/health answers 501.
	v.waitHealth(http.StatusNotImplemented)

	v.unsealKey, v.Token = v.operatorInit()
	v.unseal()
	return v
}

func (v *Vault) startFileServer() {
	v.t.Helper()
	v.proc = startProc(v.t, "vault server (file storage)", v.LogPath, cleanEnv("HOME="+v.home),
		v.env.VaultBin, "server", "-config="+v.configPath)
}

func (v *Vault) unseal() {
	v.t.Helper()
	v.waitHealth(http.StatusServiceUnavailable) // sealed
	res := v.CLIAs("", "operator", "unseal", "-format=json", v.unsealKey)
	res.requireOK(v.t)
	if !strings.Contains(res.Stdout, `"sealed": false`) {
		v.t.Fatalf("vault operator unseal: still sealed:\n%s", res.Stdout)
	}
	v.waitHealth(http.StatusOK)
}

// Restart stops a file-storage server by its PID, starts it again on the
// same ports and storage, and unseals it.
func (v *Vault) Restart() {
	v.t.Helper()
	if !v.fileStorage {
		v.t.Fatal("Restart needs a file-storage server: a dev server keeps nothing")
	}
	pid := v.proc.cmd.Process.Pid
	v.proc.stop(v.t)
	v.t.Logf("vault (pid %d) stopped; starting it again", pid)
	v.startFileServer()
	v.unseal()
}

// waitHealth polls /v1/sys/health until it answers want (200 active,
// 501 uninitialised, 503 sealed), failing early if the server exits.
func (v *Vault) waitHealth(want int) {
	v.t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	waitFor(v.t, startTimeout, fmt.Sprintf("%s/v1/sys/health to answer %d", v.Addr, want), func() (bool, error) {
		if v.proc.exited() {
			v.t.Fatalf("vault exited while starting (%v); see its log below", v.proc.waitErr)
		}
		resp, err := client.Get(v.Addr + "/v1/sys/health")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			return false, fmt.Errorf("status %d", resp.StatusCode)
		}
		return true, nil
	})
}

// ---------------------------------------------------------------------------
// The CLI

// CLIResult is one run of the vault CLI.
type CLIResult struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int
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
	out := strings.ToLower(r.Stderr + r.Stdout)
	for _, w := range wants {
		if strings.Contains(out, strings.ToLower(w)) {
			return
		}
	}
	t.Errorf("the error does not mention any of %q:\n%s", wants, r)
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
// The plugin

// RegisterPlugin registers the plugin by sha256 and version, and mounts it
// at jawbone/.
func (v *Vault) RegisterPlugin() {
	v.t.Helper()
	v.MustCLI("plugin", "register",
		"-sha256="+v.PluginSHA,
		"-version="+v.env.PluginVersion,
		"secret", pluginName)
	v.MustCLI("secrets", "enable",
		"-path="+mountPath,
		"-plugin-version="+v.env.PluginVersion,
		pluginName)
}

// StartVaultWithPlugin is the usual start: a dev server with the plugin
// registered and mounted.
func StartVaultWithPlugin(t *testing.T) *Vault {
	t.Helper()
	v := StartDevVault(t)
	v.RegisterPlugin()
	return v
}

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
	srv := httptest.NewServer(f.record(f.Server))
	t.Cleanup(func() {
		f.Server.Close() // releases delayed handlers, which srv.Close waits for
		srv.Close()
	})
	f.URL = srv.URL
	f.AuthURL = fakejawbone.AuthURL(srv.URL)
	f.TokenURL = fakejawbone.TokenURL(srv.URL)
	f.APIURL = fakejawbone.APIURL(srv.URL)
	return f
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
	resp, err := noRedirects.Get(authURL)
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
	req, err := http.NewRequest(http.MethodGet, strings.TrimRight(f.APIURL, "/")+"/users/@me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("GET /users/@me: %v", err)
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

// ---------------------------------------------------------------------------
// Assertions on secrets

// requireNoSecrets fails if text contains any of the named secrets.
func requireNoSecrets(t *testing.T, where, text string, secrets map[string][]string) {
	t.Helper()
	for kind, list := range secrets {
		for _, s := range list {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("%s contains a %s in plaintext (%s...)", where, kind, s[:min(6, len(s))])
			}
		}
	}
}

// serverConfig is a non-dev server's config on 127.0.0.1 with the given
// storage block.
func serverConfig(storage string, apiPort, clusterPort int, pluginDir string) string {
	return storage + fmt.Sprintf(`
listener "tcp" {
  address         = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_disable     = true
}

api_addr         = "http://127.0.0.1:%d"
cluster_addr     = "https://127.0.0.1:%d"
plugin_directory = %q
disable_mlock    = true
ui               = false
`, apiPort, clusterPort, apiPort, clusterPort, pluginDir)
}

// operatorInit initialises a new server with one key share and returns the
// unseal key and the root token.
func (v *Vault) operatorInit() (unsealKey, rootToken string) {
	v.t.Helper()
	res := v.CLIAs("", "operator", "init", "-key-shares=1", "-key-threshold=1", "-format=json")
	res.requireOK(v.t)
	var init struct {
		Keys      []string `json:"unseal_keys_b64"`
		RootToken string   `json:"root_token"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &init); err != nil || len(init.Keys) != 1 || init.RootToken == "" {
		v.t.Fatalf("vault operator init: unexpected output (%v):\n%s", err, res.Stdout)
	}
	return init.Keys[0], init.RootToken
}
