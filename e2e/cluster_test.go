package e2e

// Helpers for the HA, crash, fault and bad-input tests: a direct client for
// Vault's HTTP API, access to the plugin's raw storage entries, killing a
// Vault server the hard way, and a 3-node Raft cluster on loopback.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// Vault's HTTP API, without the CLI
//
// The CLI costs a process start per call; the fault and bad-input corpora
// make hundreds of calls, some with bodies the CLI cannot express (wrong
// JSON types, repeated query parameters).

// jbAPI calls one Vault server's HTTP API with a token.
type jbAPI struct {
	addr, token string
	client      *http.Client
}

func apiOf(v *Vault) *jbAPI {
	return &jbAPI{addr: v.Addr, token: v.Token, client: &http.Client{
		Timeout: 60 * time.Second,
		// A redirect is an answer in its own right here, never followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// jbReply is one HTTP answer, with Vault's JSON envelope decoded when there
// is one.
type jbReply struct {
	Status   int
	Header   http.Header
	Body     []byte
	Data     map[string]any
	Errors   []string
	Warnings []string
}

func (r jbReply) String() string {
	body := string(r.Body)
	if len(body) > 1500 {
		body = body[:1500] + fmt.Sprintf("...[%d bytes in all]", len(r.Body))
	}
	return fmt.Sprintf("HTTP %d: %s", r.Status, body)
}

// message is everything Vault said besides data: errors and warnings.
func (r jbReply) message() string {
	return strings.Join(append(slices.Clone(r.Errors), r.Warnings...), " | ")
}

func (r jbReply) str(key string) string {
	s, _ := r.Data[key].(string)
	return s
}

// do sends method to /v1/path (path is used as given, escapes included).
// body is nil, a string or []byte sent as it is, or anything else sent as
// JSON. A transport error is returned, not fatal: some callers expect one.
func (a *jbAPI) do(method, path string, query url.Values, body any) (jbReply, error) {
	return a.doRaw(method, path, query.Encode(), body)
}

// doRaw is do with the query string sent exactly as given.
func (a *jbAPI) doRaw(method, path, rawQuery string, body any) (jbReply, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return jbReply{}, err
		}
		rd = bytes.NewReader(buf)
	}
	u := a.addr + "/v1/" + path
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return jbReply{}, err
	}
	if a.token != "" {
		req.Header.Set("X-Vault-Token", a.token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return jbReply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return jbReply{}, err
	}
	r := jbReply{Status: resp.StatusCode, Header: resp.Header, Body: raw}
	var env struct {
		Data     map[string]any `json:"data"`
		Errors   []string       `json:"errors"`
		Warnings []string       `json:"warnings"`
	}
	if json.Unmarshal(raw, &env) == nil {
		r.Data, r.Errors, r.Warnings = env.Data, env.Errors, env.Warnings
	}
	return r, nil
}

// call is do that fails the test on a transport error.
func (a *jbAPI) call(t *testing.T, method, path string, body any) jbReply {
	t.Helper()
	r, err := a.do(method, path, nil, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// must is call that also requires a 2xx answer.
func (a *jbAPI) must(t *testing.T, method, path string, body any) jbReply {
	t.Helper()
	r := a.call(t, method, path, body)
	if r.Status/100 != 2 {
		t.Fatalf("%s %s: want 2xx, got %s", method, path, r)
	}
	return r
}

// ---------------------------------------------------------------------------
// The plugin's storage, seen through sys/raw (dev servers enable it)

func mountUUIDOf(t *testing.T, a *jbAPI) string {
	t.Helper()
	uuid, _ := a.must(t, http.MethodGet, "sys/mounts/"+mountPath, nil).Data["uuid"].(string)
	if uuid == "" {
		t.Fatal("sys/mounts/jawbone has no uuid")
	}
	return uuid
}

// rawCreds is the stored creds entry of name, decoded, or nil if none.
func rawCreds(t *testing.T, a *jbAPI, uuid, name string) map[string]any {
	t.Helper()
	r := a.call(t, http.MethodGet, "sys/raw/logical/"+uuid+"/creds/"+name, nil)
	if r.Status == http.StatusNotFound {
		return nil
	}
	if r.Status != http.StatusOK {
		t.Fatalf("reading the stored creds %q through sys/raw: %s", name, r)
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(r.str("value")), &entry); err != nil {
		t.Fatalf("the stored creds %q are not JSON: %v", name, err)
	}
	return entry
}

// rawPutCreds replaces the stored creds entry of name, then reloads the
// mount's plugin: the plugin caches entries and Vault tells it nothing of a
// sys/raw write, so only a fresh plugin process is sure to read it.
func rawPutCreds(t *testing.T, a *jbAPI, uuid, name string, entry map[string]any) {
	t.Helper()
	buf, err := json.Marshal(entry)
	if err != nil {
		t.Fatal(err)
	}
	a.must(t, http.MethodPut, "sys/raw/logical/"+uuid+"/creds/"+name, map[string]any{"value": string(buf)})
	reloadMount(t, a)
}

// reloadMount restarts the plugin behind jawbone/ and waits until it answers.
func reloadMount(t *testing.T, a *jbAPI) {
	t.Helper()
	a.must(t, http.MethodPut, "sys/plugins/reload/backend", map[string]any{"mounts": []string{mountPath + "/"}})
	waitFor(t, startTimeout, "jawbone/ to answer after the reload", func() (bool, error) {
		r, err := a.do(http.MethodGet, mountPath+"/config", nil, nil)
		if err != nil {
			return false, err
		}
		return r.Status == http.StatusOK, fmt.Errorf("%s", r)
	})
}

// ageBackoff moves the stored next refresh attempt of name into the past, as
// if the backoff had run out.
func ageBackoff(t *testing.T, a *jbAPI, uuid, name string) {
	t.Helper()
	entry := rawCreds(t, a, uuid, name)
	if entry == nil {
		t.Fatalf("no stored creds %q to age", name)
	}
	if _, ok := entry["next_attempt_at"]; !ok {
		t.Fatalf("the stored creds %q have no next_attempt_at (fields %v): nothing to age", name, mapKeys(entry))
	}
	entry["next_attempt_at"] = time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	rawPutCreds(t, a, uuid, name, entry)
}

// ---------------------------------------------------------------------------
// Killing a server the hard way

// pluginChildren lists the plugin processes a Vault server started: plugins
// are its direct children running the plugin binary.
func pluginChildren(vaultPID int) []int {
	dirs, _ := os.ReadDir("/proc")
	var out []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so cut at the last ')'.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) < 2 || fields[1] != strconv.Itoa(vaultPID) {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", d.Name(), "exe")); err == nil && filepath.Base(exe) == pluginName {
			out = append(out, pid)
		}
	}
	return out
}

// processGone reports whether pid has exited (a zombie counts as gone).
func processGone(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// killPlugins sends SIGKILL to the given plugin processes (by PID, each
// checked to still be the plugin) and waits until they are gone.
func killPlugins(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || filepath.Base(exe) != pluginName {
			continue // already gone, and the PID may be someone else's now
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	waitFor(t, stopTimeout, fmt.Sprintf("plugin processes %v to exit", pids), func() (bool, error) {
		for _, pid := range pids {
			if !processGone(pid) {
				return false, fmt.Errorf("pid %d still runs", pid)
			}
		}
		return true, nil
	})
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
// A Raft cluster on loopback

// raftCluster is n Vault servers with integrated storage, initialised with
// one key share, joined and unsealed. Node 0 starts as the active node.
type raftCluster struct {
	t         *testing.T
	Nodes     []*Vault
	unsealKey string
	dead      map[int]bool
}

func startRaftCluster(t *testing.T, n int) *raftCluster {
	t.Helper()
	c := &raftCluster{t: t, dead: map[int]bool{}}
	for i := range n {
		v := newVault(t)
		apiPort := freePort(t)
		clusterPort := freePort(t)
		for clusterPort == apiPort {
			clusterPort = freePort(t)
		}
		v.Addr = fmt.Sprintf("http://127.0.0.1:%d", apiPort)
		v.LogPath = filepath.Join(v.dir, fmt.Sprintf("vault-node%d.log", i))
		v.configPath = filepath.Join(v.dir, "server.hcl")
		// performance_multiplier 1 elects a new leader within a couple of
		// seconds rather than on the default (production) timing.
		storage := fmt.Sprintf("storage \"raft\" {\n  path    = %q\n  node_id = \"node%d\"\n  performance_multiplier = 1\n}\n",
			filepath.Join(v.dir, "raft"), i)
		writeFile(t, v.configPath, serverConfig(storage, apiPort, clusterPort, v.PluginDir))
		if err := os.MkdirAll(filepath.Join(v.dir, "raft"), 0o700); err != nil {
			t.Fatal(err)
		}
		v.proc = startProc(t, fmt.Sprintf("vault node%d", i), v.LogPath, cleanEnv("HOME="+v.home),
			v.env.VaultBin, "server", "-config="+v.configPath)
		c.Nodes = append(c.Nodes, v)
	}
	for _, v := range c.Nodes {
		v.waitHealth(http.StatusNotImplemented) // up, not initialised
	}

	// Initialise the first node and unseal it: a one-node Raft cluster that
	// elects itself.
	first := c.Nodes[0]
	unsealKey, rootToken := first.operatorInit()
	c.unsealKey = unsealKey
	for _, v := range c.Nodes {
		v.Token, v.unsealKey = rootToken, unsealKey
	}
	first.unseal() // waits for 200: active

	// The others join the first and are unsealed with the same key; they
	// become standbys (sys/health 429).
	for i, v := range c.Nodes[1:] {
		res := v.CLIAs("", "operator", "raft", "join", "-format=json", first.Addr)
		res.requireOK(t)
		if !strings.Contains(res.Stdout, `"joined": true`) {
			t.Fatalf("node%d: vault operator raft join: not joined:\n%s", i+1, res)
		}
		v.CLIAs("", "operator", "unseal", "-format=json", c.unsealKey).requireOK(t)
		v.waitHealth(http.StatusTooManyRequests)
	}
	c.waitPeers(n)
	return c
}

// waitPeers waits until the Raft configuration lists n voters.
func (c *raftCluster) waitPeers(n int) {
	c.t.Helper()
	a := apiOf(c.Nodes[c.Active()])
	waitFor(c.t, startTimeout, fmt.Sprintf("%d Raft voters", n), func() (bool, error) {
		r, err := a.do(http.MethodGet, "sys/storage/raft/configuration", nil, nil)
		if err != nil {
			return false, err
		}
		var cfg struct {
			Data struct {
				Config struct {
					Servers []struct {
						NodeID string `json:"node_id"`
						Voter  bool   `json:"voter"`
					} `json:"servers"`
				} `json:"config"`
			} `json:"data"`
		}
		if err := json.Unmarshal(r.Body, &cfg); err != nil {
			return false, err
		}
		voters := 0
		for _, s := range cfg.Data.Config.Servers {
			if s.Voter {
				voters++
			}
		}
		return voters == n, fmt.Errorf("%d voters: %s", voters, r.Body)
	})
}

// health is a node's sys/health status code, or 0 if it does not answer.
func nodeHealth(v *Vault) int {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(v.Addr + "/v1/sys/health")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Active is the index of the node that is active now (sys/health 200), or
// fails the test if none is.
func (c *raftCluster) Active() int {
	c.t.Helper()
	for i, v := range c.Nodes {
		if !c.dead[i] && nodeHealth(v) == http.StatusOK {
			return i
		}
	}
	c.t.Fatal("no node of the cluster is active")
	return -1
}

// Live are the indexes of the nodes not killed.
func (c *raftCluster) Live() []int {
	var out []int
	for i := range c.Nodes {
		if !c.dead[i] {
			out = append(out, i)
		}
	}
	return out
}

// Kill crashes node i (SIGKILL, plugins included) and marks it dead.
func (c *raftCluster) Kill(i int) {
	c.t.Helper()
	crashVault(c.t, c.Nodes[i])
	c.dead[i] = true
}

// waitNewActive waits until a live node is active and every live node's
// sys/leader names it, and returns its index.
func (c *raftCluster) waitNewActive(timeout time.Duration) int {
	c.t.Helper()
	active := -1
	waitFor(c.t, timeout, "a live node to become active and the others to follow it", func() (bool, error) {
		active = -1
		for _, i := range c.Live() {
			if nodeHealth(c.Nodes[i]) == http.StatusOK {
				active = i
			}
		}
		if active < 0 {
			return false, fmt.Errorf("no live node answers sys/health with 200")
		}
		for _, i := range c.Live() {
			r, err := apiOf(c.Nodes[i]).do(http.MethodGet, "sys/leader", nil, nil)
			if err != nil {
				return false, err
			}
			if addr, _ := jsonField(r.Body, "leader_address").(string); addr != c.Nodes[active].Addr {
				return false, fmt.Errorf("node%d: sys/leader names %q, not node%d (%s)", i, addr, active, c.Nodes[active].Addr)
			}
		}
		return true, nil
	})
	return active
}

// jsonField is a top-level field of a JSON object (sys/leader and
// sys/health answer without Vault's data envelope).
func jsonField(body []byte, key string) any {
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return m[key]
}
