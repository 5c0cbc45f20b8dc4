package jawbone

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
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

// fillGrants stores n healthy grants the fake issued, each of an account
// of its own, none due, through the registry (as imports would), and
// returns their access tokens.
func fillGrants(tb testing.TB, e *testEnv, n int) []string {
	tb.Helper()
	ctx := context.Background()
	tokens := make([]string, n)
	for i := range n {
		xid := fmt.Sprintf("xid-%07d", i)
		access, refresh := e.fake.IssueTokensFor(xid, nil)
		g := &grant{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer",
			ExpiresAt: e.clock.Now().Add(year), ObtainedAt: e.clock.Now(), CheckedAt: e.clock.Now(), Scopes: []string{"basic_read"},
			AccountXID: xid}
		if err := e.b.registry.update(ctx, e.storage, fmt.Sprintf("c%07d", i), func(tx *grantTx) error { return tx.put(g) }); err != nil {
			tb.Fatal(err)
		}
		tokens[i] = access
	}
	return tokens
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
				e.b.registry = newRegistry(0, e.b.log, e.clock.Now)
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

// fakeTransport carries requests to the fake in-process, as HTTP without
// sockets, and tells onRequest of each.
type fakeTransport struct {
	fake      http.Handler
	onRequest func(*http.Request)
}

func (t fakeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.onRequest != nil {
		t.onRequest(req)
	}
	rec := httptest.NewRecorder()
	t.fake.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// Liveness over a simulated day: 10,000 healthy creds, check_interval 1h,
// at most 100 checks a minute (6,000 an hour: fewer than the creds), one
// tick a minute. Every name is checked, in turn; the longest gap between
// two checks of one name is reported (the fair share is 10,000 / 100 =
// 100 minutes).
func BenchmarkLivenessDay(b *testing.B) {
	const n, rate = 10_000, 100
	for b.Loop() {
		e := newConfiguredEnv(b)
		e.mustOK(logical.UpdateOperation, "config", map[string]any{keyCheckInterval: "1h", keyMaxChecksPerMinute: rate})
		names := map[string]string{}
		for i, token := range fillGrants(b, e, n) {
			names[token] = fmt.Sprintf("c%07d", i)
		}
		last, gap := map[string]time.Time{}, time.Duration(0)
		var mu sync.Mutex // the tick checks with several workers
		e.b.transport = fakeTransport{fake: e.fake, onRequest: func(req *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			name := names[strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")]
			if prev, ok := last[name]; ok {
				gap = max(gap, e.clock.Now().Sub(prev))
			}
			last[name] = e.clock.Now()
		}}
		for range 24 * 60 {
			e.clock.Advance(time.Minute)
			tick(b, e)
		}
		if len(last) != n {
			b.Fatalf("%d of %d names were checked in a day", len(last), n)
		}
		b.ReportMetric(gap.Minutes(), "longest-gap-min")
		b.ReportMetric(float64(len(last)), "names-checked")
	}
}
