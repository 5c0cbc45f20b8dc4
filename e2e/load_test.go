//go:build bench

// The load harness (`make bench`): one real `vault server -dev`, started like
// the e2e suite, with the plugin at jawbone/, a no-op external plugin of the
// harness's own at noop/ (the floor: bench/noop-plugin) and KV v2 at secret/.
// It measures, in this order:
//
//   - throughput and latency of jawbone/creds/me, noop/read (the floor),
//     noop/framework (the floor routed by the SDK's framework.Backend) and
//     secret/data/x for C = 1, 8, 64 keep-alive clients, and the ratios
//     creds/floor, creds/framework floor and creds/KV;
//   - Vault storage reads per request of each (from Vault's own
//     vault.barrier.get counter): a cached creds read makes none;
//   - a refresh storm: 1,000 readers of creds that need a refresh, released
//     together: one token-URL call, everyone gets the new token;
//   - plugin cold start: secrets enable on a new mount, and plugin reload,
//     each to the first successful creds read.
//
// Every response is checked as it arrives (status 200 and the expected
// token or value in the body), so a broken plugin cannot produce numbers.
// The markdown report is printed and written into BENCHMARKS.md between
// the load markers (BENCH_REPORT=path writes elsewhere, BENCH_REPORT=- nowhere).
//
// Knobs: LOAD_DURATION (measured time per cell, default 6s), LOAD_ROUNDS
// (the cell is split into this many interleaved rounds, default 6),
// LOAD_WARMUP (unmeasured lead-in of each round, default 200ms),
// NOOP_PLUGIN_BIN (a prebuilt no-op plugin; otherwise it is built here).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

const (
	noopPluginName    = "vault-plugin-noop"
	noopPluginVersion = "v0.0.1" // the no-op plugin's RunningVersion
	noopMount         = "noop"
	noopToken         = "noop-access-token-0123456789abcdefghijklmno" // in bench/noop-plugin

	// coldPluginName is the plugin binary registered a second time, so that
	// enabling a mount of it starts a plugin process of its own.
	coldPluginName = pluginName + "-cold"
	coldMount      = "jawbone-cold"
	coldRuns       = 5

	stormReaders = 1000
	// storageProbeReads is how many sequential reads the storage count
	// averages over.
	storageProbeReads = 500

	floorRatioTarget = 0.9

	loadMarkerBegin = "<!-- BEGIN make bench: load harness (e2e/load_test.go) -->"
	loadMarkerEnd   = "<!-- END make bench: load harness -->"
)

var loadConcurrency = []int{1, 8, 64}

// loadTarget is one path under load and what every response must contain.
type loadTarget struct {
	key   string // creds, floor, kv
	label string
	path  string // under /v1/
	want  []byte
}

func TestLoad(t *testing.T) {
	settings := loadSettingsFromEnv(t)
	rep := &loadReport{settings: settings, started: time.Now(), loadAvgStart: loadAverage()}

	f := StartFake(t)
	v := StartVaultWithPlugin(t)
	v.ConfigureFor(f)
	v.Authorize(f, "me")
	meToken := v.AccessToken("me")
	installNoopPlugin(t, v)
	kvMarker := "kv-" + randomHex(t, 8)
	v.MustCLI("kv", "put", "-mount=secret", "x", "marker="+kvMarker)
	rep.vaultVersion = vaultVersion(v.MustCLI("version"))
	rep.pluginVersion = v.env.PluginVersion

	targets := []loadTarget{
		{key: "creds", label: "`jawbone/creds/me`", path: mountPath + "/creds/me", want: []byte(`"access_token":"` + meToken + `"`)},
		{key: "floor", label: "`noop/read` (floor)", path: noopMount + "/read", want: []byte(`"access_token":"` + noopToken + `"`)},
		{key: "framework", label: "`noop/framework` (framework floor)", path: noopMount + "/framework", want: []byte(`"access_token":"` + noopToken + `"`)},
		{key: "kv", label: "`secret/data/x` (KV v2)", path: "secret/data/x", want: []byte(`"marker":"` + kvMarker + `"`)},
	}
	client := newLoadClient(v, slices.Max(loadConcurrency))
	// Every target answers correctly before anything is timed.
	for _, tg := range targets {
		if err := checkTarget(client, tg); err != nil {
			t.Fatal(err)
		}
	}

	ok := t.Run("throughput", func(t *testing.T) { rep.throughput = measureThroughput(t, v, client, targets, settings) }) &&
		t.Run("storage-reads", func(t *testing.T) { rep.storage = measureStorageReads(t, client, targets) }) &&
		t.Run("refresh-storm", func(t *testing.T) { rep.storm = refreshStorm(t, v.For(t), f) }) &&
		t.Run("cold-start", func(t *testing.T) { rep.cold = coldStart(t, v.For(t), f, client, meToken) })
	if !ok {
		t.Fatal("a phase failed: no report is written")
	}
	rep.finished = time.Now()
	rep.loadAvgEnd = loadAverage()

	md := rep.markdown()
	fmt.Printf("\n%s\n", md)
	writeLoadReport(t, v.env.RepoRoot, md)
	if misses := rep.floorMisses(); len(misses) > 0 {
		// Not a failure: the table says so, and BENCHMARKS.md explains it.
		t.Logf("creds/floor below %.2f at C = %s (see BENCHMARKS.md)", floorRatioTarget, strings.Join(misses, ", "))
	}
}

// ---------------------------------------------------------------------------
// Settings

type loadSettings struct {
	cell   time.Duration // measured time per (C, target)
	rounds int
	warmup time.Duration
}

func loadSettingsFromEnv(t *testing.T) loadSettings {
	t.Helper()
	s := loadSettings{cell: 6 * time.Second, rounds: 6, warmup: 200 * time.Millisecond}
	for _, d := range []struct {
		env string
		to  *time.Duration
	}{{"LOAD_DURATION", &s.cell}, {"LOAD_WARMUP", &s.warmup}} {
		if raw := os.Getenv(d.env); raw != "" {
			v, err := time.ParseDuration(raw)
			if err != nil || v < 0 {
				t.Fatalf("%s=%q: want a duration such as 6s", d.env, raw)
			}
			*d.to = v
		}
	}
	if raw := os.Getenv("LOAD_ROUNDS"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			t.Fatalf("LOAD_ROUNDS=%q: want a positive integer", raw)
		}
		s.rounds = n
	}
	if s.cell < 100*time.Millisecond*time.Duration(s.rounds) {
		t.Fatalf("LOAD_DURATION=%s is too short for %d rounds", s.cell, s.rounds)
	}
	return s
}

// ---------------------------------------------------------------------------
// The no-op plugin

// installNoopPlugin builds (or takes NOOP_PLUGIN_BIN) the no-op plugin,
// registers it by sha256 and version and mounts it at noop/, exactly as
// RegisterPlugin does for the Jawbone plugin.
func installNoopPlugin(t *testing.T, v *Vault) {
	t.Helper()
	bin := os.Getenv("NOOP_PLUGIN_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), noopPluginName)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./bench/noop-plugin")
		cmd.Dir = v.env.RepoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building the no-op plugin: %v\n%s", err, out)
		}
	} else if !filepath.IsAbs(bin) {
		bin = filepath.Join(v.env.RepoRoot, bin)
	}
	dst := filepath.Join(v.PluginDir, noopPluginName)
	copyFile(t, bin, dst, 0o755)
	v.MustCLI("plugin", "register", "-sha256="+sha256File(t, dst), "-version="+noopPluginVersion, "secret", noopPluginName)
	v.MustCLI("secrets", "enable", "-path="+noopMount, "-plugin-version="+noopPluginVersion, noopPluginName)
}

// ---------------------------------------------------------------------------
// HTTP client

// newLoadClient is the harness's API client (jbAPI) as the load needs it: a
// keep-alive transport of its own with room for every concurrent client's
// connection, and time for a burst of a thousand to queue.
func newLoadClient(v *Vault, conns int) *jbAPI {
	return apiOf(v, withConns(conns), withTimeout(2*time.Minute))
}

// getInto GETs /v1/path into buf, decoding nothing, and returns the status.
func getInto(c *jbAPI, path string, buf *bytes.Buffer) (int, error) {
	req, err := c.newRequest(http.MethodGet, path, "", nil)
	if err != nil {
		return 0, err
	}
	status, _, err := c.send(req, buf)
	return status, err
}

// checkTarget GETs tg once and checks the answer.
func checkTarget(c *jbAPI, tg loadTarget) error {
	var buf bytes.Buffer
	status, err := getInto(c, tg.path, &buf)
	return checkResponse(tg, status, err, buf.Bytes())
}

func checkResponse(tg loadTarget, status int, err error, body []byte) error {
	switch {
	case err != nil:
		return fmt.Errorf("GET /v1/%s: %w", tg.path, err)
	case status != http.StatusOK:
		return fmt.Errorf("GET /v1/%s: status %d: %s", tg.path, status, body)
	case !bytes.Contains(body, tg.want):
		return fmt.Errorf("GET /v1/%s: the response lacks %s: %s", tg.path, tg.want, body)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Throughput

// segment is one timed run of one target at one concurrency.
type segment struct {
	ops      int // requests started in the measured window
	measured time.Duration
	lats     []time.Duration
	// allOps counts the warm-up too; cpu is what each watched process used
	// over the whole run (warm-up included), so cpu/allOps is per request.
	allOps int
	cpu    map[string]time.Duration
}

func (s segment) opsPerSec() float64 { return float64(s.ops) / s.measured.Seconds() }

// runSegment drives tg with clients concurrent clients for warmup+dur, each
// sending one prepared request again and again. Requests started in the
// warm-up are not counted; ops/s is the count started in the measured
// window over its length.
func runSegment(c *jbAPI, tg loadTarget, clients int, warmup, dur time.Duration, watch map[string]int) (segment, error) {
	cpuBefore := cpuTimes(watch)
	start := time.Now()
	from := start.Add(warmup)
	end := from.Add(dur)
	lats := make([][]time.Duration, clients)
	errs := make([]error, clients)
	all := make([]int, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			req, err := c.newRequest(http.MethodGet, tg.path, "", nil)
			if err != nil {
				errs[i] = err
				return
			}
			var buf bytes.Buffer
			mine := make([]time.Duration, 0, 8192)
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				status, _, err := c.send(req, &buf)
				d := time.Since(t0)
				if err := checkResponse(tg, status, err, buf.Bytes()); err != nil {
					errs[i] = err
					return
				}
				all[i]++
				if !t0.Before(from) {
					mine = append(mine, d)
				}
			}
			lats[i] = mine
		})
	}
	wg.Wait()
	cpuAfter := cpuTimes(watch)
	if err := errors.Join(errs...); err != nil {
		return segment{}, err
	}
	seg := segment{measured: dur, lats: slices.Concat(lats...), cpu: map[string]time.Duration{}}
	seg.ops = len(seg.lats)
	for _, n := range all {
		seg.allOps += n
	}
	for name := range watch {
		seg.cpu[name] = cpuAfter[name] - cpuBefore[name]
	}
	return seg, nil
}

// cellResult is one (C, target): all its rounds together.
type cellResult struct {
	ops       int
	measured  time.Duration
	p50, p99  time.Duration
	perRound  []float64 // ops/s of each round
	opsPerSec float64
	cpuPerOp  map[string]time.Duration // by watched process
}

type throughputResult struct {
	cells map[int]map[string]*cellResult // by C, then target key
	order []loadTarget
}

// measureThroughput runs every (C, target) cell. Each cell is split into
// rounds, and within a round the targets take turns in a rotating order, so
// a disturbance from the shared machine lands on all three rather than
// biasing one.
func measureThroughput(t *testing.T, v *Vault, c *jbAPI, targets []loadTarget, s loadSettings) *throughputResult {
	res := &throughputResult{cells: map[int]map[string]*cellResult{}, order: targets}
	// The CPU time of Vault, of each plugin process and of this load
	// generator, per request.
	watch := map[string]int{"vault": v.proc.cmd.Process.Pid, "client": os.Getpid()}
	for name, bin := range map[string]string{"creds": pluginName, "floor": noopPluginName, "framework": noopPluginName} {
		if pids := pluginPIDs(v.PluginDir, bin); len(pids) == 1 {
			watch[name] = pids[0]
		} else {
			t.Logf("%d processes of %s: its CPU time is not reported", len(pids), bin)
		}
	}
	perRound := s.cell / time.Duration(s.rounds)
	for _, clients := range loadConcurrency {
		segs := map[string][]segment{}
		for r := range s.rounds {
			for i := range targets {
				tg := targets[(i+r)%len(targets)]
				seg, err := runSegment(c, tg, clients, s.warmup, perRound, watch)
				if err != nil {
					t.Fatalf("C=%d %s: %v", clients, tg.path, err)
				}
				segs[tg.key] = append(segs[tg.key], seg)
			}
		}
		res.cells[clients] = map[string]*cellResult{}
		for _, tg := range targets {
			cell := summarise(segs[tg.key])
			res.cells[clients][tg.key] = cell
			t.Logf("C=%-3d %-16s %8.0f ops/s  p50 %s  p99 %s  rounds %s  CPU/op vault %s plugin %s", clients, tg.path, cell.opsPerSec,
				fmtLatency(cell.p50), fmtLatency(cell.p99), fmtFloats(cell.perRound, "%.0f"),
				fmtCPU(cell.cpuPerOp, "vault"), fmtCPU(cell.cpuPerOp, tg.key))
		}
		cr, fl, fw := res.cells[clients]["creds"], res.cells[clients]["floor"], res.cells[clients]["framework"]
		t.Logf("C=%-3d creds/floor %.3f (rounds %s), CPU ratio %s; creds/framework floor %.3f", clients, cr.opsPerSec/fl.opsPerSec,
			fmtFloats(roundRatios(cr, fl), "%.3f"), cpuRatio(fl, cr, "floor", "creds"), cr.opsPerSec/fw.opsPerSec)
	}
	return res
}

func summarise(segs []segment) *cellResult {
	cell := &cellResult{cpuPerOp: map[string]time.Duration{}}
	var all []time.Duration
	cpu := map[string]time.Duration{}
	allOps := 0
	for _, s := range segs {
		cell.ops += s.ops
		cell.measured += s.measured
		cell.perRound = append(cell.perRound, s.opsPerSec())
		all = append(all, s.lats...)
		allOps += s.allOps
		for name, d := range s.cpu {
			cpu[name] += d
		}
	}
	for name, d := range cpu {
		cell.cpuPerOp[name] = d / time.Duration(max(allOps, 1))
	}
	slices.Sort(all)
	cell.p50, cell.p99 = percentile(all, 0.50), percentile(all, 0.99)
	cell.opsPerSec = float64(cell.ops) / cell.measured.Seconds()
	return cell
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// cpuRatio is a's CPU time per request over b's, each summed over Vault,
// its plugin (named by its target's key) and the load generator.
func cpuRatio(a, b *cellResult, aKey, bKey string) string {
	total := func(c *cellResult, plugin string) time.Duration {
		return c.cpuPerOp["vault"] + c.cpuPerOp["client"] + c.cpuPerOp[plugin]
	}
	ta, tb := total(a, aKey), total(b, bKey)
	if a.cpuPerOp[aKey] == 0 || b.cpuPerOp[bKey] == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", float64(ta)/float64(tb))
}

func roundRatios(a, b *cellResult) []float64 {
	out := make([]float64, len(a.perRound))
	for i := range a.perRound {
		out[i] = a.perRound[i] / b.perRound[i]
	}
	return out
}

// ---------------------------------------------------------------------------
// Storage reads per request

// measureStorageReads counts Vault's storage reads (vault.barrier.get, from
// sys/metrics, which a dev server keeps cumulatively in Prometheus form)
// across sequential reads of each target. Every request pays for Vault's
// own token lookup; what the creds read adds over the floor is the
// plugin's storage reads, which the cache makes zero.
func measureStorageReads(t *testing.T, c *jbAPI, targets []loadTarget) map[string]float64 {
	out := map[string]float64{}
	var buf bytes.Buffer
	for _, tg := range targets {
		before := barrierGets(t, c)
		for range storageProbeReads {
			status, err := getInto(c, tg.path, &buf)
			if err := checkResponse(tg, status, err, buf.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		after := barrierGets(t, c)
		out[tg.key] = float64(after-before) / storageProbeReads
		t.Logf("%-16s %.3f storage reads per request", tg.path, out[tg.key])
	}
	if extra := out["creds"] - out["floor"]; extra > 0.05 {
		t.Errorf("a cached creds read makes %.2f storage reads more than the no-op plugin: the cache is not hit", extra)
	}
	return out
}

func barrierGets(t *testing.T, c *jbAPI) int64 {
	t.Helper()
	body := c.must(t, http.MethodGet, "sys/metrics?format=prometheus", nil).Body
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "vault_barrier_get_count "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("sys/metrics: %q: %v", sc.Text(), err)
			}
			return int64(n)
		}
	}
	t.Fatalf("sys/metrics has no vault_barrier_get_count:\n%.2000s", body)
	return 0
}

// ---------------------------------------------------------------------------
// Refresh storm

type stormResult struct {
	readers    int
	tokenCalls int
	storm      burstStats // the refresh storm
	fresh      burstStats // the same burst once the token is fresh: no refresh
}

type burstStats struct {
	p50, p99  time.Duration
	max, wall time.Duration
}

// refreshStorm makes creds "storm" need a refresh at one instant (a config
// write widening refresh_ahead past the token's remaining life) and lets
// stormReaders clients, already connected, read it at once. The same burst
// again, now that the token is fresh, is the baseline.
func refreshStorm(t *testing.T, v *Vault, f *Fake) *stormResult {
	// A grant imported with 100 days left (taken as issued a year before it
	// expires); refreshed tokens live a year. With refresh_ahead at 364
	// days, which counts as half a token's life (182.5 days), the first is
	// due and the second not.
	access, refresh := f.Issue()
	v.MustCLI("write", mountPath+"/creds/storm", "access_token="+access, "refresh_token="+refresh,
		"expires_at="+time.Now().Add(100*24*time.Hour).UTC().Format(time.RFC3339))
	oldToken := v.AccessToken("storm")
	path := mountPath + "/creds/storm"

	c := newLoadClient(v, stormReaders)
	defer c.client.CloseIdleConnections()
	// Open every reader's connection first: the storm measures Vault and
	// the plugin, not TCP handshakes.
	floor := loadTarget{path: noopMount + "/read", want: []byte(noopToken)}
	var warm sync.WaitGroup
	gate := make(chan struct{})
	warmErrs := make([]error, stormReaders)
	for i := range stormReaders {
		warm.Go(func() {
			<-gate
			warmErrs[i] = checkTarget(c, floor)
		})
	}
	close(gate)
	warm.Wait()
	if err := errors.Join(warmErrs...); err != nil {
		t.Fatal(err)
	}

	callsBefore := f.Calls(fakejawbone.EndpointToken)
	res := &stormResult{readers: stormReaders}
	var tokens map[string]int
	res.storm, tokens = burst(t, c, path, stormReaders, func() {
		c.must(t, http.MethodPost, mountPath+"/config", map[string]any{"refresh_ahead": "8736h"})
	})
	res.tokenCalls = f.Calls(fakejawbone.EndpointToken) - callsBefore
	t.Logf("storm: %d readers, %d token-URL calls, %d distinct tokens, p50 %s p99 %s max %s, wall %s", stormReaders, res.tokenCalls,
		len(tokens), fmtLatency(res.storm.p50), fmtLatency(res.storm.p99), fmtLatency(res.storm.max), fmtLatency(res.storm.wall))
	if res.tokenCalls != 1 {
		t.Errorf("the storm made %d calls to the token URL, want exactly 1", res.tokenCalls)
	}
	if len(tokens) != 1 {
		t.Fatalf("the storm's readers got %d different tokens, want all the same: %v", len(tokens), mapsKeysShort(tokens))
	}
	var newToken string
	for tok := range tokens {
		newToken = tok
	}
	if newToken == oldToken {
		t.Fatalf("readers got the old token: the refresh did not happen")
	}
	f.requireTokenWorks(t, newToken, "the token the storm got")

	var again map[string]int
	res.fresh, again = burst(t, c, path, stormReaders, nil)
	t.Logf("same burst, fresh token: p50 %s p99 %s max %s, wall %s",
		fmtLatency(res.fresh.p50), fmtLatency(res.fresh.p99), fmtLatency(res.fresh.max), fmtLatency(res.fresh.wall))
	if again[newToken] != stormReaders || f.Calls(fakejawbone.EndpointToken)-callsBefore != 1 {
		t.Errorf("the burst on a fresh token refreshed again or answered another token: %v", mapsKeysShort(again))
	}
	c.must(t, http.MethodPost, mountPath+"/config", map[string]any{"refresh_ahead": "168h"})
	return res
}

// burst has n clients, each with its request ready, GET path at the same
// instant, right after trigger (if any) returns. It fails the test unless
// every one is answered 200 with an access_token, and returns the latency
// statistics and how many readers got each token.
func burst(t *testing.T, c *jbAPI, path string, n int, trigger func()) (burstStats, map[string]int) {
	t.Helper()
	type answer struct {
		lat   time.Duration
		token string
		err   error
	}
	answers := make([]answer, n)
	release := make(chan struct{})
	var ready, done sync.WaitGroup
	for i := range n {
		ready.Add(1)
		done.Go(func() {
			req, err := c.newRequest(http.MethodGet, path, "", nil)
			ready.Done()
			if err != nil {
				answers[i].err = err
				return
			}
			var buf bytes.Buffer
			<-release
			t0 := time.Now()
			status, _, err := c.send(req, &buf)
			a := answer{lat: time.Since(t0), err: err}
			var s vaultSecret
			if err == nil && status == http.StatusOK && json.Unmarshal(buf.Bytes(), &s) == nil {
				a.token, _ = s.Data["access_token"].(string)
			}
			if err == nil && a.token == "" {
				a.err = fmt.Errorf("status %d, no access_token: %.300s", status, buf.String())
			}
			answers[i] = a
		})
	}
	ready.Wait()
	if trigger != nil {
		trigger()
	}
	start := time.Now()
	close(release)
	done.Wait()
	stats := burstStats{wall: time.Since(start)}
	tokens := map[string]int{}
	lats := make([]time.Duration, 0, n)
	for _, a := range answers {
		if a.err != nil {
			t.Fatalf("a reader of %s: %v", path, a.err)
		}
		tokens[a.token]++
		lats = append(lats, a.lat)
	}
	slices.Sort(lats)
	stats.p50, stats.p99, stats.max = percentile(lats, 0.5), percentile(lats, 0.99), lats[len(lats)-1]
	return stats, tokens
}

func mapsKeysShort(m map[string]int) []string {
	var out []string
	for k, n := range m {
		out = append(out, fmt.Sprintf("%.6s…×%d", k, n))
	}
	return out
}

// ---------------------------------------------------------------------------
// Cold start

type coldResult struct {
	// enable: POST sys/mounts of a new mount whose plugin has no process yet
	// → config write → creds import → first creds read.
	enableTotal, enableCall, enableFirstRead []time.Duration
	// reload: plugin reload → first successful creds read on jawbone/.
	reloadTotal, reloadCall []time.Duration
	newProcess              int // reloads after which the plugin's PID changed
}

func coldStart(t *testing.T, v *Vault, f *Fake, c *jbAPI, meToken string) *coldResult {
	res := &coldResult{}
	v.MustCLI("plugin", "register", "-sha256="+v.PluginSHA, "-version="+v.env.PluginVersion,
		"-command="+pluginName, "secret", coldPluginName)
	access, refresh := f.Issue()
	cfg := map[string]any{
		"client_id": f.ClientID, "client_secret": f.ClientSecret, "redirect_uri": f.RedirectURI,
		"auth_url": f.AuthURL, "token_url": f.TokenURL, "api_url": f.APIURL, "local_development": true,
	}
	imp := map[string]any{"access_token": access, "refresh_token": refresh,
		"expires_at": time.Now().Add(300 * 24 * time.Hour).UTC().Format(time.RFC3339)}
	coldTarget := loadTarget{path: coldMount + "/creds/me", want: []byte(`"access_token":"` + access + `"`)}
	for range coldRuns {
		if n := len(pluginPIDs(v.PluginDir, pluginName)); n != 1 {
			t.Logf("%d jawbone plugin processes before enabling the cold mount", n)
		}
		t0 := time.Now()
		c.must(t, http.MethodPost, "sys/mounts/"+coldMount, map[string]any{"type": coldPluginName, "plugin_version": v.env.PluginVersion})
		t1 := time.Now()
		c.must(t, http.MethodPost, coldMount+"/config", cfg)
		c.must(t, http.MethodPost, coldMount+"/creds/me", imp)
		t2 := time.Now()
		if err := checkTarget(c, coldTarget); err != nil {
			t.Fatal(err)
		}
		t3 := time.Now()
		res.enableTotal = append(res.enableTotal, t3.Sub(t0))
		res.enableCall = append(res.enableCall, t1.Sub(t0))
		res.enableFirstRead = append(res.enableFirstRead, t3.Sub(t2))
		// Disabling the only mount of coldPluginName ends its process.
		c.must(t, http.MethodDelete, "sys/mounts/"+coldMount, nil)
	}

	me := loadTarget{path: mountPath + "/creds/me", want: []byte(`"access_token":"` + meToken + `"`)}
	var buf bytes.Buffer
	for range coldRuns {
		before := pluginPIDs(v.PluginDir, pluginName)
		t0 := time.Now()
		c.must(t, http.MethodPut, "sys/plugins/reload/backend", map[string]any{"plugin": pluginName})
		t1 := time.Now()
		deadline := t0.Add(startTimeout)
		for {
			status, err := getInto(c, me.path, &buf)
			if checkResponse(me, status, err, buf.Bytes()) == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no successful creds read %s after plugin reload: status %d, error %v: %s", startTimeout, status, err, buf.String())
			}
			time.Sleep(time.Millisecond)
		}
		res.reloadTotal = append(res.reloadTotal, time.Since(t0))
		res.reloadCall = append(res.reloadCall, t1.Sub(t0))
		after := pluginPIDs(v.PluginDir, pluginName)
		if len(before) > 0 && len(after) > 0 && !slices.Equal(before, after) {
			res.newProcess++
		}
	}
	t.Logf("cold start: enable→first read %s; reload→first read %s (new plugin process after %d of %d reloads)",
		fmtDurations(res.enableTotal), fmtDurations(res.reloadTotal), res.newProcess, coldRuns)
	return res
}

// pluginPIDs lists, sorted, the processes running the plugin binary in dir
// (Linux /proc; nil elsewhere). Read-only: it only looks.
func pluginPIDs(dir, name string) []int {
	want := filepath.Join(dir, name)
	return pidsWhere(func(p procEntry) bool { return p.exe == want })
}

// cpuTimes reads cpuTime for each named process.
func cpuTimes(pids map[string]int) map[string]time.Duration {
	out := make(map[string]time.Duration, len(pids))
	for name, pid := range pids {
		out[name] = cpuTime(pid)
	}
	return out
}

// cpuTime is the CPU time a process has used so far, in nanoseconds: the
// sum over its threads of /proc/<pid>/task/<tid>/schedstat's first field
// (Linux; 0 elsewhere). Go's threads live as long as the process, so none
// of the time is lost to exited threads.
func cpuTime(pid int) time.Duration {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, task := range tasks {
		raw, err := os.ReadFile(filepath.Join(dir, task.Name(), "schedstat"))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(raw)); len(f) > 0 {
			if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				total += time.Duration(ns)
			}
		}
	}
	return total
}

// ---------------------------------------------------------------------------
// Report

type loadReport struct {
	settings                    loadSettings
	started, finished           time.Time
	loadAvgStart, loadAvgEnd    string
	vaultVersion, pluginVersion string
	throughput                  *throughputResult
	storage                     map[string]float64
	storm                       *stormResult
	cold                        *coldResult
}

func (r *loadReport) floorMisses() []string {
	var out []string
	for _, clients := range loadConcurrency {
		cells := r.throughput.cells[clients]
		if cells["creds"].opsPerSec/cells["floor"].opsPerSec < floorRatioTarget {
			out = append(out, strconv.Itoa(clients))
		}
	}
	return out
}

func (r *loadReport) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("Generated by `make bench` (e2e/load_test.go) on %s in %s.\n\n", r.started.UTC().Format("2006-01-02 15:04 MST"), r.finished.Sub(r.started).Round(time.Second))
	w("| | |\n|---|---|\n")
	w("| Machine | %d cores (%s), %s/%s; load average %s at the start, %s at the end |\n", runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH, r.loadAvgStart, r.loadAvgEnd)
	w("| Go | %s |\n| Vault | %s, `vault server -dev` (in-memory storage), HTTP/1.1 keep-alive on 127.0.0.1, root token |\n", runtime.Version(), r.vaultVersion)
	w("| Plugin | %s %s, multiplexed, mounted at `jawbone/` |\n", pluginName, r.pluginVersion)
	w("| Cells | %s measured per (C, path), in %d interleaved rounds of %s after a %s warm-up each; the load generator shares the machine |\n\n",
		r.settings.cell, r.settings.rounds, r.settings.cell/time.Duration(r.settings.rounds), r.settings.warmup)

	w("#### Throughput and latency\n\n")
	w("The floor, `noop/read`, is bench/noop-plugin answering from memory the moment a request arrives; `noop/framework` is the same ")
	w("answer routed by the SDK's framework.Backend, which calls back to Vault (SystemView.ReplicationState) on every request. ")
	w("CPU/op is the CPU time each process used per request, whatever core it ran on (warm-up included).\n\n")
	w("| C | path | ops/s | p50 | p99 | Vault CPU/op | plugin CPU/op | load generator CPU/op |\n|--:|---|--:|--:|--:|--:|--:|--:|\n")
	for _, clients := range loadConcurrency {
		for _, tg := range r.throughput.order {
			cell := r.throughput.cells[clients][tg.key]
			w("| %d | %s | %.0f | %s | %s | %s | %s | %s |\n", clients, tg.label, cell.opsPerSec, fmtLatency(cell.p50), fmtLatency(cell.p99),
				fmtCPU(cell.cpuPerOp, "vault"), fmtCPU(cell.cpuPerOp, tg.key), fmtCPU(cell.cpuPerOp, "client"))
		}
	}
	w("\nThe ratios are of ops/s; per round, creds/floor of each round. The CPU ratio is the floor's CPU time per request over the ")
	w("creds read's, all processes counted (Vault, plugin, load generator): what ops/s would show on a quiet machine.\n\n")
	w("| C | creds/floor | per round | CPU ratio | creds/framework floor | creds/KV | target creds/floor ≥ %.1f |\n|--:|--:|---|--:|--:|--:|---|\n", floorRatioTarget)
	for _, clients := range loadConcurrency {
		cells := r.throughput.cells[clients]
		cr, fl, fw, kv := cells["creds"], cells["floor"], cells["framework"], cells["kv"]
		ratio := cr.opsPerSec / fl.opsPerSec
		verdict := "met"
		if ratio < floorRatioTarget {
			verdict = "**missed**"
		}
		w("| %d | %.2f | %s | %s | %.2f | %.2f | %s |\n", clients, ratio, fmtFloats(roundRatios(cr, fl), "%.2f"), cpuRatio(fl, cr, "floor", "creds"),
			cr.opsPerSec/fw.opsPerSec, cr.opsPerSec/kv.opsPerSec, verdict)
	}

	w("\n#### Storage reads per request\n\n")
	w("Vault's own `vault.barrier.get` counter (sys/metrics) over %d sequential reads of each path; every request pays Vault's token lookup.\n\n", storageProbeReads)
	w("| path | storage reads per request |\n|---|--:|\n")
	for _, tg := range r.throughput.order {
		w("| %s | %.2f |\n", tg.label, r.storage[tg.key])
	}
	w("| plugin's own reads per creds read (creds − floor) | %.2f |\n", r.storage["creds"]-r.storage["floor"])

	s := r.storm
	w("\n#### Refresh storm\n\n")
	w("%d readers, each on its own open connection, released together at `jawbone/creds/storm` the moment it needs a refresh; ", s.readers)
	w("then the same burst again, the token now fresh, for comparison.\n\n")
	w("| burst | token-URL calls | every reader got the new token | p50 | p99 | max | all answered in |\n|---|--:|---|--:|--:|--:|--:|\n")
	for _, row := range []struct {
		name  string
		calls int
		b     burstStats
	}{{"refresh storm", s.tokenCalls, s.storm}, {"same burst, token fresh", 0, s.fresh}} {
		w("| %s | %d | yes | %s | %s | %s | %s |\n", row.name, row.calls, fmtLatency(row.b.p50), fmtLatency(row.b.p99), fmtLatency(row.b.max), fmtLatency(row.b.wall))
	}

	c := r.cold
	w("\n#### Plugin cold start\n\n")
	w("%d runs each; median (min–max).\n\n", coldRuns)
	w("| from | to the first successful creds read | of which |\n|---|--:|---|\n")
	w("| `secrets enable` of a new mount (no plugin process yet), then config write and creds import | %s | enable call %s; first read %s |\n",
		fmtDurations(c.enableTotal), fmtDurations(c.enableCall), fmtDurations(c.enableFirstRead))
	w("| `vault plugin reload` of the plugin (data in storage, cache empty) | %s | reload call %s; new plugin process after %d of %d reloads |\n",
		fmtDurations(c.reloadTotal), fmtDurations(c.reloadCall), c.newProcess, coldRuns)
	return b.String()
}

// writeLoadReport puts md between the load markers of BENCHMARKS.md.
func writeLoadReport(t *testing.T, root, md string) {
	t.Helper()
	writeReportSection(t, root, loadMarkerBegin, loadMarkerEnd, md)
}

// writeReportSection puts md between the markers begin and end of
// BENCHMARKS.md (or of BENCH_REPORT; "-" writes nothing), appending the
// section if absent.
func writeReportSection(t *testing.T, root, begin, end, md string) {
	t.Helper()
	path := os.Getenv("BENCH_REPORT")
	switch {
	case path == "-":
		return
	case path == "":
		path = filepath.Join(root, "BENCHMARKS.md")
	case !filepath.IsAbs(path):
		path = filepath.Join(root, path)
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	section := begin + "\n" + md + end
	text := string(old)
	before, rest, found := strings.Cut(text, begin)
	_, after, foundEnd := strings.Cut(rest, end)
	switch {
	case found && foundEnd:
		text = before + section + after
	case text == "":
		text = "# Benchmarks\n\n" + section + "\n"
	default:
		text = strings.TrimRight(text, "\n") + "\n\n" + section + "\n"
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote the report into %s", path)
}

func fmtLatency(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// fmtDurations is "median (min–max)".
func fmtDurations(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("%s (%s–%s)", fmtLatency(s[(len(s)-1)/2]), fmtLatency(s[0]), fmtLatency(s[len(s)-1]))
}

// fmtCPU is the CPU time per request of the named process, in µs ("–"
// when it was not watched).
func fmtCPU(perOp map[string]time.Duration, name string) string {
	d, ok := perOp[name]
	if !ok || d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

func fmtFloats(fs []float64, format string) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf(format, f)
	}
	return strings.Join(parts, ", ")
}

// vaultVersion is "Vault v1.21.1" from `vault version` ("Vault v1.21.1,
// built <time>" or with a revision in parentheses).
func vaultVersion(out string) string {
	f := strings.Fields(out)
	if len(f) < 2 {
		return strings.TrimSpace(out)
	}
	return f[0] + " " + strings.TrimRight(f[1], ",")
}

func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(raw))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], " ")
}

func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(raw)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
