package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/docmsg"
)

// vaultsOwnSection is the troubleshooting section of docs/operations.md
// that quotes Vault's own messages; the plugin's are asserted by the unit
// tests (docs_test.go there).
const vaultsOwnSection = "Install, register, enable"

// docsPluginDir is the plugin_directory the docs' examples use.
const docsPluginDir = "/etc/vault/plugins"

// TestInstallMessagesAsDocumented makes each mistake the docs' install
// table lists on a real Vault and requires that Vault's message is the one
// the table quotes, so that an operator searching for the text they see
// finds its row.
func TestInstallMessagesAsDocumented(t *testing.T) {
	env := loadEnv(t)
	if env.PluginVersion != "v0.1.0" {
		t.Skipf("the docs quote the messages for a v0.1.0 build; PLUGIN_VERSION is %s", env.PluginVersion)
	}
	v := StartVaultWithPlugin(t)
	v.ConfigureFor(StartFake(t))
	shown := strings.Join(installMistakes(t, v), "\n----\n")
	// The docs' plugin_directory stands for this server's.
	shown = strings.ReplaceAll(shown, v.PluginDir, docsPluginDir)

	raw, err := os.ReadFile(filepath.Join(env.RepoRoot, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	var checked int
	for _, m := range docmsg.Troubleshooting(string(raw)) {
		if m.Section != vaultsOwnSection {
			continue
		}
		checked++
		if !m.Matches(shown) {
			t.Errorf("docs/operations.md quotes %q, which no mistake made here showed", m.Text)
		}
	}
	if checked < 8 {
		t.Errorf("found only %d messages in the docs' %q table", checked, vaultsOwnSection)
	}
	if t.Failed() {
		t.Logf("what Vault said:\n%s", shown)
	}
}

// installMistakes makes the mistakes of the install table and returns what
// the CLI printed for each.
func installMistakes(t *testing.T, v *Vault) []string {
	t.Helper()
	var out []string
	fail := func(args ...string) {
		t.Helper()
		res := v.CLI(args...)
		if res.Code == 0 {
			t.Errorf("vault %s succeeded; the docs list it as a mistake", strings.Join(args, " "))
		}
		out = append(out, res.Stdout+res.Stderr)
	}
	// A binary registered with its hash, but unfit to run.
	unfit := func(name, content string, mode os.FileMode) {
		t.Helper()
		path := filepath.Join(v.PluginDir, name)
		writeFile(t, path, content)
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		v.MustCLI("plugin", "register", "-sha256="+sha256File(t, path), "secret", name)
		fail("secrets", "enable", "-path="+name, name)
	}

	fail("plugin", "register", "-sha256="+v.PluginSHA, "-version=v0.2.0", "secret", pluginName)
	fail("plugin", "register", "-sha256="+v.PluginSHA, "secret", "not-copied-here")
	fail("plugin", "register", "-sha256="+v.PluginSHA, "-command=../outside", "secret", "outside")
	elsewhere := filepath.Join(t.TempDir(), "elsewhere")
	copyFile(t, v.env.PluginBin, elsewhere, 0o755)
	if err := os.Symlink(elsewhere, filepath.Join(v.PluginDir, "linked")); err != nil {
		t.Fatal(err)
	}
	fail("plugin", "register", "-sha256="+v.PluginSHA, "-command=linked", "secret", "linked")
	fail("plugin", "register", "-sha256="+v.PluginSHA+"  "+pluginName, "secret", pluginName)

	// The file differs from the registered hash.
	copyFile(t, v.env.PluginBin, filepath.Join(v.PluginDir, "replaced"), 0o755)
	v.MustCLI("plugin", "register", "-sha256="+strings.Repeat("ab", 32), "secret", "replaced")
	fail("secrets", "enable", "-path=replaced", "replaced")

	fail("secrets", "enable", "-path=unregistered", "-plugin-version=v0.3.0", pluginName)
	unfit("other-platform", "\x7fELF not for this machine\n", 0o755)
	unfit("not-executable", "#!/bin/sh\nexit 0\n", 0o644)

	nobody := v.PolicyToken("nothing", `path "sys/nothing" { capabilities = ["read"] }`)
	res := v.CLIAs(nobody, "read", mountPath+"/creds/me")
	out = append(out, res.Stdout+res.Stderr)
	fail("read", mountPath+"/creds/nobody")
	return out
}

// TestA404ShowsItsMessageOnlyInTheAPIReply is the docs' note on 404s: the
// CLI prints "No value found" (nothing with -format=json), and the
// plugin's message is in the API reply that curl shows.
func TestA404ShowsItsMessageOnlyInTheAPIReply(t *testing.T) {
	f := StartFake(t)
	v := StartVaultWithPlugin(t)
	v.ConfigureFor(f)
	const missing = `no creds named "nobody"; authorize with vault read jawbone/auth-url name=nobody`
	table := v.CLI("read", mountPath+"/creds/nobody")
	if table.Code != 2 || !strings.Contains(table.Stderr+table.Stdout, "No value found at "+mountPath+"/creds/nobody") {
		t.Errorf("vault read of missing creds:\n%s", table)
	}
	asJSON := v.CLI("read", "-format=json", mountPath+"/creds/nobody")
	if strings.Contains(asJSON.Stdout+asJSON.Stderr, missing) {
		t.Errorf("vault read -format=json shows the message after all; the docs say it does not:\n%s", asJSON)
	}
	req, err := http.NewRequest(http.MethodGet, v.Addr+"/v1/"+mountPath+"/creds/nobody", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", v.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reply struct{ Errors []string }
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotFound || len(reply.Errors) != 1 || !strings.HasPrefix(reply.Errors[0], missing) {
		t.Errorf("GET creds/nobody: HTTP %d %q, want 404 with %q", resp.StatusCode, reply.Errors, missing)
	}
}
