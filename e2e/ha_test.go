package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// TestHACluster runs the engine on Vault's own HA: three servers with Raft
// integrated storage on loopback, the plugin registered on every node. One
// cluster serves every sub-case, in order:
//
//   - an authorization started on one node is finished on another;
//   - creds/me read on every node is the same token;
//   - a refresh storm (readers on every node as the token falls due) makes
//     exactly one call to Jawbone's token URL, cluster-wide;
//   - SIGKILL of the active node: a standby takes over, reads go on
//     returning the same token, and an authorization started before the
//     crash is finished after it.
func TestHACluster(t *testing.T) {
	f := StartFake(t)
	started := time.Now()
	c := startRaftCluster(t, 3)
	first := c.Active()
	t.Logf("cluster up in %s: node%d active; %s", time.Since(started).Round(time.Millisecond), first, nodeAddrs(c))

	// The catalog is replicated through Raft, but each node runs the plugin
	// from its own plugin_directory: register through every node and check
	// every node's catalog shows the same binary.
	for _, v := range c.Nodes {
		v.MustCLI("plugin", "register", "-sha256="+v.PluginSHA, "-version="+v.env.PluginVersion, "secret", pluginName)
	}
	c.Nodes[first].MustCLI("secrets", "enable", "-path="+mountPath, "-plugin-version="+c.Nodes[first].env.PluginVersion, pluginName)
	for i, v := range c.Nodes {
		info := v.ReadJSON("sys/plugins/catalog/secret/"+pluginName, "version="+v.env.PluginVersion).Data
		if info["sha256"] != v.PluginSHA || info["version"] != v.env.PluginVersion {
			t.Fatalf("node%d: the catalog shows %v, want sha256 %s version %s", i, info, v.PluginSHA, v.env.PluginVersion)
		}
	}
	// Configure through a standby: Vault forwards the write to the active node.
	c.Nodes[(first+1)%3].ConfigureFor(f)

	apis := make([]*jbAPI, len(c.Nodes))
	for i, v := range c.Nodes {
		apis[i] = apiOf(v)
	}

	t.Run("flow across nodes", func(t *testing.T) {
		// auth-url on one node, the browser, exchange on another: the state
		// lives in Raft, so any node can finish what any node started.
		for _, p := range []struct {
			name     string
			from, to int
		}{
			{"me", (first + 1) % 3, (first + 2) % 3}, // standby to standby
			{"other", first, (first + 1) % 3},        // active to standby
			{"third", (first + 2) % 3, first},        // standby to active
		} {
			loc := apiVisitAuthURL(t, f, apis[p.from], p.name)
			r := apis[p.to].call(t, http.MethodPost, mountPath+"/exchange", map[string]any{"redirect_url": loc})
			if r.Status != http.StatusOK || r.str("name") != p.name {
				t.Fatalf("auth-url on node%d, exchange on node%d: %s", p.from, p.to, r)
			}
			t.Logf("creds/%s: auth-url on node%d, exchange on node%d", p.name, p.from, p.to)
		}
		for _, name := range []string{"me", "other", "third"} {
			f.requireTokenWorks(t, apiToken(t, apis[first], name), "creds/"+name)
		}
	})

	t.Run("same token on every node", func(t *testing.T) {
		calls := f.Calls(fakejawbone.EndpointToken)
		want := apiToken(t, apis[first], "me")
		for i := range c.Nodes {
			for range 3 {
				if got := apiToken(t, apis[i], "me"); got != want {
					t.Errorf("node%d: creds/me returns a different token than node%d", i, first)
				}
			}
		}
		f.requireTokenWorks(t, want, "creds/me")
		if n := f.Calls(fakejawbone.EndpointToken) - calls; n != 0 {
			t.Errorf("reading a fresh token on every node made %d token calls, want 0", n)
		}
	})

	t.Run("refresh storm", func(t *testing.T) {
		// A grant the fake issued (valid a year there) imported with an
		// expires_at that puts its refresh point (expires_at - refresh_ahead,
		// 168h by default) a few seconds from now.
		access, refresh := f.Issue()
		expiresAt := time.Now().Add(168*time.Hour + 6*time.Second).UTC().Truncate(time.Second)
		dueAt := expiresAt.Add(-168 * time.Hour)
		calls := f.Calls(fakejawbone.EndpointToken)
		apis[(first+1)%3].must(t, http.MethodPost, mountPath+"/creds/storm", map[string]any{
			"access_token": access, "refresh_token": refresh, "expires_at": expiresAt.Format(time.RFC3339),
		})
		if n := f.Calls(fakejawbone.EndpointToken) - calls; n != 0 {
			t.Fatalf("importing with expires_at made %d token calls, want 0", n)
		}

		// Four readers per node read in a loop from before the refresh
		// point until a few seconds after it.
		stopAt := dueAt.Add(4 * time.Second)
		reads := runStorm(apis, c.Live(), 4, func() bool { return time.Now().Before(stopAt) })

		if n := f.Calls(fakejawbone.EndpointToken) - calls; n != 1 {
			t.Errorf("the storm made %d token calls cluster-wide, want exactly 1", n)
		}
		fresh := apiToken(t, apis[first], "storm")
		if fresh == access {
			t.Fatalf("creds/storm was not refreshed after its refresh point")
		}
		summarizeStorm(t, reads, access, fresh, dueAt)
		f.requireTokenWorks(t, fresh, "creds/storm after the storm")
		f.requireTokenRejected(t, access, "creds/storm's token before the storm")
		for _, i := range c.Live() {
			if got := apiToken(t, apis[i], "storm"); got != fresh {
				t.Errorf("node%d: creds/storm after the storm is not the refreshed token", i)
			}
		}
	})

	t.Run("active node killed", func(t *testing.T) {
		active := c.Active()
		want := apiToken(t, apis[active], "me")
		// An authorization started on the active node, finished after it died.
		pending := apiVisitAuthURL(t, f, apis[active], "after-failover")
		calls := f.Calls(fakejawbone.EndpointToken)

		var survivors []int
		for _, i := range c.Live() {
			if i != active {
				survivors = append(survivors, i)
			}
		}
		// Readers on the survivors run through the crash and the election.
		stop := make(chan struct{})
		var (
			mu    sync.Mutex
			reads []haRead
			wg    sync.WaitGroup
		)
		for _, i := range survivors {
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						r := haReadOnce(apis[i], i, "me")
						mu.Lock()
						reads = append(reads, r)
						mu.Unlock()
						time.Sleep(20 * time.Millisecond) // pacing, not synchronisation
					}
				}()
			}
		}

		killedAt := time.Now()
		c.Kill(active)
		newActive := c.waitNewActive(90 * time.Second)
		electedAt := time.Now()
		// Every survivor serves creds/me again (the new active node has
		// mounted the engine and started its own copy of the plugin).
		for _, i := range survivors {
			waitFor(t, 60*time.Second, fmt.Sprintf("node%d to serve creds/me after the failover", i), func() (bool, error) {
				r := haReadOnce(apis[i], i, "me")
				return r.status == http.StatusOK, fmt.Errorf("%s", r)
			})
		}
		servingAt := time.Now()
		// Keep reading a little longer: from here on every read must succeed.
		waitFor(t, 30*time.Second, "two more seconds of reads", func() (bool, error) {
			return time.Since(servingAt) > 2*time.Second, nil
		})
		close(stop)
		wg.Wait()
		t.Logf("node%d killed; node%d active after %s; all survivors serving after %s",
			active, newActive, electedAt.Sub(killedAt).Round(time.Millisecond), servingAt.Sub(killedAt).Round(time.Millisecond))

		var okReads, failed, failedAfter int
		failures := map[string]int{}
		for _, r := range reads {
			switch {
			case r.status == http.StatusOK:
				okReads++
				if r.token != want {
					t.Errorf("node%d at %s returned a different token for creds/me during the failover", r.node, r.at.Format(time.RFC3339Nano))
				}
			case r.at.After(servingAt):
				failedAfter++
				t.Errorf("node%d at %s: a read failed after the new active node was serving: %s", r.node, r.at.Format(time.RFC3339Nano), r)
			default:
				failed++
				failures[fmt.Sprintf("%d %s", r.status, firstLineOf(r.err))]++
			}
		}
		for msg, n := range failures {
			t.Logf("  %d× during the election: %s", n, msg)
		}
		t.Logf("reads on the survivors: %d ok (all the same token), %d failed during the election window, %d failed after it", okReads, failed, failedAfter)
		if okReads == 0 {
			t.Errorf("no read succeeded on the survivors")
		}
		f.requireTokenWorks(t, want, "creds/me after the failover")
		if n := f.Calls(fakejawbone.EndpointToken) - calls; n != 0 {
			t.Errorf("the failover made %d token calls, want 0 (the token was fresh)", n)
		}
		if pids := pluginChildren(c.Nodes[newActive].proc.cmd.Process.Pid); len(pids) == 0 {
			t.Errorf("the new active node%d runs no plugin process from its own plugin_directory", newActive)
		}

		// The authorization started on the dead node is finished on a survivor.
		standby := survivors[0]
		if standby == newActive {
			standby = survivors[1]
		}
		r := apis[standby].call(t, http.MethodPost, mountPath+"/exchange", map[string]any{"redirect_url": pending})
		if r.Status != http.StatusOK || r.str("name") != "after-failover" {
			t.Fatalf("exchange on node%d of a state made on the dead node%d: %s", standby, active, r)
		}
		f.requireTokenWorks(t, apiToken(t, apis[newActive], "after-failover"), "creds/after-failover")

		// The new active node refreshes too, and every survivor sees it.
		fresh := apis[standby].must(t, http.MethodPost, mountPath+"/creds/me/refresh", nil).str("access_token")
		if fresh == "" || fresh == want {
			t.Fatalf("forced refresh on node%d after the failover returned %q", standby, fresh)
		}
		f.requireTokenWorks(t, fresh, "creds/me refreshed after the failover")
		f.requireTokenRejected(t, want, "creds/me's token before the forced refresh")
		for _, i := range survivors {
			if got := apiToken(t, apis[i], "me"); got != fresh {
				t.Errorf("node%d: creds/me after the forced refresh is not the refreshed token", i)
			}
		}
	})
}

func nodeAddrs(c *raftCluster) string {
	var out []string
	for i, v := range c.Nodes {
		out = append(out, fmt.Sprintf("node%d=%s", i, v.Addr))
	}
	return strings.Join(out, " ")
}

// apiVisitAuthURL reads auth-url for name through a and plays the browser:
// it returns the URL the fake redirected to.
func apiVisitAuthURL(t *testing.T, f *Fake, a *jbAPI, name string) string {
	t.Helper()
	r, err := a.do(http.MethodGet, mountPath+"/auth-url", url.Values{"name": {name}}, nil)
	if err != nil || r.Status != http.StatusOK || r.str("url") == "" {
		t.Fatalf("auth-url name=%s on %s: %v %s", name, a.addr, err, r)
	}
	return f.Visit(t, r.str("url"))
}

// haRead is one read made by a background reader.
type haRead struct {
	node, reader int
	at           time.Time
	status       int
	token        string
	err          string
}

func (r haRead) String() string {
	if r.err != "" {
		return r.err
	}
	return fmt.Sprintf("HTTP %d", r.status)
}

func haReadOnce(a *jbAPI, node int, name string) haRead {
	at := time.Now()
	r, err := a.do(http.MethodGet, mountPath+"/creds/"+name, nil, nil)
	if err != nil {
		return haRead{node: node, at: at, err: err.Error()}
	}
	read := haRead{node: node, at: at, status: r.Status, token: r.str("access_token")}
	if r.Status != http.StatusOK {
		read.err = r.String()
	}
	return read
}

// runStorm runs perNode readers of creds/storm on each of nodes while more()
// holds, and returns every read in the order each reader made them.
func runStorm(apis []*jbAPI, nodes []int, perNode int, more func() bool) [][]haRead {
	var (
		mu  sync.Mutex
		out [][]haRead
		wg  sync.WaitGroup
	)
	for _, i := range nodes {
		for k := range perNode {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []haRead
				for more() {
					r := haReadOnce(apis[i], i, "storm")
					r.reader = k
					mine = append(mine, r)
					time.Sleep(10 * time.Millisecond) // pacing, not synchronisation
				}
				mu.Lock()
				out = append(out, mine)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	return out
}

// summarizeStorm checks that every read succeeded, each reader saw the old
// token and then only the new one, and reports how many reads were made.
func summarizeStorm(t *testing.T, readers [][]haRead, old, fresh string, dueAt time.Time) {
	t.Helper()
	total, before, after := 0, 0, 0
	perNode := map[int]int{}
	var firstNew time.Time
	for _, reads := range readers {
		seenNew := false
		for _, r := range reads {
			total++
			perNode[r.node]++
			if r.status != http.StatusOK {
				t.Errorf("node%d reader %d at %s: %s", r.node, r.reader, r.at.Format(time.RFC3339Nano), r)
				continue
			}
			switch r.token {
			case old:
				before++
				if seenNew {
					t.Errorf("node%d reader %d got the old token after the new one", r.node, r.reader)
				}
			case fresh:
				after++
				seenNew = true
				if firstNew.IsZero() || r.at.Before(firstNew) {
					firstNew = r.at
				}
			default:
				t.Errorf("node%d reader %d got a token that is neither the old nor the refreshed one", r.node, r.reader)
			}
		}
	}
	nodes := make([]int, 0, len(perNode))
	for n := range perNode {
		nodes = append(nodes, n)
	}
	sort.Ints(nodes)
	var counts []string
	for _, n := range nodes {
		counts = append(counts, fmt.Sprintf("node%d:%d", n, perNode[n]))
	}
	t.Logf("storm: %d reads by %d readers (%s): %d old token, %d refreshed; the first read to return the refreshed token was sent at refresh point %+dms",
		total, len(readers), strings.Join(counts, " "), before, after, firstNew.Sub(dueAt).Milliseconds())
	if before == 0 || after == 0 {
		t.Errorf("the storm did not span the refresh point (%d reads before, %d after)", before, after)
	}
	if !slices.ContainsFunc(readers, func(rs []haRead) bool { return len(rs) > 0 }) {
		t.Errorf("no reads were made")
	}
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
