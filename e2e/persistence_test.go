package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// requireForcedRefreshWorks refreshes creds/name and checks the old token is
// dead and the new one works.
func requireForcedRefreshWorks(t *testing.T, v *Vault, f *Fake, name string) {
	t.Helper()
	old := v.AccessToken(name)
	calls := f.Calls(fakejawbone.EndpointToken)
	fresh, _ := v.WriteJSON(mountPath + "/creds/" + name + "/refresh").Data["access_token"].(string)
	if fresh == "" || fresh == old {
		t.Fatalf("forced refresh of creds/%s returned %q, want a new token", name, fresh)
	}
	if n := f.Calls(fakejawbone.EndpointToken) - calls; n != 1 {
		t.Errorf("forced refresh made %d token calls, want 1", n)
	}
	f.requireTokenRejected(t, old, "the token before the refresh")
	f.requireTokenWorks(t, fresh, "the refreshed token")
}

// TestPluginReload: creds survive `vault plugin reload`, by plugin name and
// by mount, and still refresh.
func TestPluginReload(t *testing.T) {
	f := StartFake(t)
	v := StartVaultWithPlugin(t)
	v.ConfigureFor(f)
	v.Authorize(f, "me")
	before := v.AccessToken("me")
	pids := v.pluginPIDs()
	if len(pids) == 0 {
		t.Fatalf("no running %s process under vault (pid %d)", pluginName, v.proc.cmd.Process.Pid)
	}

	res := v.CLI("plugin", "reload", "-plugin", pluginName)
	res.requireOK(t)
	if !strings.Contains(res.Stdout, "Reloaded plugin") {
		t.Errorf("plugin reload printed no confirmation:\n%s", res)
	}
	if got := v.AccessToken("me"); got != before {
		t.Errorf("after the reload creds/me returns %q, want the same token %q", got, before)
	}
	// The reload really replaced the plugin process.
	after := v.pluginPIDs()
	if len(after) == 0 || slices.Equal(after, pids) {
		t.Errorf("plugin processes before the reload %v, after %v: want a new process", pids, after)
	}
	f.requireTokenWorks(t, before, "creds/me after the reload")
	requireForcedRefreshWorks(t, v, f, "me")

	// By mount. `vault plugin reload -mounts=jawbone/` of Vault 1.21.1 sends
	// a root-namespace reload without the mounts (PUT
	// sys/plugins/reload/unknown → 404), so the documented endpoint is
	// written with the CLI instead.
	pids = v.pluginPIDs()
	v.MustCLI("write", "sys/plugins/reload/backend", "mounts="+mountPath+"/")
	requireForcedRefreshWorks(t, v, f, "me")
	if after := v.pluginPIDs(); len(after) == 0 || slices.Equal(after, pids) {
		t.Errorf("plugin processes before the mount reload %v, after %v: want a new process", pids, after)
	}
	if cfg := v.ReadJSON(mountPath + "/config").Data; cfg["client_secret_set"] != true || cfg["client_id"] != f.ClientID {
		t.Errorf("config after reloads = %v", cfg)
	}
}

// TestCacheSizeTune: the documented way to change an existing mount's
// cache budget (docs/operations.md, Large mounts): a tune alone leaves the
// running plugin's budget as it was; the mount's reload after it puts the
// new one in force, and the creds are still there.
func TestCacheSizeTune(t *testing.T) {
	f := StartFake(t)
	v := StartVaultWithPlugin(t)
	v.ConfigureFor(f)
	v.Authorize(f, "me")
	before := v.AccessToken("me")
	budget := func() int64 {
		n, _ := strconv.ParseFloat(fmt.Sprint(v.ReadJSON(mountPath + "/status").Data["cache_budget_bytes"]), 64)
		return int64(n)
	}
	const defaultBudget, tuned = 64 << 20, 512 << 20
	if got := budget(); got != defaultBudget {
		t.Fatalf("cache_budget_bytes of a new mount = %d, want 64 MiB", got)
	}
	v.MustCLI("secrets", "tune", "-options=cache_size=512MiB", mountPath+"/")
	if got := budget(); got != defaultBudget {
		t.Errorf("cache_budget_bytes after the tune alone = %d, want still 64 MiB (the plugin reads the option when it starts)", got)
	}
	v.MustCLI("write", "sys/plugins/reload/backend", "mounts="+mountPath+"/")
	if got := budget(); got != tuned {
		t.Errorf("cache_budget_bytes after the reload = %d, want 512 MiB", got)
	}
	if got := v.AccessToken("me"); got != before {
		t.Errorf("after the tune and reload creds/me returns %q, want the same token %q", got, before)
	}
}

// TestServerRestart: with file storage, config and creds survive stopping
// the server by its PID and starting it again, and the creds still refresh.
func TestServerRestart(t *testing.T) {
	f := StartFake(t)
	v := StartFileVault(t)
	v.RegisterPlugin()
	v.ConfigureFor(f)
	v.Authorize(f, "me")
	v.Authorize(f, "second")
	before := v.AccessToken("me")

	v.Restart()

	if got := v.ListCreds(); strings.Join(got, ",") != "me,second" {
		t.Errorf("after the restart creds = %v, want [me second]", got)
	}
	if got := v.AccessToken("me"); got != before {
		t.Errorf("after the restart creds/me returns %q, want the same token %q", got, before)
	}
	f.requireTokenWorks(t, before, "creds/me after the restart")
	cfg := v.ReadJSON(mountPath + "/config").Data
	if cfg["client_secret_set"] != true || cfg["token_url"] != f.TokenURL {
		t.Errorf("config after the restart = %v", cfg)
	}
	requireForcedRefreshWorks(t, v, f, "me")
	// The client secret survived too: a full authorization needs it.
	v.Authorize(f, "third")
	f.requireTokenWorks(t, v.AccessToken("third"), "creds/third, authorized after the restart")

	// A second restart keeps the refreshed token.
	refreshed := v.AccessToken("me")
	v.Restart()
	if got := v.AccessToken("me"); got != refreshed {
		t.Errorf("after the second restart creds/me returns %q, want the refreshed %q", got, refreshed)
	}
}
