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
// The load harness (load_test.go) and the scale harness (scale_test.go) build
// only with -tags bench: `make bench` and `make bench-scale`.
//
// The harness every test uses is split by concern:
//
//	harness_test.go        the environment, the bounds, small utilities
//	harness_proc_test.go   ports, child processes, plugin processes in /proc
//	harness_proc_linux_test.go  the parent-death signal that ends them with the test binary
//	harness_vault_test.go  Vault servers (dev, file storage), crashes, the plugin's registration
//	harness_raft_test.go   a Raft cluster of Vault servers
//	harness_cli_test.go    the vault CLI, and the plugin's flow through it
//	harness_api_test.go    Vault's HTTP API without the CLI (jbAPI), sys/raw
//	harness_fake_test.go   the fake Jawbone, recording every token it sees
package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
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
// Small utilities

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

// mentionsAny reports whether s contains any of words, ignoring case.
func mentionsAny(s string, words []string) bool {
	s = strings.ToLower(s)
	for _, w := range words {
		if strings.Contains(s, strings.ToLower(w)) {
			return true
		}
	}
	return false
}

// mapKeys is the keys of m, sorted.
func mapKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// docsPolicy is the policy docs/operations.md shows as the ```hcl block
// whose first line names file ("# jawbone-connector.hcl"): the tests prove
// the very text an operator copies.
func docsPolicy(t *testing.T, file string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(loadEnv(t).RepoRoot, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, found := strings.Cut(string(doc), "```hcl\n# "+file)
	block, _, closed := strings.Cut(rest, "\n```")
	if !found || !closed {
		t.Fatalf("docs/operations.md has no ```hcl block starting with # %s", file)
	}
	return "# " + file + block + "\n"
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
