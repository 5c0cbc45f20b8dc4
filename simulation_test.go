package jawbone

// A deterministic simulation of the grant lifecycle under faults and
// concurrency. A seeded scheduler runs several workers, each a client
// making requests (reads, forced refreshes, imports of the same grant,
// another grant or another account's, exchanges, callbacks, deletes,
// revokes) or playing the world (background ticks, config writes, time
// passing, a late request landing, another client refreshing a grant, a
// person disconnecting the app, a crash, a standby joining, a failover).
// One worker runs at a time, and the baton passes at every storage
// operation, every call to Jawbone and every wait for a lock, in an order
// the seed decides: so the workers' requests interleave inside the plugin,
// and a seed replays exactly.
//
// The backends are one or two nodes (an active one and a performance
// standby) sharing one storage, against the fake Jawbone behind a
// simulated network that loses, delays, garbles and gateways requests: a
// request that times out on our side may still be carried out at Jawbone a
// few steps later, and a gateway may answer 502 while Jawbone carries on.
// Storage fails on demand, and a node may crash in the middle of a
// request. After every request, and after every step, the invariants are
// checked:
//
//   - a reply that hands out an access token without a warning hands out
//     one that Jawbone had not retired when the request began;
//   - no two names hold one grant;
//   - a refresh token a write acknowledged is never lost except by a
//     delete or a revoke that may have come after it, and a stored one is
//     always one the name was given;
//   - at most one call that can replace a grant's access token is in flight
//     at Jawbone at a time;
//   - needs_reauthorization only follows an invalid_grant from Jawbone;
//   - every node reads what storage holds, the storage indexes hold every
//     stored grant, and the active node's schedule holds each as stored;
//   - no reply is a 500 but for a storage failure or a crash.
//
// A failing schedule prints its seed: replay it with
//
//	go test -run TestSimulatedFaultSchedules -sim.seed=<seed> -v .

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// simDefaultSteps is how many steps a worker takes in a schedule.
const simDefaultSteps = 40

var (
	simSchedules = flag.Int("sim.schedules", 200, "how many seeded fault schedules TestSimulatedFaultSchedules runs")
	simSteps     = flag.Int("sim.steps", simDefaultSteps, "steps per worker in a schedule")
	simWorkers   = flag.Int("sim.workers", 0, "workers per schedule (0: 1 to 4, as the seed picks)")
	simSeed      = flag.Uint64("sim.seed", 0, "run only the schedule of this seed (and log every step)")
	simFirstSeed = flag.Uint64("sim.first", 1, "the seed of the first schedule")
	simKeepGoing = flag.Bool("sim.keepgoing", false, "go on after a schedule that broke an invariant, and list every failing seed at the end (a long search)")
)

func TestSimulatedFaultSchedules(t *testing.T) {
	t.Parallel()
	seeds := []uint64{*simSeed}
	if *simSeed == 0 {
		seeds = seeds[:0]
		for i := range uint64(*simSchedules) {
			seeds = append(seeds, *simFirstSeed+i)
		}
	}
	started, concurrent := time.Now(), 0
	var failed []uint64
	for _, seed := range seeds {
		w := newSimWorld(t, seed, *simSeed != 0)
		if w.workers > 1 {
			concurrent++
		}
		err := w.run(*simSteps)
		switch {
		case err == nil:
		case *simKeepGoing:
			failed = append(failed, seed)
			t.Errorf("schedule with seed %d (%d workers) broke an invariant: %v (replay it with: go test -run TestSimulatedFaultSchedules -sim.seed=%d -v .)", seed, w.workers, err, seed)
		default:
			t.Fatalf("schedule with seed %d (%d workers) broke an invariant: %v\n\nreplay it with: go test -run TestSimulatedFaultSchedules -sim.seed=%d -v .\n\nsteps:\n%s",
				seed, w.workers, err, seed, strings.Join(w.trace, "\n"))
		}
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d schedules failed, seeds %v", len(failed), len(seeds), failed)
	}
	t.Logf("%d schedules (%d of them concurrent) of %d steps a worker in %s", len(seeds), concurrent, *simSteps, time.Since(started).Round(time.Millisecond))
}

// simFoundSeeds are schedules that long searches (make sim with
// SIM_SCHEDULES=100000 and -sim.keepgoing) found broken, each fixed since,
// with what was wrong: every make test runs them again.
var simFoundSeeds = []struct {
	seed  uint64
	found string
}{
	{17440, "a disconnect in doubt was forgotten by the node that took over"},
	{26386, "an exchange that stored twice, under two accounts, held the first account's lock while it waited for the second's, which a revoke held while it waited for the first (a deadlock)"},
	{49331, "an access token imported as is while Jawbone's check of it got no clear answer (a captive portal) was handed out by later reads without a warning, though it was dead already"},
}

func TestSimulatedSchedulesFoundByLongSearches(t *testing.T) {
	t.Parallel()
	for _, f := range simFoundSeeds {
		w := newSimWorld(t, f.seed, false)
		if err := w.run(simDefaultSteps); err != nil {
			t.Errorf("schedule with seed %d (%s) broke an invariant again: %v (replay it with: go test -run TestSimulatedFaultSchedules -sim.seed=%d -v .)", f.seed, f.found, err, f.seed)
		}
	}
}

const (
	simRedirectURI = "https://app.example/callback"
	// simCallbackURI is the mount's callback: half the schedules (odd
	// seeds) complete authorizations there, the others by exchange.
	simCallbackURI = "https://vault.test/v1/" + simMount + callbackPath
	simJawbone     = "https://jawbone.test"
	simMount       = "jawbone/"
)

// The names, and the accounts their grants are of: some names share one.
var (
	simNames    = []string{"me", "alice", "bob"}
	simAccounts = []string{"acct-one", "acct-two"}
)

// simWorld is one schedule: the fake, the network, the storage and the
// nodes, and the model the invariants are checked against.
type simWorld struct {
	t       *testing.T
	rng     *rand.Rand
	verbose bool
	trace   []string
	workers int
	sched   *simSched

	clock   *fakejawbone.ManualClock
	fake    *fakejawbone.Server
	net     *simNet
	storage *simStorage
	nodes   []*simNode // nodes[0] is active; a second one is a standby
	timeout time.Duration
	// lifetime is how long the fake's access tokens live.
	lifetime time.Duration

	// given[name] is every refresh token name was ever given; writes[name]
	// the last acknowledged write of a grant, and deletes[name] when the
	// last delete or revoke of name ended (in steps): a grant is lost only
	// if it is gone with no delete after its write began.
	given   map[string][]string
	writes  map[string]simWrite
	deletes map[string]int
	// busy[name] counts the requests that may change name's grant in flight.
	busy map[string]int
	// rejected are the refresh tokens Jawbone answered invalid_grant for.
	rejected map[string]bool
	// codeFor is the name each authorization code was issued for.
	codeFor map[string]string
	step    int
}

// simWrite is an acknowledged write of a grant: its refresh token, and the
// step its request began at.
type simWrite struct {
	refresh string
	began   int
}

// simNode is one node's backend.
type simNode struct {
	b       *backend
	view    logical.Storage
	sys     *simSystemView
	crashed atomic.Bool
}

func newSimWorld(t *testing.T, seed uint64, verbose bool) *simWorld {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	clock := fakejawbone.NewManualClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	lifetime := []time.Duration{fakejawbone.DefaultTokenLifetime, time.Hour, 10 * time.Minute, 40 * time.Second}[rng.IntN(4)]
	// Odd seeds complete authorizations at the mount's callback, even ones
	// by pasting into exchange (a state completes only its own way).
	redirectURI := []string{simRedirectURI, simCallbackURI}[seed%2]
	fake := fakejawbone.New(fakejawbone.Config{
		ClientID: testClientID, ClientSecret: testClientSecret, RedirectURIPrefix: redirectURI,
		Now: clock.Now, Random: rand.NewChaCha8(seedBytes(seed)), AccountXID: simAccounts[0], TokenLifetime: lifetime,
	})
	w := &simWorld{
		t: t, rng: rng, verbose: verbose, clock: clock, fake: fake, lifetime: lifetime,
		given: map[string][]string{}, writes: map[string]simWrite{}, deletes: map[string]int{},
		busy: map[string]int{}, rejected: map[string]bool{}, codeFor: map[string]string{},
	}
	w.workers = *simWorkers
	if w.workers == 0 {
		w.workers = 1 + rng.IntN(4)
	}
	w.sched = &simSched{w: w}
	w.net = &simNet{w: w, inFlight: map[string]int{}}
	w.storage = &simStorage{w: w, inmem: &logical.InmemStorage{}, plans: map[int]*storagePlan{}}
	w.nodes = []*simNode{w.newNode(false)}
	w.timeout = 30 * time.Second
	resp, err := w.handle(w.active(), logical.UpdateOperation, "config", map[string]any{
		keyClientID: testClientID, keyClientSecret: testClientSecret, keyRedirectURI: redirectURI,
		keyAuthURL: fakejawbone.AuthURL(simJawbone), keyTokenURL: fakejawbone.TokenURL(simJawbone), keyAPIURL: fakejawbone.APIURL(simJawbone),
		keyRefreshAhead: []int{0, 60, 7 * 24 * 3600}[rng.IntN(3)], keyRequestTimeout: int(w.timeout.Seconds()),
		keyCheckInterval: []int{60, 3600}[rng.IntN(2)],
	})
	if err != nil || resp.IsError() {
		t.Fatalf("configuring: %v %v", err, resp)
	}
	return w
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	for i := range 4 {
		v := seed*uint64(2*i+1) + 0x51ed
		for j := range 8 {
			b[i*8+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func (w *simWorld) newNode(standby bool) *simNode {
	n := &simNode{sys: &simSystemView{StaticSystemView: logical.StaticSystemView{}}}
	n.sys.standby.Store(standby)
	n.view = &nodeStorage{w: w, n: n}
	conf := &logical.BackendConfig{
		StorageView: n.view,
		Logger:      hclog.NewNullLogger(),
		System:      n.sys,
		Config:      map[string]string{},
	}
	b := newBackend(defaultCacheBytes)
	b.now = w.clock.Now
	b.jitter = func() time.Duration { return 0 }
	b.scanWorkers = 1
	b.transport = nodeTransport{net: w.net, n: n}
	// Every caller attends for itself, and waits for a lock by yielding:
	// the scheduler sees every wait.
	b.share = func(_ string, attend func() attended) attended { return attend() }
	b.registry.spawn = func(load func()) { load() }
	for _, l := range []*keyLocks{&b.registry.names, &b.registry.grants, &b.registry.accounts, &b.registry.keys.lock, &b.registry.disconnects.write, &b.states.spending, &b.states.issuing, &b.configLock} {
		l.wait = w.sched.waitForLock
	}
	if err := b.Setup(context.Background(), conf); err != nil {
		w.t.Fatalf("backend setup: %v", err)
	}
	n.b = b
	if !standby {
		w.initialize(n)
	}
	return n
}

// initialize loads a node's schedule as Vault's set-up of the mount starts
// it where storage is writable, here at once (a crash may cut it short:
// the next start loads again).
func (w *simWorld) initialize(n *simNode) {
	n.b.registry.load.started.Store(true)
	if err := n.b.registry.loadAll(context.Background(), n.view); err != nil {
		w.logf("  loading the schedule failed: %v", err)
		n.b.registry.load.started.Store(false)
	}
}

func (w *simWorld) logf(format string, args ...any) {
	line := fmt.Sprintf("%4d w%d %s  ", len(w.trace), w.sched.current, w.clock.Now().Format("2006-01-02 15:04:05")) + fmt.Sprintf(format, args...)
	w.trace = append(w.trace, line)
	if w.verbose {
		w.t.Log(line)
	}
}

// --- the scheduler ------------------------------------------------------------

// simSched runs the workers one at a time: it hands the baton to one,
// chosen by the seed, and waits for it to come back (the worker yields, at
// a storage operation, a call to Jawbone or a wait for a lock, or ends).
// Outside run, yield does nothing: set-up and checks run straight through.
type simSched struct {
	w       *simWorld
	running bool
	current int // the worker holding the baton
	waits   int // lock waits in a row
	// deadlock is set when a worker gave up waiting for a lock.
	deadlock string
	wake     []chan struct{}
	back     chan struct{}
	done     []bool
}

func (s *simSched) run(workers []func()) {
	s.running, s.back = true, make(chan struct{})
	s.wake, s.done = make([]chan struct{}, len(workers)), make([]bool, len(workers))
	for i, work := range workers {
		s.wake[i] = make(chan struct{})
		go func() {
			<-s.wake[i]
			defer func() {
				// A deadlocked worker unwinds (its deferred unlocks run) and
				// the schedule fails; the others finish their step.
				if r := recover(); r != nil {
					d, ok := r.(simDeadlock)
					if !ok {
						panic(r)
					}
					s.deadlock = cmp.Or(s.deadlock, string(d))
				}
				s.done[i] = true
				s.back <- struct{}{}
			}()
			work()
		}()
	}
	for {
		var live []int
		for i, d := range s.done {
			if !d {
				live = append(live, i)
			}
		}
		if len(live) == 0 {
			break
		}
		s.current = live[s.w.rng.IntN(len(live))]
		s.wake[s.current] <- struct{}{}
		<-s.back
	}
	s.running, s.current = false, 0
}

// simDeadlock is what a worker that waited for a lock too long panics
// with, to unwind.
type simDeadlock string

// maxLockWaits bounds how often a worker finds a lock held in a row: a
// deadlock would otherwise spin for ever.
const maxLockWaits = 100_000

// waitForLock is a worker's wait for a lock another holds: it yields.
func (s *simSched) waitForLock() {
	if !s.running {
		panic("a lock is held outside the schedule")
	}
	if s.waits++; s.waits > maxLockWaits {
		panic(simDeadlock(fmt.Sprintf("deadlock: a worker waited for a lock %d times in a row", s.waits)))
	}
	s.yield()
}

// yield gives the baton back and waits for it.
func (s *simSched) yield() {
	if !s.running {
		return
	}
	me := s.current
	s.back <- struct{}{}
	<-s.wake[me]
}

// progressed resets the count of lock waits: something else happened.
func (s *simSched) progressed() { s.waits = 0 }

// quietKey marks a context whose storage operations do not yield: the
// invariant checks read storage in one go.
type quietKey struct{}

func quiet() context.Context { return context.WithValue(context.Background(), quietKey{}, true) }

func (s *simSched) yieldFor(ctx context.Context) {
	if ctx.Value(quietKey{}) == nil {
		s.progressed()
		s.yield()
	}
}

// --- the schedule -------------------------------------------------------------

// simOp is one kind of step and its weight in a schedule.
type simOp struct {
	name   string
	weight int
	run    func(w *simWorld) error
}

var simOps = []simOp{
	{"read", 24, (*simWorld).opRead},
	{"forced refresh", 7, (*simWorld).opForce},
	{"background tick", 9, (*simWorld).opTick},
	{"re-import the stored grant", 4, (*simWorld).opReimport},
	{"import another grant", 4, (*simWorld).opImportNew},
	{"import an access token", 3, (*simWorld).opImportAccess},
	{"import another name's grant", 2, (*simWorld).opImportOthers},
	{"import another account's grant, replacing", 2, (*simWorld).opImportReplacing},
	{"exchange", 5, (*simWorld).opExchange},
	{"callback", 4, (*simWorld).opCallback},
	{"delete", 2, (*simWorld).opDelete},
	{"revoke", 2, (*simWorld).opRevoke},
	{"config write", 2, (*simWorld).opConfig},
	{"time passes", 13, (*simWorld).opAdvance},
	{"a late request lands", 6, (*simWorld).opLand},
	{"another client refreshes a grant", 2, (*simWorld).opRefreshOutside},
	{"a person disconnects the app", 1, (*simWorld).opDisconnectOutside},
	{"crash and restart", 2, (*simWorld).opCrash},
	{"standby joins", 2, (*simWorld).opAddStandby},
	{"failover", 2, (*simWorld).opFailover},
}

// run runs the workers, each for steps steps, interleaved by the seed.
func (w *simWorld) run(steps int) error {
	total := 0
	for _, op := range simOps {
		total += op.weight
	}
	var failure error
	worker := func() {
		for range steps {
			if failure != nil || w.sched.deadlock != "" {
				return
			}
			pick := w.rng.IntN(total)
			for _, op := range simOps {
				if pick -= op.weight; pick < 0 {
					w.step++
					if err := op.run(w); err != nil {
						failure = fmt.Errorf("%s: %w", op.name, err)
						return
					}
					break
				}
			}
			if w.verbose {
				w.logState()
			}
			if err := w.checkInvariants(); err != nil {
				failure = err
				return
			}
		}
	}
	workers := make([]func(), w.workers)
	for i := range workers {
		workers[i] = worker
	}
	w.sched.run(workers)
	if w.verbose {
		w.logState()
	}
	if failure == nil && w.sched.deadlock != "" {
		failure = errors.New(w.sched.deadlock)
	}
	return failure
}

// logState shows what storage holds, for replaying a seed.
func (w *simWorld) logState() {
	for _, name := range simNames {
		if g := w.storedGrant(name); g != nil {
			w.logf("      %s (%s): token ...%s (accepted %v) expires %s, attempt %s lands %s, checked %s, next attempt %s, reauth %v",
				name, g.AccountXID, tail(g.AccessToken), w.fake.TokenValid(g.AccessToken), g.ExpiresAt.Format(time.DateTime),
				g.AttemptStartedAt.Format(time.TimeOnly), g.AttemptLandsBy.Format(time.TimeOnly),
				g.CheckedAt.Format(time.TimeOnly), g.NextAttemptAt.Format(time.TimeOnly), g.NeedsReauth)
		}
	}
}

func tail(s string) string { return s[max(len(s)-6, 0):] }

func (w *simWorld) name() string { return simNames[w.rng.IntN(len(simNames))] }

func (w *simWorld) account() string { return simAccounts[w.rng.IntN(len(simAccounts))] }

func (w *simWorld) active() *simNode { return w.nodes[0] }

// anyNode is the node a client happens to reach.
func (w *simWorld) anyNode() *simNode { return w.nodes[w.rng.IntN(len(w.nodes))] }

// simRequest is one request as a client makes it, and what it saw.
type simRequest struct {
	op        logical.Operation
	path      string
	data      map[string]any
	forwarded bool
	// epoch and began are the fake's count of retired tokens and the time
	// when the request began.
	epoch uint64
	began time.Time
	resp  *logical.Response
	err   error
	// replied: the reply reached the client (the node did not crash).
	replied bool
}

// do runs a request the way Vault would: a forwarded write goes to the
// active node, and a request that answers ErrReadOnly is forwarded there.
// A storage fault or a crash planned for this request fails one of its
// storage operations; after a crash its reply is lost.
func (w *simWorld) do(n *simNode, r *simRequest) *simRequest {
	if r.forwarded && n.sys.standby.Load() {
		n = w.active()
	}
	r.epoch, r.began = w.fake.Epoch(), w.clock.Now()
	w.planStorageFaults(n)
	r.resp, r.err = w.handle(n, r.op, r.path, r.data)
	if errors.Is(r.err, logical.ErrReadOnly) && n != w.active() {
		w.logf("  forwarded to the active node")
		n = w.active()
		r.resp, r.err = w.handle(n, r.op, r.path, r.data)
	}
	delete(w.storage.plans, w.sched.current)
	if n.crashed.Load() {
		w.logf("  the node crashed mid-request; starting it again")
		w.replace(n)
		return r
	}
	r.replied = true
	return r
}

func (w *simWorld) handle(n *simNode, op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	return n.b.HandleRequest(context.Background(), &logical.Request{
		Operation: op, Path: path, Data: data, Storage: n.view, MountPoint: simMount,
	})
}

// planStorageFaults sometimes fails a write or a read of the next request,
// and sometimes crashes the node at one of its writes.
func (w *simWorld) planStorageFaults(n *simNode) {
	plan := &storagePlan{}
	switch r := w.rng.IntN(100); {
	case r < 4:
		plan.failPutAt = 1 + w.rng.IntN(3)
		w.logf("  storage: put #%d fails", plan.failPutAt)
	case r < 6:
		plan.failGets = true
		w.logf("  storage: reads fail")
	case r < 9 && n == w.active():
		plan.crashAtPut, plan.crashing = 1+w.rng.IntN(3), n
		w.logf("  the node will crash at put #%d", plan.crashAtPut)
	}
	w.storage.plans[w.sched.current] = plan
}

// --- steps ------------------------------------------------------------------

// request makes a request on name's behalf (marking name busy while it is
// in flight if it may change its grant).
func (w *simWorld) request(name string, changes bool, n *simNode, r *simRequest) *simRequest {
	if changes {
		w.busy[name]++
		defer func() { w.busy[name]-- }()
	}
	return w.do(n, r)
}

func (w *simWorld) opRead() error {
	name := w.name()
	r := w.request(name, false, w.anyNode(), &simRequest{op: logical.ReadOperation, path: "creds/" + name})
	w.logf("read %s: %s", name, describeReply(r))
	return w.requireWorkingToken(name, r)
}

func (w *simWorld) opForce() error {
	name := w.name()
	r := w.request(name, false, w.anyNode(), &simRequest{op: logical.UpdateOperation, path: "creds/" + name + "/refresh", forwarded: true})
	w.logf("forced refresh of %s: %s", name, describeReply(r))
	return w.requireWorkingToken(name, r)
}

func (w *simWorld) opTick() error {
	n := w.anyNode()
	if n.sys.standby.Load() {
		return nil // Vault runs the periodic function where storage is writable
	}
	w.planStorageFaults(n)
	err := n.b.periodic(context.Background(), &logical.Request{Storage: n.view, MountPoint: simMount})
	delete(w.storage.plans, w.sched.current)
	w.logf("background tick: %v", err)
	if n.crashed.Load() {
		w.replace(n)
	}
	return nil
}

func (w *simWorld) opReimport() error {
	name := w.name()
	refresh := w.writes[name].refresh
	if refresh == "" {
		return nil
	}
	return w.importGrant(name, map[string]any{keyRefreshToken: refresh}, refresh)
}

func (w *simWorld) opImportNew() error {
	name := w.name()
	_, refresh := w.fake.IssueTokensFor(w.account(), nil)
	return w.importGrant(name, map[string]any{keyRefreshToken: refresh}, refresh)
}

func (w *simWorld) opImportAccess() error {
	name := w.name()
	access, refresh := w.fake.IssueTokensFor(w.account(), nil)
	data := map[string]any{keyAccessToken: access}
	if w.rng.IntN(2) == 0 { // kept as is
		data[keyRefreshToken], data[keyExpiresAt] = refresh, w.clock.Now().Add(w.lifetime).Format(time.RFC3339)
	}
	return w.importGrant(name, data, refresh)
}

// opImportOthers imports the grant another name holds: it must be refused
// (the invariants check that no two names end up holding it).
func (w *simWorld) opImportOthers() error {
	name := w.name()
	other := simNames[(slices.Index(simNames, name)+1+w.rng.IntN(len(simNames)-1))%len(simNames)]
	refresh := w.writes[other].refresh
	if refresh == "" {
		return nil
	}
	w.give(name, refresh)
	return w.importGrant(name, map[string]any{keyRefreshToken: refresh}, refresh)
}

func (w *simWorld) opImportReplacing() error {
	name := w.name()
	_, refresh := w.fake.IssueTokensFor(w.account(), nil)
	return w.importGrant(name, map[string]any{keyRefreshToken: refresh, keyReplace: true}, refresh)
}

func (w *simWorld) importGrant(name string, data map[string]any, refresh string) error {
	w.give(name, refresh)
	began := w.step
	r := w.request(name, true, w.anyNode(), &simRequest{op: logical.UpdateOperation, path: "creds/" + name, data: data, forwarded: true})
	w.logf("import into %s (grant ...%s): %s", name, tail(refresh), describeReply(r))
	if r.replied && r.err == nil && !r.resp.IsError() {
		w.wrote(name, refresh, began)
	}
	return w.requireWorkingToken(name, r)
}

func (w *simWorld) wrote(name, refresh string, began int) {
	if last, ok := w.writes[name]; !ok || last.began <= began {
		w.writes[name] = simWrite{refresh: refresh, began: began}
	}
}

func (w *simWorld) opExchange() error {
	name, landed, ok := w.authorize()
	if !ok {
		return nil
	}
	began := w.step
	r := w.request(name, true, w.anyNode(), &simRequest{op: logical.UpdateOperation, path: "exchange", data: map[string]any{keyRedirectURL: landed}, forwarded: true})
	w.logf("exchange for %s: %s", name, describeReply(r))
	return w.afterAuthorization(name, began, r.replied && r.err == nil && !r.resp.IsError())
}

func (w *simWorld) opCallback() error {
	name, landed, ok := w.authorize()
	if !ok {
		return nil
	}
	u, _ := url.Parse(landed)
	data := map[string]any{}
	for k, v := range u.Query() {
		data[k] = v[0]
	}
	began := w.step
	r := w.request(name, true, w.anyNode(), &simRequest{op: logical.ReadOperation, path: callbackPath, data: data, forwarded: true})
	status := 0
	if r.resp != nil {
		status, _ = r.resp.Data[logical.HTTPStatusCode].(int)
	}
	w.logf("callback for %s: page %d %v", name, status, r.err)
	return w.afterAuthorization(name, began, r.replied && r.err == nil && status == http.StatusOK)
}

// authorize starts an authorization (replacing working creds) and plays the
// browser at Jawbone, signed in to one of the accounts, returning where it
// lands.
func (w *simWorld) authorize() (name, landed string, ok bool) {
	name = w.name()
	r := w.do(w.anyNode(), &simRequest{op: logical.UpdateOperation, path: "auth-url", data: map[string]any{keyName: name, keyReplace: true}, forwarded: true})
	if !r.replied || r.err != nil || r.resp.IsError() {
		w.logf("auth-url for %s: %s", name, describeReply(r))
		return "", "", false
	}
	w.fake.SetSignedIn(w.account())
	rec := httptest.NewRecorder()
	w.fake.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, r.resp.Data[keyURL].(string), nil))
	landed = rec.Header().Get("Location")
	if u, err := url.Parse(landed); err == nil {
		w.codeFor[u.Query().Get("code")] = name
	}
	return name, landed, true
}

// afterAuthorization records the grant an authorization of name stored.
func (w *simWorld) afterAuthorization(name string, began int, succeeded bool) error {
	if !succeeded {
		return nil
	}
	stored := w.storedGrant(name)
	switch {
	case stored != nil:
		w.wrote(name, stored.RefreshToken, began)
	case w.busy[name] == 0 && w.deletes[name] < began:
		return fmt.Errorf("an authorization of %s succeeded, but nothing is stored", name)
	}
	return nil
}

func (w *simWorld) opDelete() error {
	name := w.name()
	r := w.request(name, true, w.anyNode(), &simRequest{op: logical.DeleteOperation, path: "creds/" + name, forwarded: true})
	w.logf("delete %s: %s", name, describeReply(r))
	w.deletes[name] = w.step
	return nil
}

func (w *simWorld) opRevoke() error {
	name := w.name()
	r := w.request(name, true, w.anyNode(), &simRequest{op: logical.UpdateOperation, path: "creds/" + name + "/revoke", forwarded: true})
	w.logf("revoke %s: %s", name, describeReply(r))
	w.deletes[name] = w.step
	return w.requireNo500("revoke", r)
}

func (w *simWorld) opConfig() error {
	data := map[string]any{}
	switch w.rng.IntN(3) {
	case 0:
		data[keyRefreshAhead] = []int{0, 30, 3600, 7 * 24 * 3600}[w.rng.IntN(4)]
	case 1:
		data[keyCheckInterval] = []int{60, 3600}[w.rng.IntN(2)]
	default:
		data[keyScopes] = "basic_read,move_read"
	}
	// request_timeout stays: an attempt in flight took its landing time
	// from the config it began with, and so does the network here.
	r := w.do(w.active(), &simRequest{op: logical.UpdateOperation, path: "config", data: data, forwarded: true})
	w.logf("config %v: %s", data, describeReply(r))
	return nil
}

func (w *simWorld) opAdvance() error {
	d := []time.Duration{time.Second, 7 * time.Second, 45 * time.Second, 10 * time.Minute, 2 * time.Hour, 20 * 24 * time.Hour, 200 * 24 * time.Hour}[w.rng.IntN(7)]
	if g := w.storedGrant(w.name()); g != nil && w.rng.IntN(3) == 0 {
		// Straight to just before or after the refresh point or the expiry.
		target := []time.Time{g.ExpiresAt.Add(-time.Second), g.ExpiresAt.Add(time.Second), g.refreshAt(7 * 24 * time.Hour)}[w.rng.IntN(3)]
		if until := target.Sub(w.clock.Now()); until > 0 {
			d = until
		}
	}
	w.net.landBefore(w.clock.Now().Add(d))
	w.clock.Advance(d)
	w.logf("%s pass", d)
	return nil
}

func (w *simWorld) opLand() error {
	w.net.landOne()
	return nil
}

// opRefreshOutside: another client of the app (an old kiefer install)
// refreshes a grant a name holds, killing the token the name hands out.
// The docs ask to stop every other client of a grant first; this one
// refreshed at some moment while nothing of ours was in doubt (overlapping
// an attempt in doubt, a dead token says nothing any more).
func (w *simWorld) opRefreshOutside() error {
	name := w.name()
	g := w.storedGrant(name)
	if g == nil || g.attempting() || w.net.inFlight[g.RefreshToken] > 0 {
		return nil
	}
	_, ok := w.fake.RefreshOutside(g.RefreshToken)
	w.logf("another client refreshes the grant of %s: %v", name, ok)
	return nil
}

// opDisconnectOutside: a person disconnects the app at Jawbone's site.
func (w *simWorld) opDisconnectOutside() error {
	account := w.account()
	w.fake.DisconnectOutside(account)
	w.logf("%s disconnects the app", account)
	return nil
}

// opCrash throws the active node away and starts a new one on the same
// storage: what it had in flight at Jawbone may still land.
func (w *simWorld) opCrash() error {
	w.logf("the active node crashes and restarts")
	w.replace(w.active())
	return nil
}

func (w *simWorld) opAddStandby() error {
	if len(w.nodes) > 1 {
		return nil
	}
	w.nodes = append(w.nodes, w.newNode(true))
	w.logf("a performance standby joins")
	return nil
}

// opFailover: the active node dies and the standby takes over.
func (w *simWorld) opFailover() error {
	if len(w.nodes) < 2 {
		return nil
	}
	w.logf("failover: the active node dies, the standby becomes active")
	w.nodes[0].crashed.Store(true)
	w.nodes = w.nodes[1:]
	w.nodes[0].sys.standby.Store(false)
	w.initialize(w.nodes[0])
	return nil
}

// replace starts a new node in the place of n, which crashed. The new one
// loads its schedule first (other workers run meanwhile); if another
// worker replaced n since, the new one is thrown away.
func (w *simWorld) replace(n *simNode) {
	n.crashed.Store(true)
	fresh := w.newNode(n.sys.standby.Load())
	if i := slices.Index(w.nodes, n); i >= 0 {
		w.nodes[i] = fresh
	} else {
		fresh.crashed.Store(true)
	}
}

func (w *simWorld) give(name, refresh string) {
	if !slices.Contains(w.given[name], refresh) {
		w.given[name] = append(w.given[name], refresh)
	}
}

// --- invariants -------------------------------------------------------------

// requireWorkingToken: a reply that hands out a token without a warning
// hands out one Jawbone had not retired when the request began; and no
// reply is a 500 but for storage.
func (w *simWorld) requireWorkingToken(name string, r *simRequest) error {
	if err := w.requireNo500(name, r); err != nil {
		return err
	}
	if !r.replied || r.err != nil || r.resp == nil || r.resp.IsError() || len(r.resp.Warnings) > 0 {
		return nil
	}
	tok, _ := r.resp.Data[keyAccessToken].(string)
	if tok != "" && w.fake.RetiredBy(tok, r.epoch, r.began) {
		return fmt.Errorf("the token handed out for %s without a warning was dead at Jawbone before the request began", name)
	}
	return nil
}

// requireNo500: an error the caller cannot act on comes only from storage
// (a fault, a crash, a node that cannot write).
func (w *simWorld) requireNo500(what string, r *simRequest) error {
	if !r.replied || r.err == nil {
		return nil
	}
	var coded logical.HTTPCodedError
	if errors.As(r.err, &coded) || errors.Is(r.err, logical.ErrReadOnly) {
		return nil
	}
	msg := r.err.Error()
	for _, fromStorage := range []string{"storage", "the node is down", "listing "} {
		if strings.Contains(msg, fromStorage) {
			return nil
		}
	}
	return fmt.Errorf("%s answered a 500 not caused by storage: %v", what, r.err)
}

func (w *simWorld) checkInvariants() error {
	holders := map[string]string{}
	for _, name := range simNames {
		stored := w.storedGrant(name)
		if stored != nil {
			if other, ok := holders[stored.RefreshToken]; ok {
				return fmt.Errorf("%s and %s hold one grant", other, name)
			}
			holders[stored.RefreshToken] = name
		}
		if err := w.checkIndexed(name, stored); err != nil {
			return err
		}
		if write, ok := w.writes[name]; ok && stored == nil && w.busy[name] == 0 && w.deletes[name] < write.began {
			return fmt.Errorf("the grant of %s was lost: nothing is stored, and no delete or revoke came after its write", name)
		}
		if stored == nil {
			continue
		}
		if !slices.Contains(w.given[name], stored.RefreshToken) {
			return fmt.Errorf("%s holds a refresh token it was never given (...%s; given %v)", name, tail(stored.RefreshToken), w.given[name])
		}
		if stored.NeedsReauth && !w.rejected[stored.RefreshToken] {
			return fmt.Errorf("%s is marked needs_reauthorization, but Jawbone never said invalid_grant for its grant", name)
		}
		for i, n := range w.nodes {
			if n.crashed.Load() {
				continue // being replaced
			}
			seen, err := n.b.registry.get(quiet(), n.view, name)
			if err != nil {
				return fmt.Errorf("node %d reading %s: %w", i, name, err)
			}
			if seen == nil || seen.AccessToken != stored.AccessToken || seen.AttemptStartedAt != stored.AttemptStartedAt {
				return fmt.Errorf("node %d reads a %s that is not what storage holds", i, name)
			}
		}
	}
	return w.net.violation
}

// checkIndexed: the storage indexes hold the stored grant of name, and the
// active node's schedule holds it as stored.
func (w *simWorld) checkIndexed(name string, stored *grant) error {
	ctx := quiet()
	active := w.active()
	if !active.b.registry.load.done.Load() || active.crashed.Load() {
		return nil
	}
	sum, inMemory := active.b.registry.mem.get(name)
	if stored == nil {
		if inMemory {
			return fmt.Errorf("the schedule holds %s, which is not stored", name)
		}
		return nil
	}
	sl, err := active.b.registry.keys.get(ctx, w.storage.inmem)
	if err != nil {
		return err
	}
	key, account := grantKeyOf(sl, stored.RefreshToken), accountHash(sl, stored.AccountXID)
	var claim grantClaim
	if found, err := getJSON(ctx, w.storage.inmem, key.storageKey(), &claim); err != nil || !found || claim.Name != name {
		return fmt.Errorf("the grant index does not name %s for its grant (%v, %q)", name, err, claim.Name)
	}
	if account != 0 {
		if entry, err := w.storage.inmem.Get(ctx, accountKey(account, name)); err != nil || entry == nil {
			return fmt.Errorf("the account index lacks %s (%v)", name, err)
		}
	}
	if want := summarize(stored, key, account); !inMemory || sum != want {
		return fmt.Errorf("the schedule holds %s as %+v, storage as %+v", name, sum, want)
	}
	return nil
}

func (w *simWorld) storedGrant(name string) *grant {
	var g grant
	found, err := getJSON(quiet(), w.storage.inmem, credsStoragePrefix+name, &g)
	if err != nil || !found {
		return nil
	}
	return &g
}

func describeReply(r *simRequest) string {
	switch {
	case !r.replied:
		return "no reply (crashed)"
	case r.err != nil:
		return "error: " + firstLine(r.err.Error())
	case r.resp == nil:
		return "no reply"
	case r.resp.IsError():
		return "error: " + firstLine(r.resp.Error().Error())
	case len(r.resp.Warnings) > 0:
		return "ok, warned: " + firstLine(r.resp.Warnings[0])
	}
	return "ok"
}

func firstLine(s string) string {
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// --- the network ------------------------------------------------------------

// simNet carries the backends' requests to the fake, with faults. A request
// that times out may be held and carried out at Jawbone later (a late
// landing), no later than its attempt's landing time.
type simNet struct {
	w *simWorld
	// held are requests Jawbone got but has not completed yet.
	held []heldRequest
	// inFlight counts, per refresh token, the token calls Jawbone has not
	// completed.
	inFlight  map[string]int
	violation error
}

type heldRequest struct {
	req     *http.Request
	body    []byte
	refresh string
	landsBy time.Time
}

// simTimeout is the error of a request that timed out.
type simTimeout struct{}

func (simTimeout) Error() string   { return "simulated timeout" }
func (simTimeout) Timeout() bool   { return true }
func (simTimeout) Temporary() bool { return true }

// send carries a request from node from to Jawbone (or not: a node that
// crashed sends nothing).
func (n *simNet) send(req *http.Request, from *simNode) (*http.Response, error) {
	n.w.sched.yieldFor(req.Context())
	if from.crashed.Load() {
		return nil, &netOpError{}
	}
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
	}
	form, _ := url.ParseQuery(string(body))
	isToken, isDisconnect := strings.HasSuffix(req.URL.Path, "/token"), strings.HasSuffix(req.URL.Path, "PartnerAppMembership")
	refresh := form.Get("refresh_token")
	var landsBy time.Time
	var marked bool
	if (isToken && refresh != "") || isDisconnect {
		landsBy, marked = n.w.attemptLandsBy(refresh, strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer "))
	}
	if marked && !n.w.clock.Now().Before(landsBy) {
		// Sent after its attempt could no longer land: the client gave up
		// before the request left (its deadline is the attempt's).
		n.w.logf("  %s %s: too late, the client gave up", req.Method, req.URL.Path)
		return nil, simTimeout{}
	}
	if isToken && refresh != "" && n.inFlight[refresh] > 0 && n.w.fake.GrantActive(refresh) && n.violation == nil {
		n.violation = fmt.Errorf("a second call that can replace the access token of grant ...%s reached Jawbone while the first was still in flight", tail(refresh))
		n.w.logf("  %v", n.violation)
	}
	fault := n.pickFault(isToken, isDisconnect)
	n.w.logf("  %s %s: %s (grant ...%s, marked %v until %s)", req.Method, req.URL.Path, fault, tail(refresh), marked, landsBy.Format(time.TimeOnly))
	switch fault {
	case "unreachable":
		return nil, &netOpError{}
	case "503":
		return reply(http.StatusServiceUnavailable, "text/html", "<html>unavailable</html>", nil), nil
	case "gateway 502 after Jawbone carried it out":
		n.deliver(req, body).Body.Close()
		return reply(http.StatusBadGateway, "text/html", "<html>bad gateway</html>", nil), nil
	case "429":
		return reply(http.StatusTooManyRequests, "application/json", `{}`, http.Header{"Retry-After": {"120"}}), nil
	case "jawbone's own 503":
		return reply(http.StatusServiceUnavailable, "application/json", `{"error":"temporarily_unavailable"}`, nil), nil
	case "invalid_grant":
		n.w.rejected[refresh] = true
		return reply(http.StatusBadRequest, "application/json", `{"error":"invalid_grant","error_description":"the refresh token is unknown"}`, nil), nil
	case "bare 401":
		return reply(http.StatusUnauthorized, "text/html", "<html>authorization required</html>", nil), nil
	case "captive portal":
		return reply(http.StatusOK, "text/html", "<html>welcome to the hotel wifi</html>", nil), nil
	case "timeout, lands later":
		if !marked {
			landsBy = n.w.clock.Now().Add(landingFactor * n.w.timeout)
		}
		n.hold(req, body, refresh, landsBy)
		return nil, simTimeout{}
	case "timeout":
		return nil, simTimeout{}
	case "reply lost":
		n.deliver(req, body).Body.Close()
		return nil, simTimeout{}
	}
	return n.deliver(req, body), nil
}

// attemptLandsBy is the landing time of the attempt a request belongs to,
// as the plugin stored it before the call: of the grant with this refresh
// token (a refresh) or this access token (a disconnect), or of the mark an
// import's refresh left on the grant.
func (w *simWorld) attemptLandsBy(refresh, access string) (time.Time, bool) {
	for _, name := range simNames {
		g := w.storedGrant(name)
		if g != nil && g.attempting() && ((refresh != "" && g.RefreshToken == refresh) || (refresh == "" && g.AccessToken == access)) {
			return g.landsBy(w.timeout), true
		}
	}
	if refresh == "" {
		return time.Time{}, false
	}
	sl, err := w.active().b.registry.keys.get(quiet(), w.storage.inmem)
	if err != nil {
		return time.Time{}, false
	}
	var claim grantClaim
	if found, _ := getJSON(quiet(), w.storage.inmem, grantKeyOf(sl, refresh).storageKey(), &claim); found && !claim.AttemptLandsBy.IsZero() {
		return claim.AttemptLandsBy, true
	}
	return time.Time{}, false
}

func (n *simNet) pickFault(isToken, isDisconnect bool) string {
	r := n.w.rng.IntN(100)
	pick := func(faults []struct {
		upTo int
		name string
	}) string {
		for _, f := range faults {
			if r < f.upTo {
				return f.name
			}
		}
		return "ok"
	}
	switch {
	case isToken:
		return pick([]struct {
			upTo int
			name string
		}{{4, "unreachable"}, {8, "503"}, {11, "jawbone's own 503"}, {14, "429"}, {20, "timeout, lands later"}, {24, "reply lost"},
			{27, "gateway 502 after Jawbone carried it out"}, {30, "invalid_grant"}, {33, "bare 401"}})
	case isDisconnect:
		return pick([]struct {
			upTo int
			name string
		}{{6, "503"}, {10, "timeout, lands later"}, {14, "reply lost"}, {18, "gateway 502 after Jawbone carried it out"}, {21, "unreachable"}})
	}
	return pick([]struct {
		upTo int
		name string
	}{{6, "503"}, {10, "captive portal"}, {14, "timeout"}, {17, "bare 401"}, {19, "unreachable"}})
}

// deliver has Jawbone handle the request now.
func (n *simNet) deliver(req *http.Request, body []byte) *http.Response {
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.RequestURI = r.URL.RequestURI()
	rec := httptest.NewRecorder()
	n.w.fake.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = req
	form, _ := url.ParseQuery(string(body))
	n.noteIssued(r.URL.Path, form, rec.Body.Bytes())
	if strings.Contains(rec.Body.String(), `"invalid_grant"`) {
		n.w.rejected[form.Get("refresh_token")] = true
	}
	return resp
}

// noteIssued gives the refresh token a code exchange hands out to the name
// the code was for (before any check could see it stored).
func (n *simNet) noteIssued(path string, form url.Values, body []byte) {
	if !strings.HasSuffix(path, "/token") || form.Get("grant_type") != "authorization_code" {
		return
	}
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(body, &tok) == nil && tok.RefreshToken != "" {
		n.w.give(n.w.codeFor[form.Get("code")], tok.RefreshToken)
	}
}

// hold keeps a request Jawbone got but carries out later, at the latest
// when its attempt can no longer land.
func (n *simNet) hold(req *http.Request, body []byte, refresh string, landsBy time.Time) {
	n.held = append(n.held, heldRequest{req: req, body: body, refresh: refresh, landsBy: landsBy})
	if refresh != "" {
		n.inFlight[refresh]++
	}
}

// landOne carries out (or, sometimes, drops) the oldest held request.
func (n *simNet) landOne() {
	if len(n.held) > 0 {
		n.land(0)
	}
}

func (n *simNet) land(i int) {
	h := n.held[i]
	n.held = slices.Delete(n.held, i, i+1)
	if h.refresh != "" {
		n.inFlight[h.refresh]--
	}
	if n.w.rng.IntN(4) == 0 {
		n.w.logf("a late request is dropped by Jawbone")
		return
	}
	n.w.logf("a late request lands at Jawbone")
	n.deliver(h.req, h.body).Body.Close() // the reply goes nowhere
}

// landBefore lands every held request that Jawbone must complete before t.
func (n *simNet) landBefore(t time.Time) {
	for i := 0; i < len(n.held); {
		if n.held[i].landsBy.After(t) {
			i++
			continue
		}
		n.land(i)
	}
}

// nodeTransport is one node's way to Jawbone: a node that crashed is a
// process that died, and sends nothing more.
type nodeTransport struct {
	net *simNet
	n   *simNode
}

func (t nodeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.net.send(req, t.n)
}

type netOpError struct{}

func (*netOpError) Error() string { return "dial tcp: connection refused" }

func reply(status int, contentType, body string, header http.Header) *http.Response {
	h := http.Header{"Content-Type": {contentType}}
	for k, v := range header {
		h[k] = v
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h,
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
}

// --- storage and nodes ------------------------------------------------------

// simStorage is the storage every node shares, failing on demand (each
// worker's request as planned) through the SDK's own InmemStorage
// switches, and telling every other node of each change, as Vault's
// invalidation does.
type simStorage struct {
	w     *simWorld
	inmem *logical.InmemStorage
	plans map[int]*storagePlan // by worker
}

// storagePlan is what storage does to one request's operations.
type storagePlan struct {
	failPutAt  int
	failGets   bool
	crashAtPut int
	crashing   *simNode
	puts       int
}

func (s *simStorage) plan() *storagePlan {
	if p := s.plans[s.w.sched.current]; p != nil {
		return p
	}
	return &storagePlan{}
}

// nodeStorage is one node's view of the shared storage: read-only on a
// standby, and dead once the node has crashed. Every operation is a point
// where the scheduler may run another worker.
type nodeStorage struct {
	w *simWorld
	n *simNode
}

var errNodeDown = errors.New("the node is down")

func (v *nodeStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	v.w.sched.yieldFor(ctx)
	s := v.w.storage
	if v.n.crashed.Load() {
		return nil, errNodeDown
	}
	s.inmem.FailGet(s.plan().failGets)
	defer s.inmem.FailGet(false)
	return s.inmem.Get(ctx, key)
}

func (v *nodeStorage) List(ctx context.Context, prefix string) ([]string, error) {
	v.w.sched.yieldFor(ctx)
	if v.n.crashed.Load() {
		return nil, errNodeDown
	}
	return v.w.storage.inmem.List(ctx, prefix)
}

func (v *nodeStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	v.w.sched.yieldFor(ctx)
	s := v.w.storage
	if err := v.writable(); err != nil {
		return err
	}
	plan := s.plan()
	plan.puts++
	if plan.crashing == v.n && plan.puts == plan.crashAtPut {
		v.n.crashed.Store(true)
		return errNodeDown
	}
	s.inmem.FailPut(plan.puts == plan.failPutAt)
	defer s.inmem.FailPut(false)
	if err := s.inmem.Put(ctx, e); err != nil {
		return err
	}
	v.invalidateOthers(e.Key)
	return nil
}

func (v *nodeStorage) Delete(ctx context.Context, key string) error {
	v.w.sched.yieldFor(ctx)
	if err := v.writable(); err != nil {
		return err
	}
	if err := v.w.storage.inmem.Delete(ctx, key); err != nil {
		return err
	}
	v.invalidateOthers(key)
	return nil
}

func (v *nodeStorage) writable() error {
	switch {
	case v.n.crashed.Load():
		return errNodeDown
	case v.n.sys.standby.Load():
		return logical.ErrReadOnly
	}
	return nil
}

func (v *nodeStorage) invalidateOthers(key string) {
	for _, other := range v.w.nodes {
		if other != v.n {
			other.b.invalidate(context.Background(), key)
		}
	}
}

// simSystemView is a node's view of Vault: a performance standby or not.
type simSystemView struct {
	logical.StaticSystemView
	standby atomic.Bool
}

func (v *simSystemView) ReplicationState() consts.ReplicationState {
	if v.standby.Load() {
		return consts.ReplicationPerformanceStandby
	}
	return 0
}

func (v *simSystemView) LocalMount() bool { return false }
