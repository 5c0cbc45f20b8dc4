// The harness: a 3-node (or n-node) Raft cluster of Vault servers on loopback.

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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
		v.LogPath = filepath.Join(v.dir, fmt.Sprintf("vault-node%d.log", i))
		// performance_multiplier 1 elects a new leader within a couple of
		// seconds rather than on the default (production) timing.
		storage := fmt.Sprintf("storage \"raft\" {\n  path    = %q\n  node_id = \"node%d\"\n  performance_multiplier = 1\n}\n",
			filepath.Join(v.dir, "raft"), i)
		v.writeConfig(fmt.Sprintf("vault node%d", i), storage)
		if err := os.MkdirAll(filepath.Join(v.dir, "raft"), 0o700); err != nil {
			t.Fatal(err)
		}
		v.startServer()
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

// nodeHealth is a node's sys/health status code, or 0 if it does not answer.
func nodeHealth(v *Vault) int {
	status, _ := apiOf(v, withTimeout(healthTimeout)).health()
	return status
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
