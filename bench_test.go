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

// Speed targets (issue 5) live here, not in timed tests:
//   fresh-token creds read <= 10 µs and <= 60 allocs;
//   background scan of 100k creds, none due, <= 5 s.
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
	if i%maxStatesPerName == maxStatesPerName-1 {
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

func BenchmarkBackgroundScan(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			e := newTestEnv(b)
			e.configure()
			entry := &grant{AccessToken: "bench-access-token-0123456789", RefreshToken: "bench-refresh-token-0123456789", TokenType: "Bearer",
				ExpiresAt: e.clock.Now().Add(year), ObtainedAt: e.clock.Now(), Scopes: []string{"basic_read"}}
			for i := range n {
				if err := putJSON(context.Background(), e.storage, fmt.Sprintf("%sc%06d", credsStoragePrefix, i), entry); err != nil {
					b.Fatal(err)
				}
			}
			baseline := liveHeapMiB()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				if err := e.b.refreshDueCreds(context.Background(), e.storage); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/scan")
			// What a scan keeps, not what it allocates: the live heap after a
			// collection, with the n entries in (in-memory) storage subtracted.
			b.ReportMetric(liveHeapMiB()-baseline, "live-MiB-after-scan")
			if calls := e.fake.Calls("token"); calls != 0 {
				b.Fatalf("a scan with nothing due made %d token calls", calls)
			}
		})
	}
}

func liveHeapMiB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}
