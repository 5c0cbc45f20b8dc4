package jawbone

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// Speed targets live here, not in timed tests:
//   fresh-token creds read <= 10 µs and <= 60 allocs;
//   a background tick with nothing due costs the same at 10k and 100k creds;
//   the in-memory index of the schedule stays near 110 bytes a grant.
// Run: go test -run '^$' -bench . -benchmem -count 6 | benchstat -

// benchEnv is a configured test env, with the creds "me" authorized when
// withCreds, and the benchmark's counters reset.
func benchEnv(b *testing.B, withCreds bool) *testEnv {
	b.Helper()
	e := newTestEnv(b)
	e.configure()
	if withCreds {
		e.authorize("me")
	}
	b.ReportAllocs()
	b.ResetTimer()
	return e
}

func benchRead(b *testing.B, e *testEnv, path string) {
	b.Helper()
	req := &logical.Request{Operation: logical.ReadOperation, Path: path, Storage: e.storage}
	resp, err := e.b.HandleRequest(context.Background(), req)
	if err != nil || resp.IsError() {
		b.Fatalf("read %s: %v %v", path, err, resp)
	}
}

func BenchmarkCredsReadFresh(b *testing.B) {
	e := benchEnv(b, true)
	for b.Loop() {
		benchRead(b, e, "creds/me")
	}
}

func BenchmarkCredsReadFreshParallel(b *testing.B) {
	e := benchEnv(b, true)
	b.RunParallel(func(pb *testing.PB) {
		req := &logical.Request{Operation: logical.ReadOperation, Path: "creds/me", Storage: e.storage}
		for pb.Next() {
			if resp, err := e.b.HandleRequest(context.Background(), req); err != nil || resp.IsError() {
				b.Errorf("read: %v %v", err, resp)
				return
			}
		}
	})
}

// Every read finds the token due and refreshes it at the fake over loopback:
// tokens live no longer than refresh_ahead, and the clock moves past half a
// token's life (before which no token is refreshed) between reads.
func BenchmarkCredsReadRefresh(b *testing.B) {
	e := benchEnv(b, true)
	e.fake.SetTokenLifetime(defaultRefreshAhead)
	e.clock.Advance(year)
	before := e.fake.Calls(fakejawbone.EndpointToken)
	for b.Loop() {
		e.clock.Advance(defaultRefreshAhead/2 + time.Second)
		benchRead(b, e, "creds/me")
	}
	if refreshes := e.fake.Calls(fakejawbone.EndpointToken) - before; refreshes < b.N {
		b.Fatalf("%d refreshes in %d reads: the benchmark no longer measures a refresh", refreshes, b.N)
	}
}

// letStatesExpire moves the clock past the life of every state so far
// before the mount's limit is reached, as time does between real
// authorizations: the next auth-url sweeps them (a cost the loop includes).
func letStatesExpire(e *testEnv, i int) {
	if i%maxPendingStates == maxPendingStates-1 {
		e.clock.Advance(stateTTL + time.Second)
	}
}

func BenchmarkAuthURL(b *testing.B) {
	e := benchEnv(b, false)
	for i := 0; b.Loop(); i++ {
		letStatesExpire(e, i)
		benchRead(b, e, "auth-url")
	}
}

func BenchmarkExchange(b *testing.B) {
	e := benchEnv(b, false)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		letStatesExpire(e, i)
		auth := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyReplace: true})
		landed := e.visit(auth.Data[keyURL].(string))
		b.StartTimer()
		resp, err := e.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation,
			Path: "exchange", Storage: e.storage, Data: map[string]any{keyRedirectURL: landed}})
		if err != nil || resp.IsError() {
			b.Fatalf("exchange: %v %v", err, resp)
		}
	}
}

// fillGrants stores n grants of their own accounts, none due, through the
// registry (as imports would), and loads the schedule as a start would.
func fillGrants(tb testing.TB, e *testEnv, n int) {
	tb.Helper()
	ctx := context.Background()
	for i := range n {
		g := &grant{AccessToken: fmt.Sprintf("bench-access-%07d", i), RefreshToken: fmt.Sprintf("bench-refresh-%07d", i), TokenType: "Bearer",
			ExpiresAt: e.clock.Now().Add(year), ObtainedAt: e.clock.Now(), CheckedAt: e.clock.Now(), Scopes: []string{"basic_read"},
			AccountXID: fmt.Sprintf("xid-%07d", i)}
		if err := e.b.registry.update(ctx, e.storage, fmt.Sprintf("c%07d", i), func(tx *grantTx) error { return tx.put(g) }); err != nil {
			tb.Fatal(err)
		}
	}
}

// A tick with nothing due costs what is due (nothing), however many creds
// the mount holds.
func BenchmarkBackgroundTick(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			e := newConfiguredEnv(b)
			fillGrants(b, e, n)
			tick(b, e)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				tick(b, e)
			}
			if calls := e.fake.Calls("token"); calls != 0 {
				b.Fatalf("a tick with nothing due made %d token calls", calls)
			}
		})
	}
}

// Loading the schedule after a start reads every grant once; the live heap
// it leaves is the in-memory index (the grants themselves are in in-memory
// storage, which is subtracted).
func BenchmarkScheduleLoad(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			e := newConfiguredEnv(b)
			fillGrants(b, e, n)
			b.ReportAllocs()
			var bytesPerGrant float64
			for b.Loop() {
				b.StopTimer()
				e.b.registry = newRegistry(0, e.b.log)
				base := liveHeapMiB()
				b.StartTimer()
				if err := e.b.registry.loadAll(context.Background(), e.storage); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				bytesPerGrant = (liveHeapMiB() - base) * (1 << 20) / float64(n)
				b.StartTimer()
			}
			b.ReportMetric(bytesPerGrant, "index-B/grant")
		})
	}
}

func liveHeapMiB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}
