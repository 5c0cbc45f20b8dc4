// The harness: Vault servers. A dev server, a file-storage server that can be
// restarted and crashed, each on free 127.0.0.1 ports, with the plugin
// copied into its own plugin directory and registered by sha256.

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

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
	configPath  string // a non-dev server's config
	procName    string // what logs call a non-dev server's process
	unsealKey   string
	proc        *proc

	log *cliLog // shared by every For(t) view of this server
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
	v.writeConfig("vault server (file storage)", fmt.Sprintf("storage \"file\" {\n  path = %q\n}\n", filepath.Join(v.dir, "data")))
	v.startServer()
	// Not initialised yet: sys/health answers 501.
	v.waitHealth(http.StatusNotImplemented)

	v.unsealKey, v.Token = v.operatorInit()
	v.unseal()
	return v
}

// writeConfig readies a non-dev server named name: two distinct free
// 127.0.0.1 ports (API and cluster), and its config with the given storage
// block in server.hcl.
func (v *Vault) writeConfig(name, storage string) {
	v.t.Helper()
	apiPort, clusterPort := freePort(v.t), freePort(v.t)
	for clusterPort == apiPort {
		clusterPort = freePort(v.t)
	}
	v.Addr = fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	v.procName = name
	v.configPath = filepath.Join(v.dir, "server.hcl")
	writeFile(v.t, v.configPath, serverConfig(storage, apiPort, clusterPort, v.PluginDir))
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

// startServer starts a non-dev server from its config: the first time, or
// again after a stop or a crash, on the same ports and storage.
func (v *Vault) startServer() {
	v.t.Helper()
	v.proc = startProc(v.t, v.procName, v.LogPath, cleanEnv("HOME="+v.home),
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
	v.startServer()
	v.unseal()
}

// waitHealth polls /v1/sys/health until it answers want (200 active,
// 501 uninitialised, 503 sealed), failing early if the server exits.
func (v *Vault) waitHealth(want int) {
	v.t.Helper()
	a := apiOf(v, withTimeout(healthTimeout))
	waitFor(v.t, startTimeout, fmt.Sprintf("%s/v1/sys/health to answer %d", v.Addr, want), func() (bool, error) {
		if v.proc.exited() {
			v.t.Fatalf("vault exited while starting (%v); see its log below", v.proc.waitErr)
		}
		status, err := a.health()
		if err != nil {
			return false, err
		}
		if status != want {
			return false, fmt.Errorf("status %d", status)
		}
		return true, nil
	})
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

// crashVault stops a server as a power cut would: SIGKILL to the Vault
// process and to the plugin processes it started (a SIGKILLed Vault cannot
// stop its plugins, which would otherwise live on as orphans and finish
// their calls to Jawbone). It returns once all of them are gone.
func crashVault(t *testing.T, v *Vault) {
	t.Helper()
	pid := v.proc.cmd.Process.Pid
	plugins := pluginChildren(pid)
	if err := v.proc.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL to vault (pid %d): %v", pid, err)
	}
	select {
	case <-v.proc.done:
	case <-time.After(stopTimeout):
		t.Fatalf("vault (pid %d) did not exit after SIGKILL", pid)
	}
	killPlugins(t, plugins)
	t.Logf("vault (pid %d) and its plugin processes %v killed with SIGKILL", pid, plugins)
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

// pluginPIDs lists, sorted, the running plugin processes that are children
// of this server (Linux /proc).
func (v *Vault) pluginPIDs() []int {
	v.t.Helper()
	if _, err := os.Stat("/proc"); err != nil {
		v.t.Skipf("no /proc to find plugin processes: %v", err)
	}
	return pluginChildren(v.proc.cmd.Process.Pid)
}
