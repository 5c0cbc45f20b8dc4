package jawbone

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// countingStorage counts the operations made on a storage, by kind and by
// the first part of the key (creds/, index/, state/, config, salt).
type countingStorage struct {
	logical.Storage
	mu     sync.Mutex
	counts map[string]int
}

func countStorage(e *testEnv) *countingStorage {
	c := &countingStorage{Storage: e.storage, counts: map[string]int{}}
	e.view = c
	return c
}

func (c *countingStorage) note(op, key string) {
	area, _, _ := strings.Cut(key, "/")
	c.mu.Lock()
	c.counts[op+" "+area]++
	c.mu.Unlock()
}

func (c *countingStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	c.note("get", key)
	return c.Storage.Get(ctx, key)
}

func (c *countingStorage) List(ctx context.Context, prefix string) ([]string, error) {
	c.note("list", prefix)
	return c.Storage.List(ctx, prefix)
}

func (c *countingStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	c.note("put", e.Key)
	return c.Storage.Put(ctx, e)
}

func (c *countingStorage) Delete(ctx context.Context, key string) error {
	c.note("delete", key)
	return c.Storage.Delete(ctx, key)
}

// during counts the storage operations fn makes.
func (c *countingStorage) during(fn func()) map[string]int {
	c.mu.Lock()
	c.counts = map[string]int{}
	c.mu.Unlock()
	fn()
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// An import, an exchange and a callback cost what their own grant costs:
// the same storage operations on a mount of 10 creds as of 10,000, and no
// list or read of other creds.
func TestWritesCostTheSameAtAnyCount(t *testing.T) {
	t.Parallel()
	flows := map[string]func(e *testEnv, name string){
		"import kept as is": func(e *testEnv, name string) {
			access, refresh := e.fake.IssueTokens(nil)
			e.mustOK(logical.UpdateOperation, "creds/"+name, map[string]any{keyAccessToken: access, keyRefreshToken: refresh,
				keyExpiresAt: e.clock.Now().Add(year).Format(time.RFC3339)})
		},
		"import of a refresh token": func(e *testEnv, name string) {
			_, refresh := e.fake.IssueTokens(nil)
			e.mustOK(logical.UpdateOperation, "creds/"+name, map[string]any{keyRefreshToken: refresh})
		},
		"exchange": func(e *testEnv, name string) {
			auth := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: name})
			e.mustOK(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: e.visit(auth.Data[keyURL].(string))})
		},
		"callback": func(e *testEnv, name string) {
			e.callback(e.landing(name)).requirePage(t, 200, "Jawbone access granted")
		},
	}
	costs := map[int]map[string]map[string]int{}
	for _, n := range []int{10, 10_000} {
		costs[n] = map[string]map[string]int{}
		// The callback completes only authorizations started for it, on
		// a mount whose redirect_uri is its callback: it has its own.
		for _, env := range []func(testing.TB) *testEnv{newConfiguredEnv, newCallbackEnv} {
			e := env(t)
			fillGrants(t, e, n)
			counter := countStorage(e)
			for flow, run := range flows {
				if (flow == "callback") != (e.redirectURI == testCallbackURI) {
					continue
				}
				// The auth-url of a flow is not its cost: counted is what
				// finishing it takes, over the name's existing creds too.
				e.authorize("existing-" + strings.ReplaceAll(flow, " ", "-"))
				name := "existing-" + strings.ReplaceAll(flow, " ", "-")
				if flow == "import kept as is" || flow == "import of a refresh token" {
					name = "new-" + strings.ReplaceAll(flow, " ", "-")
				}
				costs[n][flow] = counter.during(func() { run(e, name) })
			}
		}
	}
	for flow := range flows {
		small, large := costs[10][flow], costs[10_000][flow]
		if !maps.Equal(small, large) {
			t.Errorf("%s: storage operations at 10 creds %v, at 10,000 %v", flow, small, large)
		}
		if large["list creds"] > 0 || large["get creds"] > 2 {
			t.Errorf("%s reads other creds: %v", flow, large)
		}
	}
}

// A tick with nothing due reads no grant and lists none, however many the
// mount holds; the repair reads a bounded number of index entries.
func TestTickWithNothingDueReadsNoGrant(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	fillGrants(t, e, 10_000)
	tick(t, e) // the first tick after a start: the schedule is loaded already
	counter := countStorage(e)
	for range 3 {
		e.clock.Advance(time.Minute)
		ops := counter.during(func() { tick(t, e) })
		if ops["get creds"] > 0 || ops["list creds"] > 0 || ops["put creds"] > 0 {
			t.Fatalf("a tick with nothing due touched the creds: %v", ops)
		}
		if reads := ops["get index"] + ops["list index"]; reads > repairBudget+2 {
			t.Fatalf("the repair read %d index entries in one tick, budget %d: %v", reads, repairBudget, ops)
		}
	}
	if n := e.fake.Calls(fakejawbone.EndpointToken) + e.fake.Calls(fakejawbone.EndpointMe); n != 0 {
		t.Fatalf("a tick with nothing due called Jawbone %d times", n)
	}
}

// A tick attends to what is due, the most overdue first, at most
// maxAttendedPerTick, and to nothing else.
func TestTickAttendsToWhatIsDueInOrder(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	fillGrants(t, e, 50)
	names := []string{"c0000003", "c0000017", "c0000042"}
	for i, name := range names {
		markStored(t, e, name, func(g *grant) {
			g.ObtainedAt = e.clock.Now().Add(-year)
			g.ExpiresAt = e.clock.Now().Add(time.Duration(i+1) * time.Hour) // due: inside refresh_ahead
			_, g.RefreshToken = e.fake.IssueTokens(nil)
		})
	}
	cfg, err := e.b.getConfig(context.Background(), e.storage)
	if err != nil {
		t.Fatal(err)
	}
	if due, _ := e.b.registry.due(cfg, e.clock.Now()); strings.Join(due, ",") != strings.Join(names, ",") {
		t.Fatalf("due: %v, want %v in order of their refresh point", due, names)
	}
	if got := e.b.registry.mem.dueForAttention(e.clock.Now(), 2); len(got) != 2 || got[0] != names[0] {
		t.Fatalf("bounded: %v", got)
	}
	tick(t, e)
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != len(names) {
		t.Fatalf("the tick made %d token calls, want %d", n, len(names))
	}
	if due := e.b.registry.mem.dueForAttention(e.clock.Now(), maxAttendedPerTick); len(due) != 0 {
		t.Fatalf("still due after the tick: %v", due)
	}
}

// Liveness checks rotate through every healthy name, the longest unchecked
// first, at most max_checks_per_minute a tick; status shows the longest
// wait.
func TestLivenessChecksReachEveryName(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	const n, rate = 120, 10
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyCheckInterval: "1m", keyMaxChecksPerMinute: rate})
	for i := range n {
		access, refresh := e.fake.IssueTokens(nil)
		e.mustOK(logical.UpdateOperation, fmt.Sprintf("creds/c%03d", i), map[string]any{keyAccessToken: access, keyRefreshToken: refresh,
			keyExpiresAt: e.clock.Now().Add(year).Format(time.RFC3339)})
	}
	checked := map[string]time.Time{}
	for round := range n / rate {
		e.clock.Advance(time.Minute)
		before := e.fake.Calls(fakejawbone.EndpointMe)
		tick(t, e)
		if made := e.fake.Calls(fakejawbone.EndpointMe) - before; made != rate {
			t.Fatalf("tick %d made %d checks, want %d", round, made, rate)
		}
		wait := e.mustOK(logical.ReadOperation, "status", nil).Data["liveness_longest_wait_seconds"].(float64)
		if round > 0 && wait <= 60 {
			t.Fatalf("tick %d: longest wait %vs, but names wait their turn longer", round, wait)
		}
	}
	for i := range n {
		name := fmt.Sprintf("c%03d", i)
		at := e.stored(name).CheckedAt
		if at.IsZero() {
			t.Fatalf("%s was never checked in %d ticks of %d checks", name, n/rate, rate)
		}
		checked[name] = at
	}
	// The next round goes to the longest unchecked: the first checked.
	e.clock.Advance(time.Minute)
	tick(t, e)
	again := 0
	for name, at := range checked {
		if e.stored(name).CheckedAt != at {
			again++
			if at.After(checked["c000"].Add(time.Minute)) {
				t.Fatalf("%s, checked at %s, was checked again before names checked earlier", name, at)
			}
		}
	}
	if again != rate {
		t.Fatalf("%d names checked in the second round's first tick, want %d", again, rate)
	}
}

// List pages through the names in order with after and limit; without a
// limit it lists every name, before and after the schedule is loaded.
func TestCredsListPages(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	fillGrants(t, e, 25)
	var all []string
	after := ""
	for {
		page := e.mustOK(logical.ListOperation, "creds/", map[string]any{keyAfter: after, keyLimit: 10}).Data["keys"]
		keys, _ := page.([]string)
		all = append(all, keys...)
		if len(keys) < 10 {
			break
		}
		after = keys[len(keys)-1]
	}
	want := e.mustOK(logical.ListOperation, "creds/", nil).Data["keys"].([]string)
	if len(want) != 25 || strings.Join(all, ",") != strings.Join(want, ",") {
		t.Fatalf("pages %v\nall   %v", all, want)
	}
	for i := 1; i < len(want); i++ {
		if want[i-1] >= want[i] {
			t.Fatalf("not in order: %v", want)
		}
	}
	// A node that has not loaded its schedule lists from storage.
	e.b.registry = newRegistry(defaultCacheBytes, e.b.log, e.clock.Now)
	got := e.mustOK(logical.ListOperation, "creds/", map[string]any{keyAfter: want[4], keyLimit: 3}).Data["keys"].([]string)
	if strings.Join(got, ",") != strings.Join(want[5:8], ",") {
		t.Fatalf("from storage: %v, want %v", got, want[5:8])
	}
	e.mustFail(logical.ListOperation, "creds/", map[string]any{keyLimit: -1}, 400, "limit must be 0 (every name) or more")
}

// status counts the creds as the writes leave them, with no scan.
func TestStatusCountsTheCredsAsWritten(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	for _, name := range []string{"a", "b", "c"} {
		e.authorize(name)
	}
	markStored(t, e, "b", func(g *grant) { g.NeedsReauth = true })
	markStored(t, e, "c", func(g *grant) { g.LastError = "jawbone refresh failed (HTTP 503)" })
	e.mustOK(logical.DeleteOperation, "creds/a", nil)
	e.authorize("d")
	status := e.mustOK(logical.ReadOperation, "status", nil).Data
	for key, want := range map[string]float64{"creds": 3, "creds_needing_reauthorization": 1, "creds_failing": 1, "creds_schedule_loaded": 1} {
		if status[key] != want {
			t.Errorf("status %s = %v, want %v", key, status[key], want)
		}
	}
}
