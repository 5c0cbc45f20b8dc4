//go:build bench

// The scale harness (`make bench-scale`): how the plugin holds up as a mount
// grows to a million creds, on one real `vault server -dev` (started as the
// load harness starts it; SCALE_STORAGE=raft: a one-node Raft server) with
// the plugin at jawbone/, against the fake
// Jawbone in this process. For each N of SCALE_N, smallest first, it fills
// the mount up to N grants, then measures:
//
//   - fill: imports per second, for each 100,000 imports (it must stay flat);
//   - latency (p50, p99; one request at a time) of an import, an exchange and
//     a callback, and of a KV write beside the mount (Vault alone, the
//     control), as they come and again right after Vault's collector ran,
//     each round beside the same round on a reference: a second Vault
//     whose mount holds 1,000 grants throughout (SCALE_REFERENCE); of LIST
//     creds/ (a first page of 1,000) and of status; the unpaginated
//     LIST's time, for information;
//   - reads: a random name against one name, SCALE_READ_CLIENTS clients: the
//     ratio of throughputs, with the default cache (64 MiB) and, from
//     SCALE_BIG_CACHE_FROM to SCALE_BIG_CACHE_UPTO creds, with
//     cache_size=SCALE_BIG_CACHE;
//   - memory: VmRSS of the plugin and of Vault;
//   - the background tick: the plugin's CPU time per minute with nothing
//     due, then with the realistic spread of expiries (a year's worth of
//     expiries: at N = 1,000,000 about 1.9 fall due a minute), then with a
//     burst of SCALE_BURST grants due at once;
//   - plugin reload: time to the first successful creds read, and to the
//     schedule loaded again.
//
// The grants. The fake mints each one for an account of its own (acct-i);
// the harness imports it kept as is as creds user-i (`write creds/<name>
// access_token=... refresh_token=... expires_at=...` over the HTTP API, from
// SCALE_FILL_CLIENTS keep-alive clients). The fake runs here without the e2e
// suite's recording wrapper, which would decode every reply and remember two
// million tokens. Every expiry is a one-year token's, spread uniformly
// (seeded) over a year that begins expiryOffset (a day) after the run
// starts: the same two grants a minute fall due as over the coming year,
// but none of them while the run lasts unless the harness asks for it. The
// config has refresh_ahead=0 (a token is due only its last 30 s) and
// check_interval=8760h (no liveness check falls due), so with nothing due a
// tick has nothing to attend: that is the idle measurement. The spread phase
// then sets refresh_ahead to the time left until the earliest expiry not yet
// refreshed, so that from then on grants fall due at their natural rate.
//
// Every response is checked (status 200 and the expected token, name or
// count), so a broken plugin cannot produce numbers. The targets are
// benchmarks, not timed tests: a miss is reported, never a failure. The
// markdown report is printed and written into BENCHMARKS.md between the
// scale markers (BENCH_REPORT=path writes elsewhere, BENCH_REPORT=- nowhere).
//
// Knobs (environment):
//
//	SCALE_N               mount sizes, comma-separated (default 1000,100000,1000000)
//	SCALE_FILL_CLIENTS    concurrent importers (default 16)
//	SCALE_SAMPLES         sequential samples of each latency (default 2000:
//	                      its p99 is the 20th slowest, steadier on 2 cores
//	                      than the 5th of 500)
//	SCALE_LIST_ALL        timed unpaginated LISTs (default 3)
//	SCALE_READ_CLIENTS    concurrent readers (default 8)
//	SCALE_READ_DURATION   measured time of each read target (default 20s)
//	SCALE_READ_ROUNDS     interleaved rounds it is split into (default 5)
//	SCALE_READ_WARM       names read in order before the reads are timed, to
//	                      fill the cache (default 0: as many as the cache holds)
//	SCALE_IDLE_TICKS      ticks the idle CPU is measured over (default 4)
//	SCALE_SPREAD_TICKS    ticks measured with the realistic spread (default 3)
//	SCALE_BURST           grants due at once in the burst tick (default 100; 0: none)
//	SCALE_RELOADS         plugin reloads timed to the first read (default 3)
//	SCALE_BIG_CACHE       the larger cache_size tried (default 512MiB; "-": none)
//	SCALE_BIG_CACHE_FROM  the smallest N it is tried at (default 100000)
//	SCALE_BIG_CACHE_UPTO  the largest N it is tried at (default: every N; at a
//	                      million the phase takes about 25 minutes)
//	SCALE_REFERENCE       1 (default): the latencies are also taken, round
//	                      for round, on a second Vault of the same kind kept
//	                      at 1,000 grants; 0: no reference
//	SCALE_STORAGE         inmem (default): `vault server -dev`; raft: a
//	                      one-node `vault server` with integrated storage,
//	                      whose data is not in Vault's Go heap (its report
//	                      has its own section of BENCHMARKS.md)
package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

const (
	scaleMarkerBegin     = "<!-- BEGIN make bench-scale: scale harness (e2e/scale_test.go) -->"
	scaleMarkerEnd       = "<!-- END make bench-scale: scale harness -->"
	scaleRaftMarkerBegin = "<!-- BEGIN make bench-scale SCALE_STORAGE=raft: scale harness (e2e/scale_test.go) -->"
	scaleRaftMarkerEnd   = "<!-- END make bench-scale SCALE_STORAGE=raft: scale harness -->"

	// The storage Vault runs on (SCALE_STORAGE).
	storageInmem = "inmem"
	storageRaft  = "raft"

	// expiryOffset is how long after the run starts the year of expiries
	// begins: longer than any run, so nothing falls due unless asked.
	expiryOffset = 24 * time.Hour
	tokenYear    = 365 * 24 * time.Hour
	// expiryMargin is the plugin's expiryMarginMax: with refresh_ahead=0 a
	// year-long token is due its last 30 s.
	expiryMargin = 30 * time.Second
	// idleCheckInterval puts every liveness check past the run.
	idleCheckInterval = "8760h"

	fillChunk = 100_000 // the fill rate is reported per this many imports

	// Vault's rollback manager starts the mount's periodic function about
	// every minute (none while one is still running).
	rollbackEvery = time.Minute
	tickLead      = 5 * time.Second // the first poll for a tick comes this early
	tickTimeout   = 6 * time.Minute
	loadTimeout   = 30 * time.Minute // the schedule's load after a reload

	// After a fill, the measurements wait until Vault and the plugin are
	// quiet: together under a tenth of a core over quietWindow, for at most
	// settleTimeout. After each collection the latency rounds ask Vault
	// for, the same over afterCollectionWindow, for at most
	// afterCollectionTimeout: the round measures requests, not the
	// collection's wake.
	quietWindow            = 5 * time.Second
	settleTimeout          = 10 * time.Minute
	afterCollectionWindow  = 250 * time.Millisecond
	afterCollectionTimeout = 20 * time.Second

	defaultCacheBytes = 64 << 20 // the plugin's defaultCacheBytes
	listPage          = 1000

	// The issue's sizes and targets.
	baseN, midN, bigN      = 1_000, 100_000, 1_000_000
	latencyFactorTarget    = 1.5
	idleCPUTarget          = time.Second // per minute, at bigN
	readRatioTargetMid     = 0.9
	readRatioTargetBig     = 0.7
	listStatusTarget       = 100 * time.Millisecond
	reloadFirstReadTarget  = 200 * time.Millisecond
	pluginRSSTarget        = 512 << 20
	callbackStoredSentence = "Vault stored the tokens as the creds"
)

var scaleScopes = []string{"basic_read"}

func credsName(i int) string    { return fmt.Sprintf("user-%07d", i) }
func scaleAccount(i int) string { return fmt.Sprintf("acct-%07d", i) }
func rfc3339(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }
func mib(bytes float64) string  { return fmt.Sprintf("%.0f MiB", bytes/(1<<20)) }
func thousands(n int) string    { return groupDigits(strconv.Itoa(n)) }
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func groupDigits(s string) string {
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// Settings

type scaleSettings struct {
	sizes        []int
	fillClients  int
	samples      int
	listAllRuns  int
	readClients  int
	readDuration time.Duration
	readRounds   int
	readWarm     int
	idleTicks    int
	spreadTicks  int
	burst        int
	reloads      int
	bigCache     string
	bigCacheFrom int
	bigCacheUpTo int
	storage      string // "inmem" (vault server -dev) or "raft"
	reference    bool   // a reference Vault at baseN, sampled in the same rounds
}

func scaleSettingsFromEnv(t *testing.T) scaleSettings {
	t.Helper()
	s := scaleSettings{
		sizes: []int{baseN, midN, bigN}, fillClients: 16, samples: 2000, listAllRuns: 3,
		readClients: 8, readDuration: 20 * time.Second, readRounds: 5,
		idleTicks: 4, spreadTicks: 3, burst: 100, reloads: 3, bigCache: "512MiB", bigCacheFrom: midN,
		bigCacheUpTo: math.MaxInt, storage: storageInmem, reference: true,
	}
	if raw := os.Getenv("SCALE_N"); raw != "" {
		s.sizes = nil
		for f := range strings.SplitSeq(raw, ",") {
			n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(f), "_", ""))
			if err != nil || n < 1 {
				t.Fatalf("SCALE_N=%q: want positive integers separated by commas, such as 1000,100000", raw)
			}
			s.sizes = append(s.sizes, n)
		}
		slices.Sort(s.sizes)
		s.sizes = slices.Compact(s.sizes)
	}
	for _, k := range []struct {
		env string
		to  *int
		min int
	}{
		{"SCALE_FILL_CLIENTS", &s.fillClients, 1}, {"SCALE_SAMPLES", &s.samples, 1}, {"SCALE_LIST_ALL", &s.listAllRuns, 1},
		{"SCALE_READ_CLIENTS", &s.readClients, 1}, {"SCALE_READ_ROUNDS", &s.readRounds, 1}, {"SCALE_READ_WARM", &s.readWarm, 0},
		{"SCALE_IDLE_TICKS", &s.idleTicks, 1}, {"SCALE_SPREAD_TICKS", &s.spreadTicks, 1}, {"SCALE_BURST", &s.burst, 0},
		{"SCALE_RELOADS", &s.reloads, 1}, {"SCALE_BIG_CACHE_FROM", &s.bigCacheFrom, 1}, {"SCALE_BIG_CACHE_UPTO", &s.bigCacheUpTo, 1},
	} {
		if raw := os.Getenv(k.env); raw != "" {
			n, err := strconv.Atoi(raw)
			if err != nil || n < k.min {
				t.Fatalf("%s=%q: want an integer of at least %d", k.env, raw, k.min)
			}
			*k.to = n
		}
	}
	if raw := os.Getenv("SCALE_READ_DURATION"); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d < time.Second {
			t.Fatalf("SCALE_READ_DURATION=%q: want a duration of at least 1s", raw)
		}
		s.readDuration = d
	}
	if raw := os.Getenv("SCALE_STORAGE"); raw != "" {
		if raw != storageInmem && raw != storageRaft {
			t.Fatalf("SCALE_STORAGE=%q: want %s (vault server -dev) or %s (a one-node Raft server)", raw, storageInmem, storageRaft)
		}
		s.storage = raw
	}
	if raw := os.Getenv("SCALE_REFERENCE"); raw != "" {
		if raw != "0" && raw != "1" {
			t.Fatalf("SCALE_REFERENCE=%q: want 1 (a reference Vault at %s grants, sampled in the same rounds) or 0 (none)", raw, thousands(baseN))
		}
		s.reference = raw == "1"
	}
	if raw, ok := os.LookupEnv("SCALE_BIG_CACHE"); ok {
		s.bigCache = strings.TrimSpace(raw)
		if s.bigCache == "-" {
			s.bigCache = ""
		}
	}
	return s
}

// vaultKind says which server the run measured.
func (s scaleSettings) vaultKind() string {
	if s.storage == storageRaft {
		return "`vault server` with integrated storage (Raft, one node, a file under the test's temporary directory)"
	}
	return "`vault server -dev` (in-memory storage)"
}

// reportMarkers are the markers of the run's section of BENCHMARKS.md: a
// section for each storage.
func (s scaleSettings) reportMarkers() (begin, end string) {
	if s.storage == storageRaft {
		return scaleRaftMarkerBegin, scaleRaftMarkerEnd
	}
	return scaleMarkerBegin, scaleMarkerEnd
}

// command is the make invocation that reproduces a run with these
// settings: SCALE_N, and every other SCALE_ knob that was set.
func (s scaleSettings) command() string {
	sizes := make([]string, len(s.sizes))
	for i, n := range s.sizes {
		sizes[i] = strconv.Itoa(n)
	}
	parts := []string{"SCALE_N=" + strings.Join(sizes, ",")}
	var others []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SCALE_") && !strings.HasPrefix(kv, "SCALE_N=") {
			others = append(others, kv)
		}
	}
	slices.Sort(others)
	return strings.Join(append(parts, others...), " ") + " make bench-scale"
}

// ---------------------------------------------------------------------------
// The run

// scaleRun is the one Vault and fake every size is measured on, and what
// the harness knows of the grants it imported.
type scaleRun struct {
	set  scaleSettings
	v    *Vault
	f    *Fake
	api  *jbAPI // root token, a keep-alive pool for every client
	anon *jbAPI // no token: the browser coming back to the callback
	// ref is the reference: a Vault and fake of their own, the mount kept
	// at baseN grants, whose latencies are sampled in the same rounds as
	// this run's (nil: none).
	ref *scaleRun

	t0      time.Time
	rng     *rand.Rand
	filled  int
	expires []int64  // the imported expiry of user-i (Unix seconds), by i (0 unused)
	tokens  []string // the access token imported as user-i
	// pending is the sorted expiries of the grants no tick has been due to
	// refresh yet; frontier is how far refresh_ahead has reached.
	pending  []int64
	frontier int64
	// refreshAhead is what the config says now.
	refreshAhead time.Duration
	cacheBudget  int64
}

// startBareFake is StartFake without the recording wrapper: at a million
// grants the wrapper's JSON decode of every reply and its two maps of
// every token seen would be most of the harness's own work, and the scale
// harness checks no secrecy.
func startBareFake(t *testing.T, opts ...fakeOption) *Fake {
	t.Helper()
	f := newFake(t, opts)
	f.client = noRedirects
	f.start(t, httptest.NewServer(f.Server))
	return f
}

// startScaleVault is the Vault the run measures, with the plugin mounted:
// a dev server, whose in-memory storage is Go heap in Vault's process, or a
// one-node Raft server, whose storage is a file as in production: at a
// million grants the dev server's collector marks gigabytes, and what it
// costs a request is Vault's, not the plugin's.
func startScaleVault(t *testing.T, storage string) *Vault {
	t.Helper()
	if storage == storageRaft {
		v := startRaftCluster(t, 1).Nodes[0]
		v.RegisterPlugin()
		return v
	}
	return StartVaultWithPlugin(t)
}

func startScale(t *testing.T, set scaleSettings) *scaleRun {
	t.Helper()
	v := startScaleVault(t, set.storage)
	cb := v.Addr + "/v1/" + mountPath + "/callback"
	// The fake lets the browser go back to the mount's callback (the
	// callback's samples) or to a page of the application (the exchange's:
	// a state issued for the callback is not completed by exchange).
	f := startBareFake(t, withRedirect(v.Addr+"/"))
	f.RedirectURI = cb
	v.ConfigureFor(f, "refresh_ahead=0", "check_interval="+idleCheckInterval)
	r := &scaleRun{
		set: set, v: v, f: f,
		api:  apiOf(v, withConns(max(set.fillClients, set.readClients)+4), withTimeout(5*time.Minute)),
		anon: apiOf(v, withToken(""), withConns(2), withTimeout(time.Minute)),
		t0:   time.Now().Truncate(time.Second),
		rng:  rand.New(rand.NewPCG(20261207, uint64(slices.Max(set.sizes)))),
		// The index 0 names no grant.
		expires: []int64{0}, tokens: []string{""}, cacheBudget: defaultCacheBytes,
	}
	r.frontier = r.t0.Add(expiryOffset).Unix()
	r.api.must(t, http.MethodPost, "sys/mounts/"+kvControlMount, map[string]any{"type": "kv"})
	t.Cleanup(r.api.client.CloseIdleConnections)
	t.Cleanup(r.anon.client.CloseIdleConnections)
	// The first tick loads the (empty) schedule and records that every grant
	// is indexed: from then on an import checks the grant index rather
	// than reading every grant.
	start := time.Now()
	r.waitLoaded(t, tickTimeout)
	t.Logf("the empty mount's schedule loaded after %s (the first rollback tick)", time.Since(start).Round(time.Second))
	return r
}

func TestScale(t *testing.T) {
	set := scaleSettingsFromEnv(t)
	rep := &scaleReport{settings: set, started: time.Now(), loadAvgStart: loadAverage()}
	r := startScale(t, set)
	if set.reference {
		r.ref = startReference(t, set)
	}
	rep.vaultVersion = vaultVersion(r.v.MustCLI("version"))
	rep.pluginVersion = r.v.env.PluginVersion
	for i, n := range set.sizes {
		lvl := &scaleLevel{n: n}
		last := i == len(set.sizes)-1
		if !t.Run("N="+strconv.Itoa(n), func(t *testing.T) { r.measure(t, lvl, last) }) {
			t.Fatal("a phase failed: no report is written")
		}
		rep.levels = append(rep.levels, lvl)
		t.Logf("N = %s measured in %s (%s)", thousands(n), lvl.took.Round(time.Second), lvl.phaseTimes())
	}
	rep.finished = time.Now()
	rep.loadAvgEnd = loadAverage()
	md := rep.markdown()
	fmt.Printf("\n%s\n", md)
	begin, end := set.reportMarkers()
	writeReportSection(t, r.v.env.RepoRoot, begin, end, md)
}

// startReference starts the reference run and fills it to baseN grants,
// where it stays: whatever a latency at N costs beyond it, in the same
// minutes, on the same machine, is what N costs. Latencies compared across
// levels alone were taken an hour or more apart, as the harness and Vault
// grew; on two cores their tails moved with whatever else the machine
// was doing (BENCHMARKS.md, Scale: a million creds).
func startReference(t *testing.T, set scaleSettings) *scaleRun {
	t.Helper()
	ref := startScale(t, set)
	ref.fillTo(t, baseN)
	ref.requireCount(t, baseN)
	t.Logf("the reference Vault (pid %d) holds %s grants", ref.v.proc.cmd.Process.Pid, thousands(baseN))
	return ref
}

// scaleLevel is everything measured at one N.
type scaleLevel struct {
	n      int
	took   time.Duration
	phases []phaseTime

	fill     fillResult
	lat      *latencies
	reads    *readResult
	big      *readResult
	rss      memory
	idle     *tickWindow
	reorder  *tickWindow
	spread   *tickWindow
	burst    *tickWindow
	reload   *reloadResult
	tuneNote string
}

type phaseTime struct {
	name string
	took time.Duration
}

func (l *scaleLevel) phaseTimes() string {
	parts := make([]string, len(l.phases))
	for i, p := range l.phases {
		parts[i] = p.name + " " + p.took.Round(time.Second).String()
	}
	return strings.Join(parts, ", ")
}

type memory struct{ plugin, vault int64 }

// measure fills the mount to lvl.n and runs every measurement on it.
func (r *scaleRun) measure(t *testing.T, lvl *scaleLevel, last bool) {
	began := time.Now()
	phase := func(name string, f func()) {
		start := time.Now()
		f()
		lvl.phases = append(lvl.phases, phaseTime{name, time.Since(start)})
		t.Logf("N = %s: %s took %s", thousands(lvl.n), name, time.Since(start).Round(time.Second))
	}
	phase("fill", func() { lvl.fill = r.fillTo(t, lvl.n) })
	r.requireCount(t, lvl.n)
	phase("settle", func() { r.settle(t) })
	phase("latency", func() { lvl.lat = r.sampleLatencies(t, lvl.n) })
	phase("reads", func() {
		lvl.reads = r.measureReads(t, lvl.n, "64 MiB (default)")
		lvl.rss = r.memory(t)
	})
	// Each tick window begins where the one before ended, just after a tick.
	phase("idle ticks", func() { lvl.idle = r.idleWindow(t) })
	phase("spread ticks", func() { lvl.reorder, lvl.spread = r.spreadWindow(t, lvl.idle.lastEnd()) })
	if r.set.burst > 0 {
		phase("burst tick", func() { lvl.burst = r.burstWindow(t, lvl.spread.lastEnd()) })
	}
	r.setRefreshAhead(t, 0)
	phase("reload", func() { lvl.reload = r.measureReloads(t, lvl.n) })
	if r.set.bigCache != "" && lvl.n >= r.set.bigCacheFrom && lvl.n <= r.set.bigCacheUpTo {
		phase("larger cache", func() { lvl.big, lvl.tuneNote = r.measureBigCache(t, lvl.n, last) })
	}
	r.requireCount(t, lvl.n)
	lvl.took = time.Since(began)
}

// ---------------------------------------------------------------------------
// Vault, the plugin process, status

// settle waits until Vault and the plugin are quiet (see quietWindow). After
// a fill, Vault's collector goes on marking its heap, which holds all of
// the in-memory storage (gigabytes at a million grants), for a minute or
// more on all the CPU it finds idle: what is timed meanwhile is that.
func (r *scaleRun) settle(t *testing.T) {
	t.Helper()
	r.untilQuiet(t, quietWindow, settleTimeout)
}

// untilQuiet waits until Vault and the plugin together use under a tenth
// of a core over a window, for at most timeout, and returns how long it
// waited.
func (r *scaleRun) untilQuiet(t *testing.T, window, timeout time.Duration) time.Duration {
	t.Helper()
	vault, plugin := r.v.proc.cmd.Process.Pid, r.pluginPID(t)
	began := time.Now()
	for {
		before := procCPU(t, vault) + procCPU(t, plugin)
		time.Sleep(window)
		used := procCPU(t, vault) + procCPU(t, plugin) - before
		if used < window/10 {
			return time.Since(began)
		}
		if time.Since(began) > timeout {
			t.Logf("Vault and the plugin were not quiet within %s (%s of CPU in the last %s); measuring anyway", timeout, seconds(used), window)
			return time.Since(began)
		}
	}
}

func (r *scaleRun) pluginPID(t *testing.T) int {
	t.Helper()
	pids := pluginChildren(r.v.proc.cmd.Process.Pid)
	if len(pids) != 1 {
		t.Fatalf("want one plugin process of vault (pid %d), found %v", r.v.proc.cmd.Process.Pid, pids)
	}
	return pids[0]
}

// procCPU is the CPU time pid has used, utime+stime of /proc/<pid>/stat
// (in USER_HZ ticks, 10 ms on Linux).
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("reading the CPU time of pid %d: %v", pid, err)
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// fields[0] is the state (field 3): utime and stime are fields 14, 15.
	if len(fields) < 13 {
		t.Fatalf("/proc/%d/stat: too few fields: %q", pid, s)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatalf("/proc/%d/stat: %q: %v", pid, s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// procRSS is VmRSS of pid, from /proc/<pid>/status, in bytes.
func procRSS(t *testing.T, pid int) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the memory of pid %d: %v", pid, err)
	}
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil && len(f) == 2 && f[1] == "kB" {
				return kb << 10
			}
		}
	}
	t.Fatalf("/proc/%d/status has no VmRSS in kB", pid)
	return 0
}

func (r *scaleRun) memory(t *testing.T) memory {
	t.Helper()
	return memory{plugin: procRSS(t, r.pluginPID(t)), vault: procRSS(t, r.v.proc.cmd.Process.Pid)}
}

// tryStatus reads jawbone/status; an error while the plugin restarts is
// the caller's to judge.
func (r *scaleRun) tryStatus() (map[string]float64, error) {
	resp, err := r.api.do(http.MethodGet, mountPath+"/status", nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return nil, fmt.Errorf("status: %s", resp)
	}
	out := map[string]float64{}
	for k, v := range resp.Data {
		if f, ok := v.(float64); ok {
			out[k] = f
		}
	}
	for _, k := range []string{"creds", "creds_schedule_loaded", "creds_schedule_load_remaining", statusTickAt, "cache_entries", "cache_bytes"} {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("status has no %s: %s", k, resp)
		}
	}
	return out, nil
}

func (r *scaleRun) status(t *testing.T) map[string]float64 {
	t.Helper()
	st, err := r.tryStatus()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func loaded(st map[string]float64) bool {
	return st["creds_schedule_loaded"] == 1 && st["creds_schedule_load_remaining"] == 0
}

// waitLoaded polls status until the schedule is loaded.
func (r *scaleRun) waitLoaded(t *testing.T, timeout time.Duration) map[string]float64 {
	t.Helper()
	var st map[string]float64
	waitFor(t, timeout, "the creds schedule to load", func() (bool, error) {
		var err error
		st, err = r.tryStatus()
		return err == nil && loaded(st), err
	})
	return st
}

// requireCount checks that status counts n creds, all loaded.
func (r *scaleRun) requireCount(t *testing.T, n int) {
	t.Helper()
	st := r.waitLoaded(t, loadTimeout)
	if int(st["creds"]) != n {
		t.Fatalf("status counts %v creds, want %d", st["creds"], n)
	}
}

func (r *scaleRun) setRefreshAhead(t *testing.T, d time.Duration) {
	t.Helper()
	secs := int64(d / time.Second)
	r.api.must(t, http.MethodPost, mountPath+"/config", map[string]any{"refresh_ahead": secs})
	// A config read shows durations as a write takes them ("23h54m").
	got := r.api.must(t, http.MethodGet, mountPath+"/config", nil).Data["refresh_ahead"]
	if str, _ := got.(string); parseDurationOr(str, -1) != time.Duration(secs)*time.Second {
		t.Fatalf("config refresh_ahead is %v after writing %d", got, secs)
	}
	r.refreshAhead = time.Duration(secs) * time.Second
}

func parseDurationOr(s string, or time.Duration) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		return or
	}
	return d
}

// ---------------------------------------------------------------------------
// Fill

type fillResult struct {
	from, to int
	took     time.Duration
	chunks   []fillChunkResult
	// CPU time per import of Vault, of the plugin, and of this process (the
	// importers and the fake, which answers each import's account check).
	cpuVault, cpuPlugin, cpuHarness time.Duration
}

type fillChunkResult struct {
	from, to int
	took     time.Duration
}

func (c fillChunkResult) rate() float64 { return float64(c.to-c.from) / c.took.Seconds() }
func (f fillResult) rate() float64      { return float64(f.to-f.from) / f.took.Seconds() }

// grow draws the expiries of user-(filled+1) to user-n.
func (r *scaleRun) grow(n int) {
	year := int64(tokenYear / time.Second)
	base := r.t0.Add(expiryOffset).Unix()
	fresh := make([]int64, 0, n-r.filled)
	for range n - r.filled {
		e := base + r.rng.Int64N(year)
		r.expires = append(r.expires, e)
		fresh = append(fresh, e)
	}
	r.tokens = append(r.tokens, make([]string, n-r.filled)...)
	slices.Sort(fresh)
	r.pending = mergeSorted(r.pending, fresh)
}

func mergeSorted(a, b []int64) []int64 {
	out := make([]int64, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if a[i] <= b[j] {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	return append(append(out, a[i:]...), b[j:]...)
}

// fillBounds are the import counts at which a chunk of the fill ends.
func fillBounds(from, to int) []int {
	var out []int
	for b := (from/fillChunk + 1) * fillChunk; b < to; b += fillChunk {
		out = append(out, b)
	}
	return append(out, to)
}

// fillTo imports user-(filled+1) to user-n from fillClients clients.
func (r *scaleRun) fillTo(t *testing.T, n int) fillResult {
	from := r.filled
	res := fillResult{from: from, to: n}
	if n <= from {
		return res
	}
	r.grow(n)
	bounds := fillBounds(from, n)
	slot := make(map[int]int, len(bounds))
	for i, b := range bounds {
		slot[b] = i
	}
	ends := make([]atomic.Int64, len(bounds))
	progressEvery := max((n-from)/10, 1)

	var next, done atomic.Int64
	next.Store(int64(from))
	done.Store(int64(from))
	var failed atomic.Bool
	errs := make([]error, r.set.fillClients)
	pluginPID, vaultPID := r.pluginPID(t), r.v.proc.cmd.Process.Pid
	cpuP, cpuV, cpuH := procCPU(t, pluginPID), procCPU(t, vaultPID), procCPU(t, os.Getpid())
	start := time.Now()
	var wg sync.WaitGroup
	for c := range r.set.fillClients {
		wg.Go(func() {
			var buf bytes.Buffer
			for !failed.Load() {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if err := r.importOne(i, &buf); err != nil {
					errs[c] = err
					failed.Store(true)
					return
				}
				d := int(done.Add(1))
				if k, ok := slot[d]; ok {
					ends[k].Store(time.Now().UnixNano())
				}
				if (d-from)%progressEvery == 0 {
					el := time.Since(start)
					t.Logf("fill: %s of %s imported in %s (%.0f/s)", thousands(d), thousands(n), el.Round(time.Second), float64(d-from)/el.Seconds())
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("fill: %v", err)
	}
	res.took = time.Since(start)
	res.cpuPlugin = (procCPU(t, pluginPID) - cpuP) / time.Duration(n-from)
	res.cpuVault = (procCPU(t, vaultPID) - cpuV) / time.Duration(n-from)
	res.cpuHarness = (procCPU(t, os.Getpid()) - cpuH) / time.Duration(n-from)
	prevCount, prevAt := from, start.UnixNano()
	for i, b := range bounds {
		at := ends[i].Load()
		res.chunks = append(res.chunks, fillChunkResult{from: prevCount, to: b, took: time.Duration(at - prevAt)})
		prevCount, prevAt = b, at
	}
	r.filled = n
	t.Logf("fill: %s imports in %s, %.0f/s; CPU per import: Vault %s, plugin %s, harness %s", thousands(n-from),
		res.took.Round(time.Second), res.rate(), micros(res.cpuVault), micros(res.cpuPlugin), micros(res.cpuHarness))
	return res
}

func micros(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

// importOne has the fake mint a grant for acct-i and imports it, kept as
// is, as user-i.
func (r *scaleRun) importOne(i int, buf *bytes.Buffer) error {
	access, refresh := r.f.IssueTokensFor(scaleAccount(i), scaleScopes)
	r.tokens[i] = access
	return r.importGrant(credsName(i), access, refresh, r.expires[i], buf)
}

func (r *scaleRun) importGrant(name, access, refresh string, expires int64, buf *bytes.Buffer) error {
	_, err := r.timedImport(name, access, refresh, expires, buf)
	return err
}

// timedImport writes creds/name and returns how long Vault took to answer.
func (r *scaleRun) timedImport(name, access, refresh string, expires int64, buf *bytes.Buffer) (time.Duration, error) {
	body := fmt.Sprintf(`{"access_token":%q,"refresh_token":%q,"expires_at":%q}`, access, refresh, rfc3339(expires))
	took, status, err := r.timedRequest(http.MethodPost, mountPath+"/creds/"+name, "", body, buf)
	switch {
	case err != nil:
		return 0, fmt.Errorf("importing %s: %w", name, err)
	case status != http.StatusOK:
		return 0, fmt.Errorf("importing %s: status %d: %.500s", name, status, buf.String())
	case !bytes.Contains(buf.Bytes(), []byte(`"access_token":"`+access+`"`)):
		return 0, fmt.Errorf("importing %s: the reply lacks the imported access token: %.500s", name, buf.String())
	}
	return took, nil
}

// ---------------------------------------------------------------------------
// Latency: import, exchange, callback, LIST, status

// latencies is what the latency phase measured: each flow's samples
// (import, exchange, callback, kv put; list and status as they came only)
// taken as they came, and taken again with every round right after Vault's
// collector ran; and the reference's, taken in the same rounds (nil
// without one).
type latencies struct {
	sampled, collected latencyPass
	listAll            []time.Duration
	ref                *latencies
}

// latencyPass is one pass of the rounds: the samples of each flow, how many
// collections Vault's runtime completed meanwhile, the CPU time Vault and
// the plugin used in the rounds (so that a slower pass shows whether it
// cost more work or only waited longer), and, after each collection the
// harness asked for, how long Vault and the plugin took to be quiet again.
type latencyPass struct {
	flows               map[string][]time.Duration
	gcs                 int
	vaultCPU, pluginCPU time.Duration
	requests            int
	quietAfter          []time.Duration
}

func newLatencies() *latencies {
	return &latencies{sampled: latencyPass{flows: map[string][]time.Duration{}}, collected: latencyPass{flows: map[string][]time.Duration{}}}
}

// pass is one pass: as they came, or (collected) each round right after
// Vault's collection.
func (l *latencies) pass(collected bool) *latencyPass {
	if collected {
		return &l.collected
	}
	return &l.sampled
}

// cpuPerRequest is the CPU time of Vault and of the plugin per timed
// request of the pass (an exchange's and a callback's own auth-url and
// consent included).
func (p *latencyPass) cpuPerRequest() (vault, plugin time.Duration) {
	if p.requests == 0 {
		return 0, 0
	}
	return p.vaultCPU / time.Duration(p.requests), p.pluginCPU / time.Duration(p.requests)
}

// sampleLatencies times, one request at a time, samples of each: an
// import, an exchange and a callback, each of a new name (and a new
// account) deleted again afterwards, so that the mount keeps n creds, and a
// KV write beside it; then LIST's first page and status; then the
// unpaginated LIST.
//
// The flows are sampled twice. First as they come: at a million grants the
// dev server's in-memory storage is gigabytes of Vault's heap, which its
// collector marks at least every two minutes (Go's forced period) for
// several CPU-seconds, and whatever is timed meanwhile pays for it. Then
// each round right after Vault's collector has run to the end (the
// runtime.GC of Vault's sys/pprof/heap?gc=1) and Vault and the plugin are
// quiet again (untilQuiet): what a request costs Vault
// and the plugin without that mark, which the storage of a production
// server (Raft, a file) does not put in Vault's heap. After a collection
// Go's next one waits until the heap has doubled: at a million grants
// gigabytes of allocation away, more than a round makes; at a thousand a
// few MiB, so that Vault still collects (cheaply) within the rounds.
// Vault's collections are counted in both passes.
//
// With a reference, each round is also taken on it, in the same pass, its
// turn first in every other round so that neither always follows the
// other.
func (r *scaleRun) sampleLatencies(t *testing.T, n int) *latencies {
	l := newLatencies()
	runs, outs := []*scaleRun{r}, []*latencies{l}
	if r.ref != nil {
		l.ref = newLatencies()
		runs, outs = append(runs, r.ref), append(outs, l.ref)
	}
	probes := make([][]string, len(runs))
	var buf bytes.Buffer
	for _, run := range runs {
		defer run.f.SetSignedIn("")
	}
	for _, collect := range []bool{false, true} {
		prefix := "probe-"
		if collect {
			prefix = "probe-gc-"
		}
		for round := range latencyRounds {
			for k := range runs {
				i := (k + round) % len(runs)
				probes[i] = runs[i].timedRound(t, outs[i].pass(collect), collect, prefix, round, probes[i], &buf)
			}
		}
	}
	for i, run := range runs {
		for _, name := range probes[i] {
			run.api.must(t, http.MethodDelete, name, nil)
		}
	}
	l.sampled.flows["list"], l.sampled.flows["status"] = r.sampleListStatus(t, n, &buf)
	l.listAll = r.sampleListAll(t, n, &buf)
	for _, k := range latencyFlows {
		t.Logf("%-8s %s (after Vault's collection: %s)", k, fmtP50P99(l.sampled.flows[k]), fmtP50P99(l.collected.flows[k]))
		if l.ref != nil {
			t.Logf("%-8s reference: %s (after Vault's collection: %s)", "", fmtP50P99(l.ref.sampled.flows[k]), fmtP50P99(l.ref.collected.flows[k]))
		}
	}
	t.Logf("list     %s; status %s", fmtP50P99(l.sampled.flows["list"]), fmtP50P99(l.sampled.flows["status"]))
	vault, plugin := l.sampled.cpuPerRequest()
	t.Logf("as they came: Vault's collections during the rounds %d; CPU a request: Vault %s, plugin %s", l.sampled.gcs, micros(vault), micros(plugin))
	vault, plugin = l.collected.cpuPerRequest()
	t.Logf("after Vault's collection: Vault's collections during the rounds %d; CPU a request: Vault %s, plugin %s; quiet after the collection in %s",
		l.collected.gcs, micros(vault), micros(plugin), fmtDurations(l.collected.quietAfter))
	t.Logf("unpaginated LIST of %s names: %s", thousands(n), fmtDurations(l.listAll))
	return l
}

// timedRound runs one round into pass, with Vault's collection run to the
// end first (collect) and the processes left to go quiet after it, and
// counts Vault's collections and the CPU time of Vault and the plugin
// during the round.
func (r *scaleRun) timedRound(t *testing.T, pass *latencyPass, collect bool, prefix string, round int, probes []string, buf *bytes.Buffer) []string {
	gcs := r.vaultGCs(t, collect)
	if collect {
		pass.quietAfter = append(pass.quietAfter, r.untilQuiet(t, afterCollectionWindow, afterCollectionTimeout))
	}
	vault, plugin := r.v.proc.cmd.Process.Pid, r.pluginPID(t)
	vaultCPU, pluginCPU := procCPU(t, vault), procCPU(t, plugin)
	before := len(pass.flows["import"])
	probes = r.latencyRound(t, prefix, round, pass.flows, probes, buf)
	pass.vaultCPU += procCPU(t, vault) - vaultCPU
	pass.pluginCPU += procCPU(t, plugin) - pluginCPU
	pass.requests += len(latencyFlows) * (len(pass.flows["import"]) - before)
	pass.gcs += r.vaultGCs(t, false) - gcs
	return probes
}

// latencyRound times one round: a block of each flow in turn, so that a
// pause of Vault's falls on every flow alike rather than on whichever
// block it met. Every name it creates (creds and the KV keys, as paths to
// delete) is appended to probes.
func (r *scaleRun) latencyRound(t *testing.T, prefix string, round int, out map[string][]time.Duration, probes []string, buf *bytes.Buffer) []string {
	from, to := round*r.set.samples/latencyRounds, (round+1)*r.set.samples/latencyRounds
	for k := from; k < to; k++ {
		name := fmt.Sprintf("%si-%04d", prefix, k)
		access, refresh := r.f.IssueTokensFor(name, scaleScopes)
		took, err := r.timedImport(name, access, refresh, r.t0.Add(expiryOffset+tokenYear/2).Unix(), buf)
		if err != nil {
			t.Fatal(err)
		}
		out["import"] = append(out["import"], took)
		probes = append(probes, mountPath+"/creds/"+name)
	}
	// Exchange completes what was started with redirect_uri elsewhere (the
	// paste flow); the callback what was started with the mount's callback.
	callback := r.f.RedirectURI
	r.setRedirectURI(t, r.v.Addr+"/landed")
	for k := from; k < to; k++ {
		name := fmt.Sprintf("%se-%04d", prefix, k)
		out["exchange"] = append(out["exchange"], r.timedExchange(t, name, buf))
		probes = append(probes, mountPath+"/creds/"+name)
	}
	r.setRedirectURI(t, callback)
	for k := from; k < to; k++ {
		name := fmt.Sprintf("%sc-%04d", prefix, k)
		out["callback"] = append(out["callback"], r.timedCallback(t, name, buf))
		probes = append(probes, mountPath+"/creds/"+name)
	}
	for k := from; k < to; k++ {
		key := fmt.Sprintf("%s%04d", prefix, k)
		out["kv put"] = append(out["kv put"], r.timedKVPut(t, key, buf))
		probes = append(probes, kvControlMount+"/"+key)
	}
	return probes
}

// vaultGCs is how many collections Vault's runtime has completed, from
// the header of its heap profile; collect runs one to the end first.
func (r *scaleRun) vaultGCs(t *testing.T, collect bool) int {
	t.Helper()
	query := "debug=1"
	if collect {
		query += "&gc=1"
	}
	reply, err := r.api.doRaw(http.MethodGet, "sys/pprof/heap", query, nil)
	if err != nil || reply.Status != http.StatusOK {
		t.Fatalf("GET sys/pprof/heap?%s: %v %d %.300s", query, err, reply.Status, reply.Body)
	}
	for line := range strings.Lines(string(reply.Body)) {
		if rest, ok := strings.CutPrefix(line, "# NumGC = "); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(rest)); err == nil {
				return n
			}
		}
	}
	t.Fatalf("GET sys/pprof/heap?%s: no NumGC in the profile's header", query)
	return 0
}

// sampleListStatus times LIST's first page and status, alternately.
func (r *scaleRun) sampleListStatus(t *testing.T, n int, buf *bytes.Buffer) (list, status []time.Duration) {
	first, last := credsName(1), credsName(min(n, listPage))
	for range r.set.samples {
		took, keys := r.timedList(t, "list=true&limit="+strconv.Itoa(listPage), buf)
		if len(keys) != min(n, listPage) || keys[0] != first || keys[len(keys)-1] != last {
			t.Fatalf("LIST creds/ limit=%d: %d names, %v … %v; want %s … %s", listPage, len(keys), keys[:min(len(keys), 1)], keys[max(len(keys)-1, 0):], first, last)
		}
		list = append(list, took)
		status = append(status, r.timedStatus(t, n, buf))
	}
	return list, status
}

// sampleListAll times the unpaginated LIST.
func (r *scaleRun) sampleListAll(t *testing.T, n int, buf *bytes.Buffer) []time.Duration {
	var all []time.Duration
	for range r.set.listAllRuns {
		took, keys := r.timedList(t, "list=true", buf)
		if len(keys) != n {
			t.Fatalf("LIST creds/: %d names, want %d", len(keys), n)
		}
		all = append(all, took)
	}
	return all
}

// setRedirectURI makes uri the mount's redirect_uri and where the fake
// sends the browser back to.
func (r *scaleRun) setRedirectURI(t *testing.T, uri string) {
	t.Helper()
	r.api.must(t, http.MethodPost, mountPath+"/config", map[string]any{"redirect_uri": uri})
	r.f.RedirectURI = uri
}

// authorizeAs reads auth-url for name, and has the fake approve it for
// account as a browser would; it returns the URL the browser lands on.
func (r *scaleRun) landing(t *testing.T, name, account string) string {
	t.Helper()
	r.f.SetSignedIn(account)
	resp, err := r.api.do(http.MethodGet, mountPath+"/auth-url", url.Values{"name": {name}}, nil)
	if err != nil || resp.Status != http.StatusOK || resp.str("url") == "" {
		t.Fatalf("auth-url name=%s: %v %s", name, err, resp)
	}
	return r.f.Visit(t, resp.str("url"))
}

func (r *scaleRun) timedExchange(t *testing.T, name string, buf *bytes.Buffer) time.Duration {
	t.Helper()
	loc := r.landing(t, name, name)
	req, err := r.api.newRequest(http.MethodPost, mountPath+"/exchange", "", map[string]any{"redirect_url": loc})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	status, _, err := r.api.send(req, buf)
	took := time.Since(t0)
	if err != nil || status != http.StatusOK || !bytes.Contains(buf.Bytes(), []byte(`"name":"`+name+`"`)) {
		t.Fatalf("exchange for %s: status %d, %v: %.500s", name, status, err, buf.String())
	}
	return took
}

func (r *scaleRun) timedCallback(t *testing.T, name string, buf *bytes.Buffer) time.Duration {
	t.Helper()
	loc, err := url.Parse(r.landing(t, name, name))
	if err != nil {
		t.Fatal(err)
	}
	req, err := r.anon.newRequest(http.MethodGet, mountPath+"/callback", loc.RawQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	status, _, err := r.anon.send(req, buf)
	took := time.Since(t0)
	if err != nil || status != http.StatusOK || !bytes.Contains(buf.Bytes(), []byte(callbackStoredSentence)) || !bytes.Contains(buf.Bytes(), []byte(name)) {
		t.Fatalf("callback for %s: status %d, %v: %.800s", name, status, err, buf.String())
	}
	return took
}

// kvControlMount is a KV version 1 mount beside the plugin's: a write to
// it is Vault's own cost of a write request (one storage write), at the
// same mount size, with no plugin involved: the control the latencies of
// import, exchange and callback are read against.
const kvControlMount = "kv-control"

// latencyFlows are the flows each latency round times, a block of each.
var latencyFlows = []string{"import", "exchange", "callback", "kv put"}

// latencyRounds is how many rounds the latency samples are taken in.
const latencyRounds = 5

// timedKVPut writes key on the control mount and returns how long Vault
// took to answer.
func (r *scaleRun) timedKVPut(t *testing.T, key string, buf *bytes.Buffer) time.Duration {
	t.Helper()
	took, status, err := r.timedRequest(http.MethodPut, kvControlMount+"/"+key, "", `{"value":"x"}`, buf)
	if err != nil || status/100 != 2 {
		t.Fatalf("PUT %s/%s: status %d, %v: %.500s", kvControlMount, key, status, err, buf.String())
	}
	return took
}

// timedGet GETs path (below the mount) with query into buf, and returns
// how long Vault took to answer.
func (r *scaleRun) timedGet(t *testing.T, path, query string, buf *bytes.Buffer) (time.Duration, int, error) {
	t.Helper()
	return r.timedRequest(http.MethodGet, mountPath+"/"+path, query, nil, buf)
}

// timedRequest sends one request, its reply into buf, and returns how long
// Vault took to answer (the request's building not counted).
func (r *scaleRun) timedRequest(method, path, query string, body any, buf *bytes.Buffer) (time.Duration, int, error) {
	req, err := r.api.newRequest(method, path, query, body)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	status, _, err := r.api.send(req, buf)
	return time.Since(t0), status, err
}

// timedList LISTs creds/ with the query and returns its time and names.
func (r *scaleRun) timedList(t *testing.T, query string, buf *bytes.Buffer) (time.Duration, []string) {
	t.Helper()
	took, status, err := r.timedGet(t, "creds", query, buf)
	var reply struct {
		Data struct {
			Keys []string `json:"keys"`
		} `json:"data"`
	}
	if err != nil || status != http.StatusOK || json.Unmarshal(buf.Bytes(), &reply) != nil || len(reply.Data.Keys) == 0 {
		t.Fatalf("LIST creds/?%s: status %d, %v: %.500s", query, status, err, buf.String())
	}
	return took, reply.Data.Keys
}

func (r *scaleRun) timedStatus(t *testing.T, n int, buf *bytes.Buffer) time.Duration {
	t.Helper()
	took, status, err := r.timedGet(t, "status", "", buf)
	var reply struct {
		Data struct {
			Creds  float64 `json:"creds"`
			Loaded float64 `json:"creds_schedule_loaded"`
		} `json:"data"`
	}
	if err != nil || status != http.StatusOK || json.Unmarshal(buf.Bytes(), &reply) != nil || int(reply.Data.Creds) != n || reply.Data.Loaded != 1 {
		t.Fatalf("status: %d, %v, want %d creds loaded: %.500s", status, err, n, buf.String())
	}
	return took
}

func p50p99(ds []time.Duration) (time.Duration, time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return percentile(s, 0.50), percentile(s, 0.99)
}

func fmtP50P99(ds []time.Duration) string {
	p50, p99 := p50p99(ds)
	return fmtLatency(p50) + " / " + fmtLatency(p99)
}

// ---------------------------------------------------------------------------
// Reads: a random name against one name

type readCell struct {
	ops      int
	measured time.Duration
	lats     []time.Duration
	perRound []float64
	allOps   int
	// CPU time of the plugin, of Vault and of this process (the readers).
	pluginCPU, vaultCPU, harnessCPU time.Duration
	// vaultGCs is how many collections Vault's runtime completed during
	// the rounds (warm-ups included).
	vaultGCs int
}

func (c *readCell) opsPerSec() float64 { return float64(c.ops) / c.measured.Seconds() }

type readResult struct {
	cache                    string
	warmed                   int
	warmTook                 time.Duration
	one, random              *readCell
	cacheEntries, cacheBytes float64
	pluginRSS                int64
	hitRateBound             float64 // cache entries over names: the random reads' best hit rate
}

func (r *readResult) ratio() float64 { return r.random.opsPerSec() / r.one.opsPerSec() }

// checkCreds checks a creds read of user-i: its imported token, or, if a
// tick refreshed it since, the token the fake now holds for acct-i.
func (r *scaleRun) checkCreds(i, status int, err error, body []byte) error {
	name := credsName(i)
	switch {
	case err != nil:
		return fmt.Errorf("reading %s: %w", name, err)
	case status != http.StatusOK:
		return fmt.Errorf("reading %s: status %d: %.500s", name, status, body)
	case bytes.Contains(body, []byte(`"access_token":"`+r.tokens[i]+`"`)):
		return nil
	}
	var s vaultSecret
	if json.Unmarshal(body, &s) == nil {
		tok, _ := s.Data["access_token"].(string)
		xid, _ := s.Data["account_xid"].(string)
		if got, ok := r.f.AccountOf(tok); ok && got == scaleAccount(i) && xid == got {
			return nil
		}
	}
	return fmt.Errorf("reading %s: neither the imported token nor acct-%07d's current one: %.500s", name, i, body)
}

// readLoop has clients read, until end, the names pick draws; reads
// started after from are counted and timed.
func (r *scaleRun) readLoop(clients int, from, end time.Time, pick func(*rand.Rand) int) (lats []time.Duration, all int, err error) {
	perClient := make([][]time.Duration, clients)
	counts := make([]int, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), uint64(from.UnixNano())))
			var buf bytes.Buffer
			mine := make([]time.Duration, 0, 4096)
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				i := pick(rng)
				req, err := r.api.newRequest(http.MethodGet, mountPath+"/creds/"+credsName(i), "", nil)
				if err != nil {
					errs[c] = err
					return
				}
				status, _, err := r.api.send(req, &buf)
				d := time.Since(t0)
				if err := r.checkCreds(i, status, err, buf.Bytes()); err != nil {
					errs[c] = err
					return
				}
				counts[c]++
				if !t0.Before(from) {
					mine = append(mine, d)
				}
			}
			perClient[c] = mine
		})
	}
	wg.Wait()
	for _, n := range counts {
		all += n
	}
	return slices.Concat(perClient...), all, errors.Join(errs...)
}

// warm reads user-1 to user-w in order, from the read clients.
func (r *scaleRun) warm(t *testing.T, from, w int) {
	t.Helper()
	var next atomic.Int64
	next.Store(int64(from))
	errs := make([]error, r.set.readClients)
	var wg sync.WaitGroup
	for c := range r.set.readClients {
		wg.Go(func() {
			var buf bytes.Buffer
			for {
				i := int(next.Add(1))
				if i > w {
					return
				}
				req, err := r.api.newRequest(http.MethodGet, mountPath+"/creds/"+credsName(i), "", nil)
				if err != nil {
					errs[c] = err
					return
				}
				status, _, err := r.api.send(req, &buf)
				if err := r.checkCreds(i, status, err, buf.Bytes()); err != nil {
					errs[c] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// measureReads warms the cache (names in order, as many as it holds), then
// has readClients clients read one name, and random names, in interleaved
// rounds.
func (r *scaleRun) measureReads(t *testing.T, n int, cache string) *readResult {
	res := &readResult{cache: cache}
	start := time.Now()
	probe := min(n, 1000)
	r.warm(t, 0, probe)
	st := r.status(t)
	w := r.set.readWarm
	if w == 0 {
		// As many as the budget holds at the cost the first entries show.
		perEntry := st["cache_bytes"] / max(st["cache_entries"], 1)
		w = int(1.1 * float64(r.cacheBudget) / perEntry)
	}
	res.warmed = min(n, max(w, probe))
	r.warm(t, probe, res.warmed)
	res.warmTook = time.Since(start)

	pid, vpid, hpid := r.pluginPID(t), r.v.proc.cmd.Process.Pid, os.Getpid()
	targets := []struct {
		cell *readCell
		pick func(*rand.Rand) int
	}{
		{&readCell{}, func(*rand.Rand) int { return 1 }},
		{&readCell{}, func(rng *rand.Rand) int { return 1 + rng.IntN(n) }},
	}
	res.one, res.random = targets[0].cell, targets[1].cell
	const warmup = 200 * time.Millisecond
	perRound := r.set.readDuration / time.Duration(r.set.readRounds)
	for round := range r.set.readRounds {
		for k := range targets {
			tg := targets[(k+round)%len(targets)]
			gcs0 := r.vaultGCs(t, false)
			cpu0, vcpu0, hcpu0 := procCPU(t, pid), procCPU(t, vpid), procCPU(t, hpid)
			from := time.Now().Add(warmup)
			lats, all, err := r.readLoop(r.set.readClients, from, from.Add(perRound), tg.pick)
			if err != nil {
				t.Fatal(err)
			}
			tg.cell.pluginCPU += procCPU(t, pid) - cpu0
			tg.cell.vaultCPU += procCPU(t, vpid) - vcpu0
			tg.cell.harnessCPU += procCPU(t, hpid) - hcpu0
			tg.cell.vaultGCs += r.vaultGCs(t, false) - gcs0
			tg.cell.ops += len(lats)
			tg.cell.allOps += all
			tg.cell.measured += perRound
			tg.cell.lats = append(tg.cell.lats, lats...)
			tg.cell.perRound = append(tg.cell.perRound, float64(len(lats))/perRound.Seconds())
		}
	}
	st = r.status(t)
	res.cacheEntries, res.cacheBytes = st["cache_entries"], st["cache_bytes"]
	res.hitRateBound = min(res.cacheEntries/float64(n), 1)
	res.pluginRSS = procRSS(t, pid)
	t.Logf("reads (%s cache, %s warmed in %s): one name %.0f/s, random %.0f/s, ratio %.2f (rounds %s), CPU ratio %.2f; Vault CPU/read %s / %s, its collections %d / %d; cache %s entries, %s",
		cache, thousands(res.warmed), res.warmTook.Round(time.Second), res.one.opsPerSec(), res.random.opsPerSec(), res.ratio(),
		fmtFloats(res.roundRatios(), "%.2f"), res.cpuRatio(), micros(res.one.vaultCPUPerOp()), micros(res.random.vaultCPUPerOp()),
		res.one.vaultGCs, res.random.vaultGCs, thousands(int(res.cacheEntries)), mib(res.cacheBytes))
	return res
}

func (r *readResult) roundRatios() []float64 {
	out := make([]float64, len(r.one.perRound))
	for i := range out {
		out[i] = r.random.perRound[i] / r.one.perRound[i]
	}
	return out
}

func (c *readCell) pluginCPUPerOp() time.Duration {
	return c.pluginCPU / time.Duration(max(c.allOps, 1))
}

func (c *readCell) vaultCPUPerOp() time.Duration {
	return c.vaultCPU / time.Duration(max(c.allOps, 1))
}

// cpuPerOp is the CPU time of every process (plugin, Vault, readers) per
// read: on a shared machine a steadier measure than ops/s.
func (c *readCell) cpuPerOp() time.Duration {
	return (c.pluginCPU + c.vaultCPU + c.harnessCPU) / time.Duration(max(c.allOps, 1))
}

// cpuRatio is one name's CPU time per read over a random name's: what the
// ratio of ops/s would be on a quiet machine.
func (r *readResult) cpuRatio() float64 {
	return float64(r.one.cpuPerOp()) / float64(r.random.cpuPerOp())
}

// ---------------------------------------------------------------------------
// The background tick

const statusTickAt = "background_scan_timestamp_seconds"

// tickObs is what status says of one tick.
type tickObs struct {
	end      float64 // Unix seconds
	took     time.Duration
	attended int
	checked  int
	expected int // grants due by the tick's start, as the harness counts them
}

// tickWindow is the plugin's work over whole ticks: it starts just after a
// tick ended and ends just after the last one it counts ended.
type tickWindow struct {
	refreshAhead time.Duration
	ticks        []tickObs
	wall         time.Duration
	cpu          time.Duration // the plugin's
	vaultCPU     time.Duration
	tokenCalls   int
	extra        int // grants made due by the harness (the burst)
}

// lastEnd is when the window's last tick ended.
func (w *tickWindow) lastEnd() float64 { return w.ticks[len(w.ticks)-1].end }

func (w *tickWindow) perMinute() time.Duration {
	return time.Duration(float64(w.cpu) / w.wall.Minutes())
}

func (w *tickWindow) attended() (sum int, list []string) {
	for _, tk := range w.ticks {
		sum += tk.attended
		list = append(list, strconv.Itoa(tk.attended))
	}
	return sum, list
}

func (w *tickWindow) expected() (sum int) {
	for _, tk := range w.ticks {
		sum += tk.expected
	}
	return sum + w.extra
}

// nextTick polls status until a tick that ended after after is over, and
// returns that status. The first poll comes shortly before the next tick
// is due (a minute after the last), then one a second.
func (r *scaleRun) nextTick(t *testing.T, after float64) map[string]float64 {
	t.Helper()
	if after > 0 {
		if d := time.Until(time.Unix(int64(after), 0).Add(rollbackEvery - tickLead)); d > 0 {
			time.Sleep(d)
		}
	}
	deadline := time.Now().Add(tickTimeout)
	for {
		st, err := r.tryStatus()
		if err == nil && st[statusTickAt] > after {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("no background tick after %s within %s (last status: %v, %v)", rfc3339(int64(after)), tickTimeout, st, err)
		}
		time.Sleep(time.Second)
	}
}

// observe is the tick status reports, with the grants the harness counts
// as due by its start (taken off pending).
func (r *scaleRun) observe(st map[string]float64) tickObs {
	took := time.Duration(st["background_scan_duration_seconds"] * float64(time.Second))
	obs := tickObs{end: st[statusTickAt], took: took, attended: int(st["background_tick_attended"]), checked: int(st["background_tick_checked"])}
	start := int64(obs.end - took.Seconds())
	horizon := start + int64(max(r.refreshAhead, expiryMargin)/time.Second)
	k, _ := slices.BinarySearch(r.pending, horizon+1)
	obs.expected = k
	r.pending = r.pending[k:]
	r.frontier = max(r.frontier, horizon)
	return obs
}

// window measures ticks whole ticks, starting after the tick that ended at
// after (0: the next one to end).
func (r *scaleRun) window(t *testing.T, ticks int, after float64) *tickWindow {
	t.Helper()
	if after == 0 {
		after = r.nextTick(t, r.status(t)[statusTickAt])[statusTickAt]
	}
	pid, vpid := r.pluginPID(t), r.v.proc.cmd.Process.Pid
	w := &tickWindow{refreshAhead: r.refreshAhead}
	cpu0, vcpu0, calls0, t0 := procCPU(t, pid), procCPU(t, vpid), r.f.Calls(fakejawbone.EndpointToken), time.Now()
	last := after
	for range ticks {
		st := r.nextTick(t, last)
		obs := r.observe(st)
		w.ticks = append(w.ticks, obs)
		last = obs.end
	}
	w.wall = time.Since(t0)
	w.cpu, w.vaultCPU = procCPU(t, pid)-cpu0, procCPU(t, vpid)-vcpu0
	w.tokenCalls = r.f.Calls(fakejawbone.EndpointToken) - calls0
	return w
}

func (r *scaleRun) logWindow(t *testing.T, what string, w *tickWindow) {
	t.Helper()
	sum, list := w.attended()
	t.Logf("%s: refresh_ahead %s, %d ticks in %s: attended %s (sum %d, expected %d), token calls %d; plugin CPU %s (%s a minute), Vault CPU %s",
		what, w.refreshAhead, len(w.ticks), w.wall.Round(time.Second), strings.Join(list, ", "), sum, w.expected(), w.tokenCalls,
		seconds(w.cpu), seconds(w.perMinute()), seconds(w.vaultCPU))
}

// idleWindow: nothing due (refresh_ahead=0, every expiry a day away or
// more, no liveness check due).
func (r *scaleRun) idleWindow(t *testing.T) *tickWindow {
	w := r.window(t, r.set.idleTicks, 0)
	r.logWindow(t, "idle", w)
	if sum, _ := w.attended(); sum != 0 || w.tokenCalls != 0 {
		// Not a failure: the report shows it; but the window was not idle.
		t.Logf("WARNING: the idle ticks attended %d creds and made %d token calls: something was due", sum, w.tokenCalls)
	}
	return w
}

// spreadWindow sets refresh_ahead, right after the tick that ended at
// before, to the time left until the frontier (the earliest expiry no tick
// has been due to refresh), so that grants fall due at the rate their
// expiries come; the first tick after a config change reorders the
// schedule, and is measured apart.
func (r *scaleRun) spreadWindow(t *testing.T, before float64) (reorder, spread *tickWindow) {
	r.setRefreshAhead(t, time.Until(time.Unix(r.frontier, 0)).Truncate(time.Second))
	reorder = r.window(t, 1, before)
	r.logWindow(t, "first tick after the config change", reorder)
	spread = r.window(t, r.set.spreadTicks, reorder.ticks[0].end)
	r.logWindow(t, "spread", spread)
	return reorder, spread
}

// burstWindow imports burst grants due at once (expiring within the
// hour, inside refresh_ahead), right after the tick that ended at after,
// and measures the next tick, which refreshes them; then deletes them.
func (r *scaleRun) burstWindow(t *testing.T, after float64) *tickWindow {
	var buf bytes.Buffer
	expires := time.Now().Add(time.Hour).Unix()
	names := make([]string, r.set.burst)
	for k := range names {
		names[k] = fmt.Sprintf("burst-%04d", k)
		access, refresh := r.f.IssueTokensFor(names[k], scaleScopes)
		if err := r.importGrant(names[k], access, refresh, expires, &buf); err != nil {
			t.Fatal(err)
		}
	}
	if st := r.status(t); st[statusTickAt] != after {
		t.Fatalf("a tick ran while the burst was imported (%s): import faster or use a smaller SCALE_BURST", rfc3339(int64(st[statusTickAt])))
	}
	w := r.window(t, 1, after)
	w.extra = len(names)
	r.logWindow(t, "burst", w)
	for _, name := range names {
		r.api.must(t, http.MethodDelete, mountPath+"/creds/"+name, nil)
	}
	return w
}

// ---------------------------------------------------------------------------
// Plugin reload

type reloadResult struct {
	total, call, firstRead []time.Duration
	newProcess             int
	// After the last reload: when the schedule's load began (remaining
	// above 0) and ended, the plugin's CPU time until then, and a LIST page
	// while it loaded.
	loadStarted, loaded time.Duration
	loadCPU             time.Duration
	listDuringLoad      time.Duration
	listedDuringLoad    bool
}

// measureReloads reloads the plugin (the API: the 1.21.1 CLI's reload
// -mounts is broken) reloads times, each to the first successful read of
// user-1, then waits for the schedule to load.
func (r *scaleRun) measureReloads(t *testing.T, n int) *reloadResult {
	res := &reloadResult{}
	var buf bytes.Buffer
	var begun time.Time
	// The load's CPU time: the process the last reload started began at
	// zero; a process that lived on is counted from the reload on.
	var cpuBefore time.Duration
	for range r.set.reloads {
		before := r.pluginPID(t)
		oldCPU := procCPU(t, before)
		begun = time.Now()
		r.api.must(t, http.MethodPut, "sys/plugins/reload/backend", map[string]any{"plugin": pluginName})
		called := time.Now()
		r.waitRead(t, begun, &buf)
		res.total = append(res.total, time.Since(begun))
		res.call = append(res.call, called.Sub(begun))
		res.firstRead = append(res.firstRead, time.Since(called))
		cpuBefore = oldCPU
		if after := r.pluginPID(t); after != before {
			res.newProcess++
			cpuBefore = 0
		}
	}
	pid := r.pluginPID(t)
	deadline := time.Now().Add(loadTimeout)
	for {
		st, err := r.tryStatus()
		if err == nil {
			if res.loadStarted == 0 && st["creds_schedule_load_remaining"] > 0 {
				res.loadStarted = time.Since(begun)
				if !res.listedDuringLoad {
					took, keys := r.timedList(t, "list=true&limit="+strconv.Itoa(listPage), &buf)
					if len(keys) != min(n, listPage) || keys[0] != credsName(1) {
						t.Fatalf("LIST during the load: %d names from %s", len(keys), keys[0])
					}
					res.listDuringLoad, res.listedDuringLoad = took, true
				}
			}
			if loaded(st) {
				res.loaded = time.Since(begun)
				if res.loadStarted == 0 {
					res.loadStarted = res.loaded // too quick to see
				}
				if int(st["creds"]) != n {
					t.Fatalf("after the reload, status counts %v creds, want %d", st["creds"], n)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the schedule did not load within %s of the reload: %v %v", loadTimeout, st, err)
		}
		time.Sleep(time.Second)
	}
	res.loadCPU = procCPU(t, pid) - cpuBefore
	t.Logf("reload → first read %s (call %s, read %s), new process after %d of %d; schedule: load began %s after, loaded %s after, plugin CPU %s; LIST page during the load %s",
		fmtDurations(res.total), fmtDurations(res.call), fmtDurations(res.firstRead), res.newProcess, r.set.reloads,
		res.loadStarted.Round(time.Second), res.loaded.Round(time.Second), seconds(res.loadCPU), fmtLatency(res.listDuringLoad))
	return res
}

// waitRead reads user-1 until it succeeds (a millisecond apart).
func (r *scaleRun) waitRead(t *testing.T, since time.Time, buf *bytes.Buffer) {
	t.Helper()
	deadline := since.Add(startTimeout)
	for {
		req, err := r.api.newRequest(http.MethodGet, mountPath+"/creds/"+credsName(1), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		status, _, err := r.api.send(req, buf)
		err = r.checkCreds(1, status, err, buf.Bytes())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful creds read %s after the reload: %v", startTimeout, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// A larger cache

// measureBigCache tunes cache_size to the larger budget (and records
// whether the tune alone gave the mount a new backend: cache emptied,
// schedule reloading, or a new process), reloads the plugin, waits for
// the schedule, and measures the reads again. Unless last, it goes back to
// the default budget.
func (r *scaleRun) measureBigCache(t *testing.T, n int, last bool) (*readResult, string) {
	budget, err := parseCapacity(r.set.bigCache)
	if err != nil {
		t.Fatalf("SCALE_BIG_CACHE=%q: %v", r.set.bigCache, err)
	}
	note := r.tuneCache(t, r.set.bigCache)
	r.cacheBudget = budget
	res := r.measureReads(t, n, r.set.bigCache)
	if !last {
		r.tuneCache(t, "64MiB")
		r.cacheBudget = defaultCacheBytes
	}
	return res, note
}

// tuneCache sets the mount's cache_size with the CLI, reloads the plugin
// through the API, and waits for the schedule; it says whether the tune
// alone had made a new backend.
func (r *scaleRun) tuneCache(t *testing.T, size string) string {
	t.Helper()
	// Some entries in the cache, and a tick behind the backend: a new
	// backend would have neither.
	r.warm(t, 0, min(r.filled, 100))
	pid := r.pluginPID(t)
	before := r.status(t)
	r.v.For(t).MustCLI("secrets", "tune", "-options=cache_size="+size, mountPath+"/")
	after := r.status(t)
	same := r.pluginPID(t) == pid && after["cache_entries"] >= before["cache_entries"] && after[statusTickAt] == before[statusTickAt] && loaded(after)
	note := fmt.Sprintf("`vault secrets tune -options=cache_size=%s jawbone/` left the backend as it was (the same plugin process, cache entries %s → %s, the same last tick, schedule still loaded), so the plugin was reloaded",
		size, thousands(int(before["cache_entries"])), thousands(int(after["cache_entries"])))
	if !same {
		note = fmt.Sprintf("`vault secrets tune -options=cache_size=%s jawbone/` gave the mount a new backend (plugin process %d → %d, cache entries %s → %s, last tick %s → %s, schedule loaded %v)",
			size, pid, r.pluginPID(t), thousands(int(before["cache_entries"])), thousands(int(after["cache_entries"])),
			rfc3339(int64(before[statusTickAt])), rfc3339(int64(after[statusTickAt])), loaded(after))
	}
	t.Log(note)
	var buf bytes.Buffer
	began := time.Now()
	r.api.must(t, http.MethodPut, "sys/plugins/reload/backend", map[string]any{"plugin": pluginName})
	r.waitRead(t, began, &buf)
	r.waitLoaded(t, loadTimeout)
	t.Logf("reloaded with cache_size=%s; schedule loaded after %s", size, time.Since(began).Round(time.Second))
	return note
}

// parseCapacity reads 512MiB, 1GiB, 64MB or a number of bytes.
func parseCapacity(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n <= 0 {
				return 0, errors.New("want a size such as 512MiB")
			}
			return n * u.mult, nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("want a size such as 512MiB")
	}
	return n, nil
}

// ---------------------------------------------------------------------------
// Report

type scaleReport struct {
	settings                    scaleSettings
	started, finished           time.Time
	loadAvgStart, loadAvgEnd    string
	vaultVersion, pluginVersion string
	levels                      []*scaleLevel
}

func (rep *scaleReport) level(n int) *scaleLevel {
	for _, l := range rep.levels {
		if l.n == n {
			return l
		}
	}
	return nil
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "**missed**"
}

func (rep *scaleReport) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	s := rep.settings
	w("Generated by `make bench-scale` (e2e/scale_test.go) on %s in %s: `%s`.\n\n", rep.started.UTC().Format("2006-01-02 15:04 MST"),
		rep.finished.Sub(rep.started).Round(time.Second), s.command())
	w("| | |\n|---|---|\n")
	w("| Machine | %d cores (%s), %s/%s; load average %s at the start, %s at the end |\n", runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH, rep.loadAvgStart, rep.loadAvgEnd)
	w("| Go | %s |\n| Vault | %s, %s, HTTP/1.1 keep-alive on 127.0.0.1, root token |\n", runtime.Version(), rep.vaultVersion, s.vaultKind())
	w("| Plugin | %s %s at `jawbone/`, against the fake Jawbone in the harness's process |\n", pluginName, rep.pluginVersion)
	w("| Grants | user-i, each of its own account, imported kept as is (access and refresh token, expires_at) from %d clients; one-year tokens whose expiries are spread uniformly over a year starting a day after the run started; config `refresh_ahead=0`, `check_interval=%s`, so that nothing falls due unless a phase below makes it |\n",
		s.fillClients, idleCheckInterval)
	w("| Sizes | %s, each filled from the one before; phases took: %s |\n", rep.sizesText(), rep.phasesText())
	if s.reference {
		w("| Reference | a second server of the same kind with the plugin, kept at %s grants filled the same way, its own fake; the latency rounds are taken on it beside each size's (see Latency) |\n", thousands(baseN))
	}
	w("\n")

	rep.writeTargets(w)
	rep.writeFill(w)
	rep.writeLatency(w)
	rep.writeReads(w)
	rep.writeTicks(w)
	rep.writeReload(w)
	return b.String()
}

func (rep *scaleReport) sizesText() string {
	parts := make([]string, len(rep.levels))
	for i, l := range rep.levels {
		parts[i] = thousands(l.n)
	}
	return strings.Join(parts, ", ")
}

func (rep *scaleReport) phasesText() string {
	parts := make([]string, len(rep.levels))
	for i, l := range rep.levels {
		parts[i] = fmt.Sprintf("N = %s %s (%s)", thousands(l.n), l.took.Round(time.Second), l.phaseTimes())
	}
	return strings.Join(parts, "; ")
}

// writeTargets is the issue's targets, judged where the run has the size
// they name.
func (rep *scaleReport) writeTargets(w func(string, ...any)) {
	base, mid, big := rep.level(baseN), rep.level(midN), rep.level(bigN)
	w("#### Targets\n\n| Target (issue) | Measured | |\n|---|---|---|\n")
	notRun := func(target string, sizes ...int) {
		var names []string
		for _, n := range sizes {
			names = append(names, "N = "+thousands(n))
		}
		w("| %s | not run (needs %s in SCALE_N) | – |\n", target, strings.Join(names, " and "))
	}
	for _, pass := range []struct {
		how       string
		collected bool
	}{{"as they came", false}, {"each round right after Vault's collection", true}} {
		flow := func(k string) func(*latencies) []time.Duration {
			return func(l *latencies) []time.Duration { return l.pass(pass.collected).flows[k] }
		}
		for _, k := range []string{"import", "exchange", "callback"} {
			target := fmt.Sprintf("%s p50 and p99 at N = 1,000,000 within %.1f× of N = 1,000, %s", k, latencyFactorTarget, pass.how)
			if big == nil || (base == nil && big.lat.ref == nil) {
				notRun(target, baseN, bigN)
				continue
			}
			text, met := latencyAgainst(base, big, flow(k))
			w("| %s | %s | %s |\n", target, text, verdict(met))
		}
		if big != nil && (base != nil || big.lat.ref != nil) {
			text, _ := latencyAgainst(base, big, flow("kv put"))
			w("| control, no target: a KV version 1 write (Vault alone) at N = 1,000,000 against N = 1,000, %s | %s | – |\n", pass.how, text)
		}
	}
	if big != nil {
		w("| idle plugin CPU at N = 1,000,000, nothing due, under 1 s a minute | %s a minute (%s over %d ticks in %s) | %s |\n",
			seconds(big.idle.perMinute()), seconds(big.idle.cpu), len(big.idle.ticks), big.idle.wall.Round(time.Second), verdict(big.idle.perMinute() < idleCPUTarget))
	} else {
		notRun("idle plugin CPU at N = 1,000,000 under 1 s a minute", bigN)
	}
	for _, c := range []struct {
		l      *scaleLevel
		n      int
		target float64
	}{{mid, midN, readRatioTargetMid}, {big, bigN, readRatioTargetBig}} {
		target := fmt.Sprintf("reads, random name / one name at N = %s (64 MiB cache) ≥ %.1f", thousands(c.n), c.target)
		if c.l == nil {
			notRun(target, c.n)
			continue
		}
		w("| %s | %.2f (rounds %s; CPU ratio %.2f) | %s |\n", target, c.l.reads.ratio(), fmtFloats(c.l.reads.roundRatios(), "%.2f"), c.l.reads.cpuRatio(), verdict(c.l.reads.ratio() >= c.target))
	}
	if big != nil {
		l50, l99 := p50p99(big.lat.sampled.flows["list"])
		s50, s99 := p50p99(big.lat.sampled.flows["status"])
		w("| `LIST creds/?limit=1000` at N = 1,000,000 under 100 ms (p99) | p50 %s, p99 %s | %s |\n", fmtLatency(l50), fmtLatency(l99), verdict(l99 < listStatusTarget))
		w("| `status` at N = 1,000,000 under 100 ms (p99) | p50 %s, p99 %s | %s |\n", fmtLatency(s50), fmtLatency(s99), verdict(s99 < listStatusTarget))
		med := median(big.reload.total)
		w("| first creds read after `plugin reload` at N = 1,000,000 under 200 ms (from the reload call; median of %d) | %s (reload call %s, then the read %s) | %s |\n",
			len(big.reload.total), fmtDurations(big.reload.total), fmtDurations(big.reload.call), fmtDurations(big.reload.firstRead), verdict(med < reloadFirstReadTarget))
		w("| plugin RSS at N = 1,000,000, 64 MiB cache, under 512 MiB | %s (Vault: %s) | %s |\n", mib(float64(big.rss.plugin)), mib(float64(big.rss.vault)), verdict(big.rss.plugin < pluginRSSTarget))
	} else {
		for _, target := range []string{"LIST first page and status under 100 ms", "first creds read after plugin reload under 200 ms", "plugin RSS under 512 MiB"} {
			notRun(target+" at N = 1,000,000", bigN)
		}
	}
	w("\n")
}

// latencyAgainst compares big's samples (pick) with the reference's taken
// in the same rounds, which the verdict goes by, and with the N = 1,000
// level's, taken earlier (either may be missing).
func latencyAgainst(base, big *scaleLevel, pick func(*latencies) []time.Duration) (text string, met bool) {
	type against struct {
		what string
		lat  *latencies
	}
	var bases []against
	if big.lat.ref != nil {
		bases = append(bases, against{"the reference in the same rounds", big.lat.ref})
	}
	if base != nil {
		bases = append(bases, against{"the N = 1,000 level", base.lat})
	}
	parts := make([]string, len(bases))
	for i, b := range bases {
		g, r50, r99 := growth(pick(b.lat), pick(big.lat))
		parts[i] = "against " + b.what + ": " + g
		if i == 0 {
			met = r50 <= latencyFactorTarget && r99 <= latencyFactorTarget
		}
	}
	return strings.Join(parts, "; "), met
}

// growth is p50 and p99 of base → big, and the factor of each.
func growth(base, big []time.Duration) (text string, r50, r99 float64) {
	b50, b99 := p50p99(base)
	g50, g99 := p50p99(big)
	r50, r99 = float64(g50)/float64(b50), float64(g99)/float64(b99)
	return fmt.Sprintf("p50 %s → %s (×%.2f), p99 %s → %s (×%.2f)", fmtLatency(b50), fmtLatency(g50), r50, fmtLatency(b99), fmtLatency(g99), r99), r50, r99
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

func (rep *scaleReport) writeFill(w func(string, ...any)) {
	w("#### Fill\n\nImports kept as is, each its own account, from %d keep-alive clients; each import asks the fake for its token's account once. CPU per import is each process's utime+stime over the fill, divided by the imports (the harness's includes the fake).\n\n", rep.settings.fillClients)
	w("| N | imported | took | imports/s | Vault CPU/import | plugin CPU/import | harness CPU/import |\n|--:|---|--:|--:|--:|--:|--:|\n")
	for _, l := range rep.levels {
		f := l.fill
		w("| %s | %s–%s | %s | %.0f | %s | %s | %s |\n", thousands(l.n), thousands(f.from+1), thousands(f.to), f.took.Round(time.Second), f.rate(),
			micros(f.cpuVault), micros(f.cpuPlugin), micros(f.cpuHarness))
	}
	w("\nThe rate for each chunk of the fill (up to %s imports; it used to fall as the mount grew):\n\n| grants | took | imports/s |\n|---|--:|--:|\n", thousands(fillChunk))
	for _, l := range rep.levels {
		for _, c := range l.fill.chunks {
			w("| %s–%s | %s | %.0f |\n", thousands(c.from+1), thousands(c.to), c.took.Round(time.Second), c.rate())
		}
	}
	w("\n")
}

func (rep *scaleReport) writeLatency(w func(string, ...any)) {
	w("#### Latency\n\np50 / p99 of %d requests each, one at a time, on a quiet mount (after the fill, the harness waits until Vault and the plugin use under a tenth of a core: the *settle* phase under Sizes), taken in %d rounds (in each, a block of each flow in turn): an import of a new name (kept as is: one account check at the fake), an exchange and a callback (each after its own `auth-url` and the fake's consent; the time is the exchange write, or the callback GET without a token), each of a new account, all deleted again afterwards; a write of a new key to a KV version 1 mount beside the plugin's (`kv-control/`: Vault's own cost of a write request, with no plugin, the control); `LIST creds/?list=true&limit=1000` and `status`. The unpaginated LIST: median (min–max) of %d.\n\n",
		rep.settings.samples, latencyRounds, rep.settings.listAllRuns)
	w("The flows are sampled twice. First **as they came**. Then **after Vault's collection**: before each round the harness has Vault's runtime collect its heap to the end (`sys/pprof/heap?gc=1`, Go's `runtime.GC`). On `vault server -dev` the whole storage is Vault's heap (gigabytes at a million grants), which Go marks at least every two minutes, for several CPU-seconds each time; the storage of a production server is a file. After a collection Go starts the next one when the heap has doubled: at a million grants that is gigabytes of allocation away, more than a round makes, so none falls within a round; at a thousand it is a few MiB, and Vault still collects, cheaply, several times a round. After each collection it asked for, the harness waits until Vault and the plugin together use under a tenth of a core over %s (*quiet after the collection*: median (min–max) of the waits), so that a round times requests and not the collection's wake. The plugin's collector is left alone in both. *Vault's collections* is how many Vault's runtime completed during the rounds (its heap profile's `NumGC`, not counting the ones the harness asked for). *CPU a request* is the utime+stime each process used during the rounds, over the timed requests (an exchange's and a callback's own `auth-url` and consent included).\n\n", afterCollectionWindow)
	if rep.settings.reference {
		w("**The reference** (rows in parentheses): a second Vault of the same kind, with its own plugin process and its own fake, whose mount holds %s grants throughout. Every round of both passes is also taken on it, right beside the same round at N, in turns (the reference first in every other round). The targets compare N = 1,000,000 with it: the same minutes on the same machine, where N is all that differs. The N = 1,000 level, measured when the run began, is compared as well; on two cores the tails taken an hour apart moved with what else the machine was doing.\n\n", thousands(baseN))
	}
	w("| N | | import | exchange | callback | KV put (control) | Vault's collections | CPU a request: Vault, plugin | quiet after the collection |\n|--:|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, l := range rep.levels {
		writeLatencyRows(w, thousands(l.n), "", l.lat)
		if l.lat.ref != nil {
			writeLatencyRows(w, "("+thousands(baseN)+")", "reference, ", l.lat.ref)
		}
	}
	w("\n| N | LIST first page | status | unpaginated LIST |\n|--:|--:|--:|--:|\n")
	for _, l := range rep.levels {
		w("| %s | %s | %s | %s |\n", thousands(l.n), fmtP50P99(l.lat.sampled.flows["list"]), fmtP50P99(l.lat.sampled.flows["status"]), fmtDurations(l.lat.listAll))
	}
	w("\n")
}

// writeLatencyRows writes the rows of l's two passes, as N n, each pass
// named after prefix.
func writeLatencyRows(w func(string, ...any), n, prefix string, l *latencies) {
	for _, pass := range []struct {
		how       string
		collected bool
	}{{"as they came", false}, {"after Vault's collection", true}} {
		p := l.pass(pass.collected)
		vault, plugin := p.cpuPerRequest()
		quiet := "–"
		if pass.collected {
			quiet = fmtDurations(p.quietAfter)
		}
		w("| %s | %s%s | %s | %s | %s | %s | %d | %s, %s | %s |\n", n, prefix, pass.how, fmtP50P99(p.flows["import"]), fmtP50P99(p.flows["exchange"]),
			fmtP50P99(p.flows["callback"]), fmtP50P99(p.flows["kv put"]), p.gcs, micros(vault), micros(plugin), quiet)
	}
}

func (rep *scaleReport) writeReads(w func(string, ...any)) {
	s := rep.settings
	w("#### Reads: a random name against one name\n\n%d clients read `jawbone/creds/user-0000001` (one name) or a uniformly random user-i (random), %s each, in %d interleaved rounds after a 200 ms warm-up each, once the cache was warmed by reading names in order (as many as it holds); every reply is checked for the grant's token. CPU per read is each process's utime+stime over the rounds (warm-ups included), divided by the reads (*all*: the plugin, Vault and the readers); *Vault's collections* are those its runtime completed during the rounds (its heap profile's `NumGC`); the CPU ratio is one name's CPU time per read over a random name's, all processes counted (plugin, Vault, readers): what random/one would be on a quiet machine. Cache entries and bytes are status's `cache_entries` and `cache_bytes` after the rounds; RSS is the plugin's VmRSS then.\n\n",
		s.readClients, s.readDuration, s.readRounds)
	w("| N | cache_size | warmed | one name ops/s | random ops/s | random/one | per round | CPU ratio | p50 one / random | p99 one / random | plugin CPU/read one / random | Vault CPU/read one / random | all CPU/read one / random | Vault's collections one / random | cache entries | cache bytes | plugin RSS |\n|--:|---|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, l := range rep.levels {
		for _, rr := range []*readResult{l.reads, l.big} {
			if rr == nil {
				continue
			}
			o50, o99 := p50p99(rr.one.lats)
			r50, r99 := p50p99(rr.random.lats)
			w("| %s | %s | %s | %.0f | %.0f | %.2f | %s | %.2f | %s / %s | %s / %s | %s / %s | %s / %s | %s / %s | %d / %d | %s | %s | %s |\n", thousands(l.n), rr.cache, thousands(rr.warmed),
				rr.one.opsPerSec(), rr.random.opsPerSec(), rr.ratio(), fmtFloats(rr.roundRatios(), "%.2f"), rr.cpuRatio(), fmtLatency(o50), fmtLatency(r50), fmtLatency(o99), fmtLatency(r99),
				micros(rr.one.pluginCPUPerOp()), micros(rr.random.pluginCPUPerOp()), micros(rr.one.vaultCPUPerOp()), micros(rr.random.vaultCPUPerOp()),
				micros(rr.one.cpuPerOp()), micros(rr.random.cpuPerOp()), rr.one.vaultGCs, rr.random.vaultGCs,
				thousands(int(rr.cacheEntries)), mib(rr.cacheBytes), mib(float64(rr.pluginRSS)))
		}
	}
	w("\nMemory after the reads with the default cache:\n\n| N | plugin RSS | Vault RSS |\n|--:|--:|--:|\n")
	for _, l := range rep.levels {
		w("| %s | %s | %s |\n", thousands(l.n), mib(float64(l.rss.plugin)), mib(float64(l.rss.vault)))
	}
	for _, l := range rep.levels {
		if l.tuneNote != "" {
			w("\nAt N = %s: %s.\n", thousands(l.n), l.tuneNote)
		}
	}
	w("\n")
}

func (rep *scaleReport) writeTicks(w func(string, ...any)) {
	w("#### The background tick\n\nThe plugin's CPU time (utime+stime) over whole rollback ticks: each window starts just after a tick ended (status `background_scan_timestamp_seconds`) and ends just after its last tick ended; status is polled from 5 s before each tick is due, once a second. *Attended* is each tick's `background_tick_attended`; *expected* is the harness's count of grants whose refresh window had opened by the tick's start (plus, in the burst, the grants it imported due). Phases: **idle**, nothing due (`refresh_ahead=0`); **reorder**, the first tick after `refresh_ahead` was set to the time left until the earliest expiry not yet refreshed (the tick orders the whole schedule again for the new setting); **spread**, the ticks after it, as expiries come (a year's worth spread uniformly: N/525,600 a minute); **burst**, the tick after %d grants due at once were imported (then deleted).\n\n", rep.settings.burst)
	w("| N | phase | refresh_ahead | ticks | attended per tick | attended / expected | token-URL calls | wall | plugin CPU | plugin CPU a minute | Vault CPU | tick duration (status) |\n|--:|---|--:|--:|---|--:|--:|--:|--:|--:|--:|---|\n")
	for _, l := range rep.levels {
		for _, p := range []struct {
			name string
			w    *tickWindow
		}{{"idle", l.idle}, {"reorder", l.reorder}, {"spread", l.spread}, {"burst", l.burst}} {
			if p.w == nil {
				continue
			}
			sum, list := p.w.attended()
			durs := make([]string, len(p.w.ticks))
			for i, tk := range p.w.ticks {
				durs[i] = fmtLatency(tk.took)
			}
			w("| %s | %s | %s | %d | %s | %d / %d | %d | %s | %s | %s | %s | %s |\n", thousands(l.n), p.name, p.w.refreshAhead, len(p.w.ticks), strings.Join(list, ", "),
				sum, p.w.expected(), p.w.tokenCalls, p.w.wall.Round(time.Second), seconds(p.w.cpu), seconds(p.w.perMinute()), seconds(p.w.vaultCPU), strings.Join(durs, ", "))
		}
	}
	w("\n")
}

func (rep *scaleReport) writeReload(w func(string, ...any)) {
	w("#### Plugin reload\n\n`PUT sys/plugins/reload/backend plugin=%s` (the API: the 1.21.1 CLI's `plugin reload -mounts` is broken), %d times, each to the first successful read of `creds/user-0000001`: median (min–max). After the last, status is polled once a second until the schedule is loaded (`creds_schedule_loaded` 1, `creds_schedule_load_remaining` 0): the load begins at the next rollback tick; a LIST page is timed while it loads (served from storage until then).\n\n",
		pluginName, rep.settings.reloads)
	w("| N | reload → first read | reload call | first read after it | new process | load began after | schedule loaded after | plugin CPU of the load | LIST page during the load |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, l := range rep.levels {
		rl := l.reload
		list := "– (loaded before a poll saw it)"
		if rl.listedDuringLoad {
			list = fmtLatency(rl.listDuringLoad)
		}
		w("| %s | %s | %s | %s | %d of %d | %s | %s | %s | %s |\n", thousands(l.n), fmtDurations(rl.total), fmtDurations(rl.call), fmtDurations(rl.firstRead),
			rl.newProcess, len(rl.total), rl.loadStarted.Round(time.Second), rl.loaded.Round(time.Second), seconds(rl.loadCPU), list)
	}
	w("\n")
}
