package jawbone

// A deterministic simulation of the grant lifecycle under faults. A seeded
// scheduler runs reads, forced refreshes, imports, exchanges, callbacks,
// deletes, background scans and config writes, one at a time, on one or two
// backends sharing one storage (two: an active node and a performance
// standby, with failover), against the fake Jawbone behind a simulated
// network. The network loses, delays and garbles requests; a request that
// times out on our side may still complete at Jawbone a few steps later.
// Storage fails on demand, and a node may crash in the middle of a request.
// After every step the invariants of the lifecycle are checked:
//
//   - every access token handed out without a warning is accepted by Jawbone
//     at that moment;
//   - a refresh token the engine acknowledged is never lost except by a
//     delete, and a stored one is always one the name was given;
//   - at most one call that can replace a grant's access token is in
//     flight at Jawbone at a time;
//   - needs_reauthorization only follows an invalid_grant from Jawbone;
//   - every node reads what storage holds (a read after a write sees it).
//
// A failing schedule prints its seed: replay it with
//
//	go test -run TestSimulatedFaultSchedules -sim.seed=<seed> -v .

import (
	"bytes"
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

var (
	simSchedules = flag.Int("sim.schedules", 200, "how many seeded fault schedules TestSimulatedFaultSchedules runs")
	simSteps     = flag.Int("sim.steps", 40, "steps per schedule")
	simSeed      = flag.Uint64("sim.seed", 0, "run only the schedule of this seed (and log every step)")
	simFirstSeed = flag.Uint64("sim.first", 1, "the seed of the first schedule")
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
	started := time.Now()
	for _, seed := range seeds {
		w := newSimWorld(t, seed, *simSeed != 0)
		if err := w.run(*simSteps); err != nil {
			t.Fatalf("schedule with seed %d broke an invariant: %v\n\nreplay it with: go test -run TestSimulatedFaultSchedules -sim.seed=%d -v .\n\nsteps:\n%s",
				seed, err, seed, strings.Join(w.trace, "\n"))
		}
	}
	t.Logf("%d schedules of %d steps in %s", len(seeds), *simSteps, time.Since(started).Round(time.Millisecond))
}

const (
	simRedirectURI = "https://app.example/callback"
	// simCallbackURI is the mount's callback: half the schedules (odd
	// seeds) complete authorizations there, the others by exchange.
	simCallbackURI = "https://vault.test/v1/" + simMount + callbackPath
	simJawbone     = "https://jawbone.test"
	simMount       = "jawbone/"
)

var simNames = []string{"me", "alice"}

// simWorld is one schedule: the fake, the network, the storage and the
// nodes, and the model the invariants are checked against.
type simWorld struct {
	t       *testing.T
	rng     *rand.Rand
	verbose bool
	trace   []string

	clock   *fakejawbone.ManualClock
	fake    *fakejawbone.Server
	net     *simNet
	storage *simStorage
	nodes   []*simNode // nodes[0] is active; a second one is a standby
	timeout time.Duration

	// given[name] is every refresh token name was given since its last
	// delete; acked[name] the one the last successful write stored.
	given map[string][]string
	acked map[string]string
	// rejected are the refresh tokens Jawbone answered invalid_grant for.
	rejected map[string]bool
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
	redirectURI := []string{simRedirectURI, simCallbackURI}[seed%2]
	fake := fakejawbone.New(fakejawbone.Config{
		ClientID: testClientID, ClientSecret: testClientSecret, RedirectURIPrefix: redirectURI,
		Now: clock.Now, Random: rand.NewChaCha8(seedBytes(seed)),
		TokenLifetime: []time.Duration{fakejawbone.DefaultTokenLifetime, time.Hour, 10 * time.Minute, 40 * time.Second}[rng.IntN(4)],
	})
	w := &simWorld{
		t: t, rng: rng, verbose: verbose, clock: clock, fake: fake,
		given: map[string][]string{}, acked: map[string]string{}, rejected: map[string]bool{},
	}
	w.net = &simNet{w: w, inFlight: map[string]int{}}
	w.storage = &simStorage{w: w, inmem: &logical.InmemStorage{}}
	w.nodes = []*simNode{w.newNode(false)}
	w.timeout = 30 * time.Second
	resp, err := w.handle(w.active(), logical.UpdateOperation, "config", map[string]any{
		keyClientID: testClientID, keyClientSecret: testClientSecret, keyRedirectURI: redirectURI,
		keyAuthURL: fakejawbone.AuthURL(simJawbone), keyTokenURL: fakejawbone.TokenURL(simJawbone), keyAPIURL: fakejawbone.APIURL(simJawbone),
		keyRefreshAhead: []int{0, 60, 7 * 24 * 3600}[rng.IntN(3)], keyRequestTimeout: int(w.timeout.Seconds()),
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
	b := newBackend()
	b.now = w.clock.Now
	b.jitter = func() time.Duration { return 0 }
	b.scanWorkers = 1
	b.transport = w.net
	if err := b.Setup(context.Background(), conf); err != nil {
		w.t.Fatalf("backend setup: %v", err)
	}
	n.b = b
	return n
}

func (w *simWorld) logf(format string, args ...any) {
	line := fmt.Sprintf("%4d %s  ", len(w.trace), w.clock.Now().Format("2006-01-02 15:04:05")) + fmt.Sprintf(format, args...)
	w.trace = append(w.trace, line)
	if w.verbose {
		w.t.Log(line)
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
	{"read", 26, (*simWorld).opRead},
	{"forced refresh", 7, (*simWorld).opForce},
	{"background scan", 9, (*simWorld).opScan},
	{"re-import the stored grant", 5, (*simWorld).opReimport},
	{"import another grant", 4, (*simWorld).opImportNew},
	{"import an access token", 3, (*simWorld).opImportAccess},
	{"exchange", 5, (*simWorld).opExchange},
	{"callback", 4, (*simWorld).opCallback},
	{"delete", 2, (*simWorld).opDelete},
	{"config write", 3, (*simWorld).opConfig},
	{"time passes", 14, (*simWorld).opAdvance},
	{"a late request lands", 6, (*simWorld).opLand},
	{"crash and restart", 2, (*simWorld).opCrash},
	{"standby joins", 2, (*simWorld).opAddStandby},
	{"failover", 2, (*simWorld).opFailover},
}

func (w *simWorld) run(steps int) error {
	total := 0
	for _, op := range simOps {
		total += op.weight
	}
	for range steps {
		pick := w.rng.IntN(total)
		for _, op := range simOps {
			if pick -= op.weight; pick < 0 {
				if err := op.run(w); err != nil {
					return fmt.Errorf("%s: %w", op.name, err)
				}
				break
			}
		}
		if w.verbose {
			w.logState()
		}
		if err := w.checkInvariants(); err != nil {
			return err
		}
	}
	return nil
}

// logState shows what storage holds, for replaying a seed.
func (w *simWorld) logState() {
	for _, name := range simNames {
		if g := w.storedGrant(name); g != nil {
			w.logf("      %s: token ...%s (accepted %v) expires %s, attempt %s lands %s, checked %s, next attempt %s, reauth %v",
				name, tail(g.AccessToken), w.fake.TokenValid(g.AccessToken), g.ExpiresAt.Format(time.DateTime),
				g.AttemptStartedAt.Format(time.TimeOnly), g.AttemptLandsBy.Format(time.TimeOnly),
				g.CheckedAt.Format(time.TimeOnly), g.NextAttemptAt.Format(time.TimeOnly), g.NeedsReauth)
		}
	}
}

func tail(s string) string { return s[max(len(s)-6, 0):] }

func (w *simWorld) name() string { return simNames[w.rng.IntN(len(simNames))] }

func (w *simWorld) active() *simNode { return w.nodes[0] }

// anyNode is the node a client happens to reach.
func (w *simWorld) anyNode() *simNode { return w.nodes[w.rng.IntN(len(w.nodes))] }

// do runs a request the way Vault would: a forwarded write goes to the
// active node, and a request that answers ErrReadOnly is forwarded there.
// A crash planned for this request fails one of its storage writes and
// throws the node away; its reply is then lost.
func (w *simWorld) do(n *simNode, op logical.Operation, path string, data map[string]any, forwarded bool) (*logical.Response, error, bool) {
	if forwarded && n.sys.standby.Load() {
		n = w.active()
	}
	w.planStorageFaults(n)
	resp, err := w.handle(n, op, path, data)
	if errors.Is(err, logical.ErrReadOnly) && n != w.active() {
		w.logf("  forwarded to the active node")
		n = w.active()
		resp, err = w.handle(n, op, path, data)
	}
	w.storage.clearFaults()
	if n.crashed.Load() {
		w.logf("  the node crashed mid-request; starting it again")
		w.replace(n)
		return nil, nil, false
	}
	return resp, err, true
}

func (w *simWorld) handle(n *simNode, op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	return n.b.HandleRequest(context.Background(), &logical.Request{
		Operation: op, Path: path, Data: data, Storage: n.view, MountPoint: simMount,
	})
}

// planStorageFaults sometimes fails a write or a read of the next request,
// and sometimes crashes the node at one of its writes.
func (w *simWorld) planStorageFaults(n *simNode) {
	switch r := w.rng.IntN(100); {
	case r < 4:
		w.storage.failPutAt = 1 + w.rng.IntN(3)
		w.logf("  storage: put #%d fails", w.storage.failPutAt)
	case r < 6:
		w.storage.failGets = true
		w.logf("  storage: reads fail")
	case r < 9 && n == w.active():
		w.storage.crashAtPut = 1 + w.rng.IntN(3)
		w.storage.crashing = n
		w.logf("  the node will crash at put #%d", w.storage.crashAtPut)
	}
}

// --- steps ------------------------------------------------------------------

func (w *simWorld) opRead() error {
	name, n := w.name(), w.anyNode()
	resp, err, ok := w.do(n, logical.ReadOperation, "creds/"+name, nil, false)
	w.logf("read %s on node %d: %s", name, slices.Index(w.nodes, n), describeReply(resp, err))
	if !ok {
		return nil
	}
	return w.requireWorkingToken(name, resp, err)
}

func (w *simWorld) opForce() error {
	name := w.name()
	resp, err, ok := w.do(w.anyNode(), logical.UpdateOperation, "creds/"+name+"/refresh", nil, true)
	w.logf("forced refresh of %s: %s", name, describeReply(resp, err))
	if !ok {
		return nil
	}
	return w.requireWorkingToken(name, resp, err)
}

func (w *simWorld) opScan() error {
	n := w.anyNode()
	if n.sys.standby.Load() {
		return nil // Vault runs the periodic function where storage is writable
	}
	w.planStorageFaults(n)
	err := n.b.periodic(context.Background(), &logical.Request{Storage: n.view, MountPoint: simMount})
	w.storage.clearFaults()
	w.logf("background scan: %v", err)
	if n.crashed.Load() {
		w.replace(n)
	}
	return nil
}

func (w *simWorld) opReimport() error {
	name := w.name()
	refresh := w.acked[name]
	if refresh == "" {
		return nil
	}
	return w.importGrant(name, map[string]any{keyRefreshToken: refresh}, refresh)
}

func (w *simWorld) opImportNew() error {
	name := w.name()
	_, refresh := w.fake.IssueTokens(nil)
	return w.importGrant(name, map[string]any{keyRefreshToken: refresh}, refresh)
}

func (w *simWorld) opImportAccess() error {
	name := w.name()
	access, refresh := w.fake.IssueTokens(nil)
	return w.importGrant(name, map[string]any{keyAccessToken: access}, refresh)
}

func (w *simWorld) importGrant(name string, data map[string]any, refresh string) error {
	w.give(name, refresh)
	resp, err, ok := w.do(w.anyNode(), logical.UpdateOperation, "creds/"+name, data, true)
	w.logf("import into %s: %s", name, describeReply(resp, err))
	if !ok {
		return nil
	}
	if err == nil && !resp.IsError() {
		w.acked[name] = refresh
	}
	return w.requireWorkingToken(name, resp, err)
}

func (w *simWorld) opExchange() error {
	name, landed, ok := w.authorize()
	if !ok {
		return nil
	}
	resp, err, ok := w.do(w.anyNode(), logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed}, true)
	w.logf("exchange for %s: %s", name, describeReply(resp, err))
	return w.afterAuthorization(name, ok && err == nil && !resp.IsError())
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
	resp, err, ok := w.do(w.anyNode(), logical.ReadOperation, callbackPath, data, true)
	status := 0
	if resp != nil {
		status, _ = resp.Data[logical.HTTPStatusCode].(int)
	}
	w.logf("callback for %s: page %d %v", name, status, err)
	return w.afterAuthorization(name, ok && err == nil && status == http.StatusOK)
}

// authorize starts an authorization (replacing working creds) and plays the
// browser at Jawbone, returning where it lands.
func (w *simWorld) authorize() (name, landed string, ok bool) {
	name = w.name()
	resp, err, ok := w.do(w.anyNode(), logical.UpdateOperation, "auth-url", map[string]any{keyName: name, keyReplace: true}, true)
	if !ok || err != nil || resp.IsError() {
		w.logf("auth-url for %s: %s", name, describeReply(resp, err))
		return "", "", false
	}
	rec := httptest.NewRecorder()
	w.fake.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, resp.Data[keyURL].(string), nil))
	w.net.issuedBefore = len(w.net.issued)
	return name, rec.Header().Get("Location"), true
}

func (w *simWorld) afterAuthorization(name string, succeeded bool) error {
	for _, refresh := range w.net.issued[w.net.issuedBefore:] {
		w.give(name, refresh)
	}
	if succeeded {
		stored := w.storedGrant(name)
		if stored == nil {
			return fmt.Errorf("an authorization of %s succeeded, but nothing is stored", name)
		}
		w.acked[name] = stored.RefreshToken
	}
	return nil
}

func (w *simWorld) opDelete() error {
	name := w.name()
	resp, err, ok := w.do(w.anyNode(), logical.DeleteOperation, "creds/"+name, nil, true)
	w.logf("delete %s: %s", name, describeReply(resp, err))
	if ok && err == nil && !resp.IsError() {
		delete(w.acked, name)
		delete(w.given, name)
	}
	return nil
}

func (w *simWorld) opConfig() error {
	data := map[string]any{}
	switch w.rng.IntN(3) {
	case 0:
		data[keyRefreshAhead] = []int{0, 30, 3600, 7 * 24 * 3600}[w.rng.IntN(4)]
	case 1:
		data[keyRequestTimeout] = []int{1, 5, 30}[w.rng.IntN(3)]
	default:
		data[keyScopes] = "basic_read,move_read"
	}
	w.configure(data)
	return nil
}

func (w *simWorld) configure(data map[string]any) {
	resp, err, ok := w.do(w.active(), logical.UpdateOperation, "config", data, true)
	w.logf("config %v: %s", data, describeReply(resp, err))
	if ok && err == nil && !resp.IsError() {
		if v, set := data[keyRequestTimeout]; set {
			w.timeout = time.Duration(v.(int)) * time.Second
		}
	}
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
	return nil
}

func (w *simWorld) replace(n *simNode) {
	n.crashed.Store(true)
	i := slices.Index(w.nodes, n)
	if i < 0 {
		return
	}
	w.nodes[i] = w.newNode(n.sys.standby.Load())
}

func (w *simWorld) give(name, refresh string) {
	if !slices.Contains(w.given[name], refresh) {
		w.given[name] = append(w.given[name], refresh)
	}
}

// --- invariants -------------------------------------------------------------

// requireWorkingToken: a reply that hands out a token without a warning
// hands out one Jawbone accepts now.
func (w *simWorld) requireWorkingToken(name string, resp *logical.Response, err error) error {
	if err != nil || resp == nil || resp.IsError() || len(resp.Warnings) > 0 {
		return nil
	}
	tok, _ := resp.Data[keyAccessToken].(string)
	if tok != "" && !w.fake.TokenValid(tok) {
		return fmt.Errorf("the token handed out for %s without a warning is not accepted by Jawbone", name)
	}
	return nil
}

func (w *simWorld) checkInvariants() error {
	for _, name := range simNames {
		stored := w.storedGrant(name)
		if w.acked[name] != "" && stored == nil {
			return fmt.Errorf("the grant of %s was lost: nothing is stored, and no delete succeeded", name)
		}
		if stored == nil {
			continue
		}
		if !slices.Contains(w.given[name], stored.RefreshToken) {
			return fmt.Errorf("%s holds a refresh token it was never given", name)
		}
		if stored.NeedsReauth && !w.rejected[stored.RefreshToken] {
			return fmt.Errorf("%s is marked needs_reauthorization, but Jawbone never said invalid_grant for its grant", name)
		}
		for i, n := range w.nodes {
			seen, err := n.b.getGrant(context.Background(), n.view, name)
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

func (w *simWorld) storedGrant(name string) *grant {
	var g grant
	found, err := getJSON(context.Background(), w.storage.inmem, credsStoragePrefix+name, &g)
	if err != nil || !found {
		return nil
	}
	return &g
}

func describeReply(resp *logical.Response, err error) string {
	switch {
	case err != nil:
		return "error: " + firstLine(err.Error())
	case resp == nil:
		return "no reply"
	case resp.IsError():
		return "error: " + firstLine(resp.Error().Error())
	case len(resp.Warnings) > 0:
		return "ok, warned: " + firstLine(resp.Warnings[0])
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
// that times out may be held and completed at Jawbone later (a late
// landing), before its attempt's landsBy.
type simNet struct {
	w *simWorld
	// held are requests Jawbone got but has not completed yet.
	held []heldRequest
	// inFlight counts, per refresh token, the token calls Jawbone has not
	// completed.
	inFlight  map[string]int
	violation error
	// issued are the refresh tokens exchanges returned, in order.
	issued       []string
	issuedBefore int
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

func (n *simNet) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
	}
	form, _ := url.ParseQuery(string(body))
	isToken := strings.HasSuffix(req.URL.Path, "/token")
	refresh := form.Get("refresh_token")
	if isToken && refresh != "" {
		if n.inFlight[refresh] > 0 && n.violation == nil {
			n.violation = errors.New("a second call that can replace a grant's access token reached Jawbone while the first was still in flight")
		}
	}
	fault := n.pickFault(isToken)
	n.w.logf("  %s %s: %s", req.Method, req.URL.Path, fault)
	switch fault {
	case "unreachable":
		return nil, &netOpError{}
	case "503":
		return reply(http.StatusServiceUnavailable, "text/html", "<html>unavailable</html>", nil), nil
	case "429":
		return reply(http.StatusTooManyRequests, "application/json", `{}`, http.Header{"Retry-After": {"120"}}), nil
	case "invalid_grant":
		n.w.rejected[refresh] = true
		return reply(http.StatusBadRequest, "application/json", `{"error":"invalid_grant","error_description":"the refresh token is unknown"}`, nil), nil
	case "bare 401":
		return reply(http.StatusUnauthorized, "text/html", "<html>authorization required</html>", nil), nil
	case "captive portal":
		return reply(http.StatusOK, "text/html", "<html>welcome to the hotel wifi</html>", nil), nil
	case "timeout, lands later":
		n.hold(req, body, refresh)
		return nil, simTimeout{}
	case "timeout":
		return nil, simTimeout{}
	case "reply lost":
		n.deliver(req, body).Body.Close()
		return nil, simTimeout{}
	}
	return n.deliver(req, body), nil
}

func (n *simNet) pickFault(isToken bool) string {
	r := n.w.rng.IntN(100)
	if !isToken {
		faults := []struct {
			upTo int
			name string
		}{{6, "503"}, {10, "captive portal"}, {14, "timeout"}, {17, "bare 401"}, {19, "unreachable"}}
		for _, f := range faults {
			if r < f.upTo {
				return f.name
			}
		}
		return "ok"
	}
	faults := []struct {
		upTo int
		name string
	}{{4, "unreachable"}, {10, "503"}, {13, "429"}, {21, "timeout, lands later"}, {25, "reply lost"}, {28, "invalid_grant"}, {31, "bare 401"}}
	for _, f := range faults {
		if r < f.upTo {
			return f.name
		}
	}
	return "ok"
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

// noteIssued remembers the refresh tokens code exchanges hand out.
func (n *simNet) noteIssued(path string, form url.Values, body []byte) {
	if !strings.HasSuffix(path, "/token") || form.Get("grant_type") != "authorization_code" {
		return
	}
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(body, &tok) == nil && tok.RefreshToken != "" {
		n.issued = append(n.issued, tok.RefreshToken)
	}
}

// hold keeps a request Jawbone got but completes later, at the latest when
// an attempt made now could no longer land.
func (n *simNet) hold(req *http.Request, body []byte, refresh string) {
	n.held = append(n.held, heldRequest{req: req, body: body, refresh: refresh,
		landsBy: n.w.clock.Now().Add(landingFactor * n.w.timeout)})
	if refresh != "" {
		n.inFlight[refresh]++
	}
}

// landOne completes (or, sometimes, drops) the oldest held request.
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

// simStorage is the storage every node shares, failing on demand through the
// SDK's own InmemStorage switches, and telling every other node of each
// change, as Vault's invalidation does.
type simStorage struct {
	w          *simWorld
	inmem      *logical.InmemStorage
	failPutAt  int
	failGets   bool
	crashAtPut int
	crashing   *simNode
	puts       int
}

func (s *simStorage) clearFaults() {
	s.failPutAt, s.failGets, s.crashAtPut, s.crashing, s.puts = 0, false, 0, nil, 0
}

// nodeStorage is one node's view of the shared storage: read-only on a
// standby, and dead once the node has crashed.
type nodeStorage struct {
	w *simWorld
	n *simNode
}

var errNodeDown = errors.New("the node is down")

func (v *nodeStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	s := v.w.storage
	if v.n.crashed.Load() {
		return nil, errNodeDown
	}
	s.inmem.FailGet(s.failGets)
	defer s.inmem.FailGet(false)
	return s.inmem.Get(ctx, key)
}

func (v *nodeStorage) List(ctx context.Context, prefix string) ([]string, error) {
	if v.n.crashed.Load() {
		return nil, errNodeDown
	}
	return v.w.storage.inmem.List(ctx, prefix)
}

func (v *nodeStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	s := v.w.storage
	if err := v.writable(); err != nil {
		return err
	}
	s.puts++
	if s.crashing == v.n && s.puts == s.crashAtPut {
		v.n.crashed.Store(true)
		return errNodeDown
	}
	s.inmem.FailPut(s.puts == s.failPutAt)
	defer s.inmem.FailPut(false)
	if err := s.inmem.Put(ctx, e); err != nil {
		return err
	}
	v.invalidateOthers(e.Key)
	return nil
}

func (v *nodeStorage) Delete(ctx context.Context, key string) error {
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
