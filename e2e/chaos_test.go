package e2e

// TestChaos checks, from outside, the invariants that simulation_test.go
// checks inside the plugin (docs/operations.md, "The lifecycle of a grant"
// and "What an answer proves"): a real Vault with the plugin, driven by
// concurrent clients for a bounded time, against the fake Jawbone behind a
// front that injects faults into about one call in four (chaos_jawbone_test.go),
// while the plugin process is killed by its PID a few times.
//
// The clients read, force refreshes, import (the grant a name holds, a new
// grant, one kept as is, an access token alone, another account's with
// replace=true, the grant another name holds, which must be refused),
// authorize by exchange and by the callback (auth-url, then the fake's
// consent page as a browser), delete and revoke, on six names whose grants
// are of four Jawbone accounts (so some names share one). Three names are
// busy: most writes go to them. The other three are steady: mostly read, so
// that their tokens live long enough to fall due and be refreshed by a read
// or by Vault's rollback tick (about once a minute).
//
// What it checks:
//
//  1. No reply without a warning hands out an access token that Jawbone had
//     retired before the request began (the fake records when each token
//     died: Epoch before the request, RetiredBy after), on every reply.
//  2. No two names hold one grant: every stored creds entry, read through
//     sys/raw.
//  3. Nothing is lost that was not deleted or revoked: a name whose last
//     acknowledged write (an import, an exchange, a callback) was not
//     followed or overlapped by a delete or a revoke of it is stored.
//  4. No 5xx but the plugin's own 502, and no request without an answer,
//     except for requests that overlapped a kill of the plugin (from the
//     SIGKILL until the mount answers again), on every reply.
//
// With 2 and 3 go the indexes: the mount lists exactly the stored creds,
// the grant index names each stored grant's holder, the account index lists
// each name under its account, and status (once the plugin has loaded its
// schedule) counts them and finds none sharing a grant. These checks of
// storage run with the clients' writes paused (no write of theirs is half
// done; the plugin's background may still write, so an entry that changed
// under a check is checked again as it is now): every 20 s,
// after every delete and revoke, after an import of another name's grant
// that was not refused, and at the end. At the end, too, vault list is the
// list of stored creds and, with the faults stopped and nothing in doubt
// any more, every stored name either hands out a token Jawbone accepts or
// says that Jawbone rejected its grant, which the fake confirms.
//
// The seed (CHAOS_SEED, random by default) is printed at the start and in
// every failure; it drives each client's own random stream, the fault
// streams and the kill times. A replay repeats each client's sequence of
// operations and the sequence of faults and kills, but not their
// interleaving: the clients, Vault and the fake run concurrently for real.
// CHAOS_DURATION (default 2m) bounds the run; a longer one needs a longer
// go test -timeout:
//
//	CHAOS_SEED=<seed> CHAOS_DURATION=30m go test -count=1 -timeout 45m -run '^TestChaos$' -v .
//
// A failure also writes the whole trace to e2e/artifacts/chaos-<seed>.log
// (CHAOS_TRACE=1 writes it after a run that passed, too).

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

const (
	defaultChaosDuration = 2 * time.Minute
	chaosClients         = 7
	// Tokens live 20 s at the fake: due after 10 s (half their life), handed
	// out until 2 s before they expire.
	chaosTokenLifetime  = 20 * time.Second
	chaosRefreshAhead   = "10s"
	chaosRequestTimeout = time.Second
	chaosCheckEvery     = 20 * time.Second
	// A kill of the plugin about every 40 s, none in the first or last 15 s.
	chaosKillEvery  = 40 * time.Second
	chaosKillMargin = 15 * time.Second
)

var (
	chaosBusy   = []string{"me", "alice", "bob"}
	chaosSteady = []string{"carol", "dave", "erin"}
	chaosNames  = append(slices.Clone(chaosBusy), chaosSteady...)
)

// chaosAccounts are the Jawbone accounts a name's grants are of: the busy
// names share two, the steady names two others.
func chaosAccounts(name string) []string {
	if slices.Contains(chaosBusy, name) {
		return []string{"acct-a", "acct-b"}
	}
	return []string{"acct-s", "acct-t"}
}

func TestChaos(t *testing.T) {
	seed, duration := chaosSettings(t)
	t.Logf("chaos seed %d, duration %s; replay with CHAOS_SEED=%d CHAOS_DURATION=%s", seed, duration, seed, duration)
	c := startChaos(t, seed, duration)
	c.seedNames()
	c.run()
	c.finalChecks()
	c.report()
}

// chaosSettings reads CHAOS_SEED and CHAOS_DURATION.
func chaosSettings(t *testing.T) (uint64, time.Duration) {
	t.Helper()
	var seed uint64
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("CHAOS_SEED=%q: %v", s, err)
		}
	} else {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatal(err)
		}
		seed = binary.BigEndian.Uint64(b[:]) >> 34 // short enough to type
	}
	duration := defaultChaosDuration
	if s := os.Getenv("CHAOS_DURATION"); s != "" {
		var err error
		if duration, err = time.ParseDuration(s); err != nil || duration < 2*chaosKillMargin {
			t.Fatalf("CHAOS_DURATION=%q: want a duration of at least %s (%v)", s, 2*chaosKillMargin, err)
		}
	}
	return seed, duration
}

// chaos is one run: the servers, the clients' record of what they did, and
// what the checks found.
type chaos struct {
	t        *testing.T
	seed     uint64
	duration time.Duration
	v        *Vault
	f        *Fake
	front    *chaosFront
	a        *jbAPI // the root token
	anon     *jbAPI // no token: a browser coming back to the callback
	uuid     string
	begun    time.Time

	ctx    context.Context
	cancel context.CancelFunc

	// writes is held shared by every request that may store or forget a
	// grant and by a kill of the plugin until the mount answers again, and
	// alone by the checks of what storage holds, which so see no write half
	// done and get their answers from a running plugin.
	writes sync.RWMutex
	// signIn is held while a client signs in at the fake as an account and
	// visits the consent page: the fake has one signed-in account.
	signIn sync.Mutex

	mu         sync.Mutex
	trace      []chaosLine
	violations []string
	kills      []*chaosKill
	history    map[string]*chaosHistory
	ops        map[string]int
	statuses   map[string]int
	exempted   int
}

type chaosLine struct {
	at   time.Duration // since the run began
	who  string        // a client, "jawbone", "killer", "checker"
	name string        // the creds the line is about, if any
	text string
}

// chaosKill is a kill of the plugin: from the SIGKILL until the mount
// answered again (zero while it has not).
type chaosKill struct{ from, to time.Time }

// chaosSpan is when a request was in flight.
type chaosSpan struct{ from, to time.Time }

// chaosHistory is what the clients did to one name: the acknowledged write
// that began last, and every delete or revoke that may have forgotten it.
type chaosHistory struct {
	lastWrite *chaosSpan
	writeWhat string
	removals  []chaosSpan
}

func startChaos(t *testing.T, seed uint64, duration time.Duration) *chaos {
	t.Helper()
	v := StartVaultWithPlugin(t)
	callback := v.Addr + "/v1/" + mountPath + "/callback"
	f := StartFake(t, withRedirect(callback), withTokenLifetime(chaosTokenLifetime))
	f.RedirectURI = callback
	ctx, cancel := context.WithCancel(context.Background())
	c := &chaos{
		t: t, seed: seed, duration: duration, v: v, f: f,
		a:    apiOf(v, withConns(chaosClients+2)),
		anon: apiOf(v, withToken(""), withConns(chaosClients)),
		ctx:  ctx, cancel: cancel,
		history: map[string]*chaosHistory{}, ops: map[string]int{}, statuses: map[string]int{},
	}
	for _, name := range chaosNames {
		c.history[name] = &chaosHistory{}
	}
	t.Cleanup(cancel)
	c.front = newChaosFront(c, f, seed)
	front := f.serve(t, c.front)
	c.uuid = mountUUIDOf(t, c.a)
	// Vault reaches the token endpoint and the API through the front; the
	// browser goes to the fake's consent page directly.
	c.a.must(t, http.MethodPost, mountPath+"/config", map[string]any{
		"client_id": f.ClientID, "client_secret": f.ClientSecret, "redirect_uri": callback,
		"auth_url": f.AuthURL, "token_url": fakejawbone.TokenURL(front), "api_url": fakejawbone.APIURL(front),
		"local_development": true, "refresh_ahead": chaosRefreshAhead,
		"request_timeout": chaosRequestTimeout.String(), "check_interval": "1m",
	})
	c.begun = time.Now()
	return c
}

// --- tracing and failing ----------------------------------------------------

func (c *chaos) tracef(who, name, format string, args ...any) {
	line := chaosLine{at: time.Since(c.begun), who: who, name: name, text: fmt.Sprintf(format, args...)}
	c.mu.Lock()
	c.trace = append(c.trace, line)
	c.mu.Unlock()
}

func (l chaosLine) String() string {
	return fmt.Sprintf("+%8.3fs %-7s %s", l.at.Seconds(), l.who, l.text)
}

// violate records a broken invariant, with what there is to know about
// name, and ends the run.
func (c *chaos) violate(name, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.tracef("checker", name, "VIOLATION: %s", firstLineOf(msg))
	full := fmt.Sprintf("seed %d: %s\n\n%s\nreplay: CHAOS_SEED=%d CHAOS_DURATION=%s go test -count=1 -run '^TestChaos$' -v . (in e2e/, with VAULT_BIN, PLUGIN_DIR and PLUGIN_VERSION set as for make e2e)",
		c.seed, msg, c.about(name), c.seed, c.duration)
	c.mu.Lock()
	c.violations = append(c.violations, full)
	c.mu.Unlock()
	c.cancel()
}

// about is what a failure message says of name: its stored entry, the kills
// so far, and the trace of the name and of its grant's calls to Jawbone.
func (c *chaos) about(name string) string {
	var b strings.Builder
	tails := map[string]bool{}
	if name != "" {
		entry, err := c.rawEntry(name)
		fmt.Fprintf(&b, "stored creds %q now: %s\n", name, describeEntry(entry, err))
		if entry != nil {
			for _, k := range []string{"access_token", "refresh_token"} {
				if s, _ := entry[k].(string); s != "" {
					tails["…"+tail(s)] = true
				}
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.kills {
		fmt.Fprintf(&b, "plugin killed at +%.3fs", k.from.Sub(c.begun).Seconds())
		if !k.to.IsZero() {
			fmt.Fprintf(&b, ", answering again at +%.3fs", k.to.Sub(c.begun).Seconds())
		}
		b.WriteString("\n")
	}
	// The tokens and grants of the name's recent lines: their calls to
	// Jawbone belong to its story.
	const keep = 80
	var own []chaosLine
	for _, l := range c.trace {
		if name != "" && l.name == name {
			own = append(own, l)
		}
	}
	for _, l := range own[max(len(own)-keep, 0):] {
		for _, t := range tailPattern.FindAllString(l.text, -1) {
			tails[t] = true
		}
	}
	var lines []string
	for _, l := range c.trace {
		related := l.who == "killer" || (name != "" && l.name == name)
		for t := range tails {
			related = related || (l.who == "jawbone" && strings.Contains(l.text, t))
		}
		if related {
			lines = append(lines, l.String())
		}
	}
	if len(lines) > keep {
		lines = append([]string{fmt.Sprintf("[%d earlier lines in the trace file]", len(lines)-keep)}, lines[len(lines)-keep:]...)
	}
	what := "the kills"
	if name != "" {
		what = fmt.Sprintf("%q, its tokens' calls to Jawbone and the kills", name)
	}
	fmt.Fprintf(&b, "trace of %s:\n%s\n", what, strings.Join(lines, "\n"))
	return b.String()
}

// tailPattern finds the tails of tokens in a trace line (tokens are
// base64url).
var tailPattern = regexp.MustCompile(`…[A-Za-z0-9_-]{6}`)

// describeEntry shows a stored creds entry with its tokens cut to their tails.
func describeEntry(entry map[string]any, err error) string {
	switch {
	case err != nil:
		return "could not be read: " + err.Error()
	case entry == nil:
		return "none"
	}
	var parts []string
	for _, k := range mapKeys(entry) {
		val := fmt.Sprint(entry[k])
		switch k {
		case "access_token", "refresh_token":
			val = "…" + tail(val)
		case "scopes", "token_type", "layout", "obtained_at", "last_refreshed_at":
			continue
		}
		if len(val) > 160 {
			val = val[:160] + "…"
		}
		parts = append(parts, k+"="+val)
	}
	return strings.Join(parts, " ")
}

// fakeView is what the fake knows of an access token.
func (c *chaos) fakeView(token string, requestEpoch uint64, from time.Time) string {
	now := c.f.Epoch()
	account, valid := c.f.AccountOf(token)
	if valid {
		return fmt.Sprintf("the fake accepts it now (account %s)", account)
	}
	if c.f.RetiredBy(token, 0, time.Time{}) {
		return "the fake never issued it"
	}
	// RetiredBy is monotonic in the epoch: find the retirement's.
	retired := sort.Search(int(now)+1, func(e int) bool { return c.f.RetiredBy(token, uint64(e), time.Time{}) })
	view := fmt.Sprintf("the fake no longer accepts it; epoch now %d, the request began at epoch %d", now, requestEpoch)
	if retired <= int(now) {
		view += fmt.Sprintf("; a request the fake served retired it at epoch %d (see the trace's \"fake epoch\")", retired)
	} else {
		view += "; ended from outside or expired"
	}
	if c.f.RetiredBy(token, 0, from) && retired != 0 {
		view += "; it had expired when the request began"
	}
	return view
}

// --- requests ---------------------------------------------------------------

// chaosReq is one request a client makes about a name.
type chaosReq struct {
	who, name    string
	method, path string
	query        string // raw
	body         map[string]any
	anon         bool
}

func (q chaosReq) String() string {
	s := q.method + " " + q.path
	if q.query != "" {
		s += "?" + redactQuery(q.query)
	}
	if len(q.body) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(q.body)) {
			val := fmt.Sprint(q.body[k])
			switch k {
			case "access_token", "refresh_token":
				val = "…" + tail(val)
			case "redirect_url":
				val = "(the consent page's redirect)"
			}
			parts = append(parts, k+"="+val)
		}
		s += " " + strings.Join(parts, " ")
	}
	return s
}

// redactQuery cuts a callback's code and state to their tails.
func redactQuery(raw string) string {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "(unreadable)"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(q)) {
		v := q.Get(k)
		if k == "code" || k == "state" {
			v = "…" + tail(v)
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, "&")
}

// chaosResult is a request and what came of it.
type chaosResult struct {
	q        chaosReq
	epoch    uint64 // the fake's epoch right before the request was sent
	from, to time.Time
	reply    jbReply
	err      error
}

func (r *chaosResult) ok() bool { return r.err == nil && r.reply.Status/100 == 2 }

func (r *chaosResult) String() string {
	if r.err != nil {
		return "no answer: " + r.err.Error()
	}
	s := fmt.Sprintf("HTTP %d", r.reply.Status)
	if tok := r.reply.str("access_token"); tok != "" {
		s += " token …" + tail(tok)
	}
	if len(r.reply.Errors) > 0 {
		s += ": " + cut(r.reply.Errors[0], 240)
	}
	for _, w := range r.reply.Warnings {
		s += "; warning: " + cut(w, 240)
	}
	return s
}

func cut(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// send makes a request, traces it, and checks the invariants every reply
// must keep (1 and 4).
func (c *chaos) send(q chaosReq) *chaosResult {
	api := c.a
	if q.anon {
		api = c.anon
	}
	var body any
	if q.body != nil {
		body = q.body
	}
	r := &chaosResult{q: q}
	r.epoch = c.f.Epoch()
	r.from = time.Now()
	r.reply, r.err = api.doRaw(q.method, q.path, q.query, body)
	r.to = time.Now()
	c.tracef(q.who, q.name, "%s: %s (%s)", q, r, r.to.Sub(r.from).Round(time.Millisecond))
	c.mu.Lock()
	if r.err != nil {
		c.statuses["no answer"]++
	} else {
		c.statuses[strconv.Itoa(r.reply.Status)]++
	}
	c.mu.Unlock()
	c.checkServerError(r)
	c.checkToken(r)
	return r
}

// checkServerError: invariant 4.
func (c *chaos) checkServerError(r *chaosResult) {
	if r.err == nil && (r.reply.Status < 500 || r.reply.Status == http.StatusBadGateway) {
		return
	}
	if c.overlapsKill(r.from, r.to) {
		c.mu.Lock()
		c.exempted++
		c.mu.Unlock()
		return
	}
	c.violate(r.q.name, "%s %s by %s at +%.3fs got %s, and no kill of the plugin overlapped it",
		r.q.method, r.q.path, r.q.who, r.from.Sub(c.begun).Seconds(), r)
}

func (c *chaos) overlapsKill(from, to time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.kills {
		if !to.Before(k.from) && (k.to.IsZero() || !from.After(k.to)) {
			return true
		}
	}
	return false
}

// checkToken: invariant 1.
func (c *chaos) checkToken(r *chaosResult) {
	if r.err != nil || r.reply.Status != http.StatusOK || len(r.reply.Warnings) > 0 {
		return
	}
	token := r.reply.str("access_token")
	if token == "" || !c.f.RetiredBy(token, r.epoch, r.from) {
		return
	}
	c.violate(r.q.name, "%s: %s by %s at +%.3fs (answered at +%.3fs) handed out access token …%s without a warning, and Jawbone had retired it before the request began: %s\nthe reply: %s",
		r.q.name, r.q, r.q.who, r.from.Sub(c.begun).Seconds(), r.to.Sub(c.begun).Seconds(), tail(token),
		c.fakeView(token, r.epoch, r.from), cut(string(r.reply.Body), 2000))
}

// wrote records an acknowledged write of name's grant.
func (c *chaos) wrote(name string, r *chaosResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.history[name]
	if h.lastWrite == nil || r.from.After(h.lastWrite.from) {
		h.lastWrite = &chaosSpan{r.from, r.to}
		h.writeWhat = fmt.Sprintf("%s by %s at +%.3fs: %s", r.q, r.q.who, r.from.Sub(c.begun).Seconds(), r)
	}
}

// removed records a delete or revoke that may have forgotten name.
func (c *chaos) removed(name string, r *chaosResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.history[name]
	h.removals = append(h.removals, chaosSpan{r.from, r.to})
}

// --- sys/raw ----------------------------------------------------------------

// rawGet reads an entry of the mount's storage through sys/raw: its value,
// or "" and false when there is none. Nothing the plugin stores is
// compressed, and a value that merely begins like a compressed one (a salt
// beginning with "4" reads as LZ4) must not be taken for one.
func (c *chaos) rawGet(key string) (string, bool, error) {
	r, err := c.a.do(http.MethodGet, "sys/raw/logical/"+c.uuid+"/"+key, url.Values{"compressed": {"false"}}, nil)
	switch {
	case err != nil:
		return "", false, err
	case r.Status == http.StatusNotFound:
		return "", false, nil
	case r.Status != http.StatusOK:
		return "", false, fmt.Errorf("sys/raw %s: %s", key, r)
	}
	return r.str("value"), true, nil
}

// rawEntry is the stored creds entry of name, decoded, or nil.
func (c *chaos) rawEntry(name string) (map[string]any, error) {
	value, found, err := c.rawGet("creds/" + name)
	if err != nil || !found {
		return nil, err
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(value), &entry); err != nil {
		return nil, fmt.Errorf("the stored creds %q are not JSON: %v", name, err)
	}
	return entry, nil
}

// storedRefresh is the refresh token stored for name, "" if none.
func (c *chaos) storedRefresh(name string) (string, error) {
	entry, err := c.rawEntry(name)
	if err != nil || entry == nil {
		return "", err
	}
	s, _ := entry["refresh_token"].(string)
	return s, nil
}

// rawNames lists the stored creds through sys/raw.
func (c *chaos) rawNames() ([]string, error) {
	r, err := c.a.do(http.MethodGet, "sys/raw/logical/"+c.uuid+"/creds/", url.Values{"list": {"true"}}, nil)
	switch {
	case err != nil:
		return nil, err
	case r.Status == http.StatusNotFound:
		return nil, nil
	case r.Status != http.StatusOK:
		return nil, fmt.Errorf("listing sys/raw creds/: %s", r)
	}
	return replyKeys(r), nil
}

func replyKeys(r jbReply) []string {
	var names []string
	keys, _ := r.Data["keys"].([]any)
	for _, k := range keys {
		if s, ok := k.(string); ok {
			names = append(names, s)
		}
	}
	slices.Sort(names)
	return names
}

// --- the run ----------------------------------------------------------------

// seedNames imports a grant for every name before the faults begin.
func (c *chaos) seedNames() {
	rng := mrand.New(mrand.NewPCG(c.seed, 0x5eed))
	for _, name := range chaosNames {
		accounts := chaosAccounts(name)
		_, refresh := c.f.IssueTokensFor(accounts[rng.IntN(len(accounts))], nil)
		r := c.send(chaosReq{who: "setup", name: name, method: http.MethodPost, path: mountPath + "/creds/" + name,
			body: map[string]any{"refresh_token": refresh}})
		if !r.ok() {
			c.t.Fatalf("importing a first grant for %s: %s", name, r)
		}
		c.wrote(name, r)
	}
}

// run runs the clients for the duration, with faults, kills and periodic
// checks, then stops them and the faults.
func (c *chaos) run() {
	var clients sync.WaitGroup
	c.t.Cleanup(func() { c.cancel(); clients.Wait() })
	c.front.on.Store(true)
	for id := range chaosClients {
		clients.Add(1)
		go func() {
			defer clients.Done()
			c.client(id)
		}()
	}

	type event struct {
		at   time.Duration
		kill bool
	}
	var events []event
	rng := mrand.New(mrand.NewPCG(c.seed, 0x4b111))
	kills := max(1, int((c.duration+chaosKillEvery/2)/chaosKillEvery))
	span := (c.duration - 2*chaosKillMargin) / time.Duration(kills)
	for i := range kills {
		events = append(events, event{at: chaosKillMargin + time.Duration(i)*span + time.Duration(rng.Int64N(int64(span))), kill: true})
	}
	for at := chaosCheckEvery; at < c.duration; at += chaosCheckEvery {
		events = append(events, event{at: at})
	}
	slices.SortFunc(events, func(a, b event) int { return int(a.at - b.at) })
	c.tracef("checker", "", "seed %d: %d clients for %s, kills at %v", c.seed, chaosClients, c.duration,
		slices.Collect(func(yield func(string) bool) {
			for _, e := range events {
				if e.kill && !yield(e.at.Round(time.Millisecond).String()) {
					return
				}
			}
		}))
	killed := 0
	for _, e := range events {
		if !c.until(c.begun.Add(e.at)) {
			break
		}
		if e.kill {
			killed++
			c.killPlugin(killed)
		} else {
			c.checkStored(fmt.Sprintf("periodic check at +%s", e.at))
		}
	}
	c.until(c.begun.Add(c.duration))
	c.cancel()
	clients.Wait()
	c.front.on.Store(false)
	c.f.ClearFaults()
	// A call Vault gave up on may still be carried out late: the final
	// checks begin once the fake has answered every call.
	deadline := time.Now().Add(stopTimeout)
	for c.front.busy.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(pollEvery)
	}
	c.tracef("checker", "", "the clients stopped; no more faults; %d calls at the fake unanswered", c.front.busy.Load())
}

// until waits until t (a pace, not a signal) unless the run is stopped;
// it reports whether the run goes on.
func (c *chaos) until(t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// killPlugin kills every plugin process of Vault by its PID, and waits until
// the mount answers again (Vault starts the plugin on the next request).
func (c *chaos) killPlugin(n int) {
	c.writes.RLock()
	defer c.writes.RUnlock()
	vaultPID := c.v.proc.cmd.Process.Pid
	k := &chaosKill{from: time.Now()}
	c.mu.Lock()
	c.kills = append(c.kills, k)
	c.mu.Unlock()
	pids := pluginChildren(vaultPID)
	c.tracef("killer", "", "kill %d: SIGKILL to the plugin processes %v of vault (pid %d)", n, pids, vaultPID)
	killPlugins(c.t, pids)
	deadline := time.Now().Add(startTimeout)
	for {
		r, err := c.a.do(http.MethodGet, mountPath+"/config", nil, nil)
		if err == nil && r.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("seed %d: the mount did not answer within %s of killing its plugin (last: %v %s)", c.seed, startTimeout, err, r)
		}
		time.Sleep(pollEvery)
	}
	c.mu.Lock()
	k.to = time.Now()
	c.mu.Unlock()
	c.tracef("killer", "", "the mount answers again after %s; plugin processes now %v",
		k.to.Sub(k.from).Round(time.Millisecond), pluginChildren(vaultPID))
}

// --- the clients --------------------------------------------------------------

// chaosOp is one kind of operation and its weight, and how many in a
// hundred go to a steady name (-1: any name alike).
type chaosOp struct {
	name   string
	weight int
	steady int
	run    func(c *chaos, who string, ch chaosChoice)
}

// chaosChoice is everything random about one operation, drawn before it
// runs, so that a client's sequence of operations depends on the seed only.
type chaosChoice struct {
	op      *chaosOp
	name    string
	other   string // another name
	account string // of name's accounts
	flag    bool   // replace, for the operations that take it
	pause   time.Duration
}

// A steady name gets few writes: its tokens live to fall due. A forced
// refresh is what brings one back from a (faked) invalid_grant most often.
var chaosOps = []*chaosOp{
	{"read", 100, -1, (*chaos).opRead},
	{"status", 4, -1, (*chaos).opStatus},
	{"list", 2, -1, (*chaos).opList},
	{"forced refresh", 8, 15, (*chaos).opRefresh},
	{"import the grant it holds", 2, 3, (*chaos).opImportSame},
	{"import a new grant", 2, 3, (*chaos).opImportNew},
	{"import a grant kept as is", 2, 3, (*chaos).opImportKept},
	{"import an access token", 1, 3, (*chaos).opImportAccess},
	{"import another account's grant, replacing", 2, 3, (*chaos).opImportReplacing},
	{"import another name's grant", 2, 3, (*chaos).opImportOthers},
	{"exchange", 3, 3, (*chaos).opExchange},
	{"callback", 3, 3, (*chaos).opCallback},
	{"delete", 1, 3, (*chaos).opDelete},
	{"revoke", 1, 3, (*chaos).opRevoke},
}

func chaosDraw(rng *mrand.Rand) chaosChoice {
	total := 0
	for _, op := range chaosOps {
		total += op.weight
	}
	pick := rng.IntN(total)
	var ch chaosChoice
	for _, op := range chaosOps {
		if pick -= op.weight; pick < 0 {
			ch.op = op
			break
		}
	}
	anyName, busy, steady, roll := rng.IntN(len(chaosNames)), rng.IntN(len(chaosBusy)), rng.IntN(len(chaosSteady)), rng.IntN(100)
	otherOffset, account := 1+rng.IntN(len(chaosNames)-1), rng.IntN(2)
	ch.flag = rng.IntN(2) == 0
	ch.pause = time.Duration(50+rng.IntN(300)) * time.Millisecond
	switch {
	case ch.op.steady < 0:
		ch.name = chaosNames[anyName]
	case roll < ch.op.steady:
		ch.name = chaosSteady[steady]
	default:
		ch.name = chaosBusy[busy]
	}
	ch.other = chaosNames[(slices.Index(chaosNames, ch.name)+otherOffset)%len(chaosNames)]
	ch.account = chaosAccounts(ch.name)[account]
	return ch
}

// client runs operations until the run stops, paced by the seed.
func (c *chaos) client(id int) {
	rng := mrand.New(mrand.NewPCG(c.seed, 0xc11e0000+uint64(id)))
	who := fmt.Sprintf("c%d", id)
	for c.ctx.Err() == nil {
		ch := chaosDraw(rng)
		c.mu.Lock()
		c.ops[ch.op.name]++
		c.mu.Unlock()
		ch.op.run(c, who, ch)
		pace := time.NewTimer(ch.pause)
		select {
		case <-pace.C:
		case <-c.ctx.Done():
			pace.Stop()
		}
	}
}

func (c *chaos) credsPath(name string) string { return mountPath + "/creds/" + name }

func (c *chaos) opRead(who string, ch chaosChoice) {
	c.send(chaosReq{who: who, name: ch.name, method: http.MethodGet, path: c.credsPath(ch.name)})
}

func (c *chaos) opStatus(who string, ch chaosChoice) {
	c.send(chaosReq{who: who, name: ch.name, method: http.MethodGet, path: c.credsPath(ch.name) + "/status"})
}

func (c *chaos) opList(who string, _ chaosChoice) {
	c.send(chaosReq{who: who, method: http.MethodGet, path: mountPath + "/creds", query: "list=true"})
}

func (c *chaos) opRefresh(who string, ch chaosChoice) {
	c.send(chaosReq{who: who, name: ch.name, method: http.MethodPost, path: c.credsPath(ch.name) + "/refresh"})
}

// importGrant writes data to creds/name, recording an acknowledged write.
func (c *chaos) importGrant(who, name string, data map[string]any) *chaosResult {
	c.writes.RLock()
	defer c.writes.RUnlock()
	r := c.send(chaosReq{who: who, name: name, method: http.MethodPost, path: c.credsPath(name), body: data})
	if r.ok() {
		c.wrote(name, r)
	}
	return r
}

func (c *chaos) opImportSame(who string, ch chaosChoice) {
	refresh, err := c.storedRefresh(ch.name)
	if err != nil || refresh == "" {
		c.tracef(who, ch.name, "import the grant %s holds: none stored (%v)", ch.name, err)
		return
	}
	c.importGrant(who, ch.name, map[string]any{"refresh_token": refresh})
}

func (c *chaos) opImportNew(who string, ch chaosChoice) {
	_, refresh := c.f.IssueTokensFor(ch.account, nil)
	c.importGrant(who, ch.name, map[string]any{"refresh_token": refresh, "replace": ch.flag})
}

func (c *chaos) opImportKept(who string, ch chaosChoice) {
	// Said to expire no later than it does at the fake: Format drops the
	// fraction of a second.
	issuing := time.Now()
	access, refresh := c.f.IssueTokensFor(ch.account, nil)
	expires := issuing.Add(chaosTokenLifetime - time.Second).UTC().Format(time.RFC3339)
	c.importGrant(who, ch.name, map[string]any{"access_token": access, "refresh_token": refresh, "expires_at": expires, "replace": ch.flag})
}

func (c *chaos) opImportAccess(who string, ch chaosChoice) {
	access, _ := c.f.IssueTokensFor(ch.account, nil)
	c.importGrant(who, ch.name, map[string]any{"access_token": access, "replace": ch.flag})
}

func (c *chaos) opImportReplacing(who string, ch chaosChoice) {
	_, refresh := c.f.IssueTokensFor(ch.account, nil)
	c.importGrant(who, ch.name, map[string]any{"refresh_token": refresh, "replace": true})
}

// opImportOthers imports the grant another name holds, which must be
// refused: if it is not, the names must not both hold it now.
func (c *chaos) opImportOthers(who string, ch chaosChoice) {
	refresh, err := c.storedRefresh(ch.other)
	if err != nil || refresh == "" {
		c.tracef(who, ch.name, "import the grant %s holds into %s: none stored (%v)", ch.other, ch.name, err)
		return
	}
	if r := c.importGrant(who, ch.name, map[string]any{"refresh_token": refresh}); r.ok() {
		// Unless the other name was forgotten meanwhile, one of them holds
		// it no more.
		c.checkStored(fmt.Sprintf("%s imported the grant …%s of %s into %s: %s", who, tail(refresh), ch.other, ch.name, r))
	}
}

// authorize starts an authorization of name, signs in at the fake as
// account and plays the browser on its consent page: where it lands.
func (c *chaos) authorize(who string, ch chaosChoice) (string, bool) {
	q := url.Values{"name": {ch.name}}
	if ch.flag {
		q.Set("replace", "true")
	}
	r := c.send(chaosReq{who: who, name: ch.name, method: http.MethodGet, path: mountPath + "/auth-url", query: q.Encode()})
	if !r.ok() {
		return "", false
	}
	c.signIn.Lock()
	c.f.SetSignedIn(ch.account)
	landed, err := c.visit(r.reply.str("url"))
	c.signIn.Unlock()
	if err != nil {
		c.violate(ch.name, "%s: the fake's consent page for %s as %s: %v", who, ch.name, ch.account, err)
		return "", false
	}
	return landed, true
}

// visit is the browser at the consent page (which approves at once): where
// it is sent back to.
func (c *chaos) visit(authURL string) (string, error) {
	if !strings.HasPrefix(authURL, c.f.AuthURL+"?") {
		return "", fmt.Errorf("the authorization URL %q is not at the fake", authURL)
	}
	resp, err := noRedirects.Get(authURL)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, c.f.RedirectURI+"?") {
		return "", fmt.Errorf("want a redirect to %s, got %d to %q", c.f.RedirectURI, resp.StatusCode, loc)
	}
	return loc, nil
}

func (c *chaos) opExchange(who string, ch chaosChoice) {
	landed, ok := c.authorize(who, ch)
	if !ok {
		return
	}
	c.writes.RLock()
	defer c.writes.RUnlock()
	r := c.send(chaosReq{who: who, name: ch.name, method: http.MethodPost, path: mountPath + "/exchange", body: map[string]any{"redirect_url": landed}})
	if !r.ok() {
		return
	}
	if got := r.reply.str("name"); got != ch.name {
		c.violate(ch.name, "%s: an exchange of an authorization started for %s stored creds %q", who, ch.name, got)
	}
	c.wrote(ch.name, r)
}

func (c *chaos) opCallback(who string, ch chaosChoice) {
	landed, ok := c.authorize(who, ch)
	if !ok {
		return
	}
	u, err := url.Parse(landed)
	if err != nil {
		c.violate(ch.name, "%s: the fake redirected to %q: %v", who, landed, err)
		return
	}
	c.writes.RLock()
	defer c.writes.RUnlock()
	r := c.send(chaosReq{who: who, name: ch.name, method: http.MethodGet, path: mountPath + "/callback", query: u.RawQuery, anon: true})
	if r.err == nil && r.reply.Status == http.StatusOK {
		c.wrote(ch.name, r)
	}
}

// opDelete and opRevoke check storage right after: a name lost by the
// forgetting of another would otherwise be written again, and the loss not
// be seen.
func (c *chaos) opDelete(who string, ch chaosChoice) {
	c.writes.RLock()
	r := c.send(chaosReq{who: who, name: ch.name, method: http.MethodDelete, path: c.credsPath(ch.name)})
	c.removed(ch.name, r)
	c.writes.RUnlock()
	c.checkStored(fmt.Sprintf("after %s's delete of %s", who, ch.name))
}

func (c *chaos) opRevoke(who string, ch chaosChoice) {
	c.writes.RLock()
	r := c.send(chaosReq{who: who, name: ch.name, method: http.MethodPost, path: c.credsPath(ch.name) + "/revoke"})
	// A refusal (4xx) or the plugin's 502 (Jawbone did not, or may have,
	// disconnected the app) forgets nothing; anything else may have.
	if r.err != nil || (r.reply.Status/100 != 4 && r.reply.Status != http.StatusBadGateway) {
		c.removed(ch.name, r)
	}
	c.writes.RUnlock()
	c.checkStored(fmt.Sprintf("after %s's revoke of %s", who, ch.name))
}

// --- the checks of storage ----------------------------------------------------

// checkStored pauses the writes and checks what storage holds: no two names
// hold one grant (invariant 2), nothing acknowledged was lost (invariant 3),
// the mount lists exactly the stored creds, and the indexes hold them. It
// returns the stored entries.
func (c *chaos) checkStored(why string) map[string]map[string]any {
	c.writes.Lock()
	defer c.writes.Unlock()
	names, err := c.rawNames()
	if err != nil {
		c.violate("", "%s: listing the stored creds through sys/raw: %v", why, err)
		return nil
	}
	entries := map[string]map[string]any{}
	holders := map[string][]string{}
	for _, name := range names {
		entry, err := c.rawEntry(name)
		if err != nil || entry == nil {
			c.violate(name, "%s: sys/raw lists creds %q but reading it gives %v, %v", why, name, entry, err)
			continue
		}
		entries[name] = entry
		refresh, _ := entry["refresh_token"].(string)
		holders[refresh] = append(holders[refresh], name)
	}
	for refresh, hs := range holders {
		if len(hs) > 1 {
			var b strings.Builder
			for _, h := range hs {
				b.WriteString(c.about(h))
			}
			c.violate(hs[0], "%s: names %v all hold grant …%s\n%s", why, hs, tail(refresh), b.String())
		}
	}
	r, err := c.a.do(http.MethodGet, mountPath+"/creds", url.Values{"list": {"true"}}, nil)
	switch {
	case err != nil || (r.Status != http.StatusOK && r.Status != http.StatusNotFound):
		c.violate("", "%s: listing jawbone/creds: %v %s", why, err, r)
	case !slices.Equal(replyKeys(r), names):
		c.violate("", "%s: jawbone/creds lists %v, but storage holds %v", why, replyKeys(r), names)
	}
	c.checkStatus(why, len(names))
	c.checkLost(why, entries)
	c.checkIndexes(why, entries)
	c.tracef("checker", "", "%s: %d creds stored, each grant held once, none lost, all listed and indexed", why, len(names))
	return entries
}

// finalChecks runs once the clients and the faults have stopped.
func (c *chaos) finalChecks() {
	c.tracef("checker", "", "the final checks")
	entries := c.checkStored("at the end")
	if entries == nil {
		return
	}
	stored := slices.Sorted(maps.Keys(entries))
	if listed := c.v.ListCreds(); !slices.Equal(listed, stored) {
		c.violate("", "at the end: vault list jawbone/creds shows %v, but storage holds %v", listed, stored)
	}
	c.checkRecovery(entries)
}

// checkLost: invariant 3.
func (c *chaos) checkLost(why string, entries map[string]map[string]any) {
	c.mu.Lock()
	type lost struct{ name, what string }
	var found []lost
	for _, name := range chaosNames {
		h := c.history[name]
		if h.lastWrite == nil || entries[name] != nil {
			continue
		}
		excused := slices.ContainsFunc(h.removals, func(s chaosSpan) bool { return !s.to.Before(h.lastWrite.from) })
		if !excused {
			found = append(found, lost{name, h.writeWhat})
		}
	}
	c.mu.Unlock()
	for _, l := range found {
		c.violate(l.name, "%s: the grant of %s was lost: nothing is stored, and no delete or revoke of it ended after its last acknowledged write began (%s)", why, l.name, l.what)
	}
}

// checkIndexes: the grant index names each stored grant's holder, and the
// account index lists each name under its account (the layout in the
// plugin's registry.go, keyed by the HMAC of the mount's salt).
func (c *chaos) checkIndexes(why string, entries map[string]map[string]any) {
	if len(entries) == 0 {
		return
	}
	salt, found, err := c.rawGet("salt")
	if err != nil || !found {
		c.violate("", "%s: reading the mount's salt: %v (found %v)", why, err, found)
		return
	}
	hmacOf := func(data string) []byte {
		h := hmac.New(sha256.New, []byte(salt))
		h.Write([]byte(data))
		return h.Sum(nil)
	}
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		entry := entries[name]
		// The plugin's own background work (a refresh, a check that learns
		// an account) goes on while the clients' writes are paused: an entry
		// that changed between its read and its index's is checked again
		// as it is now.
		for range 3 {
			problem := c.indexProblem(hmacOf, name, entry)
			if problem == "" {
				break
			}
			now, err := c.rawEntry(name)
			if err == nil && now != nil && !sameGrant(now, entry) {
				entry = now
				continue
			}
			c.violate(name, "%s: %s", why, problem)
			break
		}
	}
}

// indexProblem is what the indexes get wrong about name's stored entry,
// "" if nothing.
func (c *chaos) indexProblem(hmacOf func(string) []byte, name string, entry map[string]any) string {
	refresh, _ := entry["refresh_token"].(string)
	h := hex.EncodeToString(hmacOf("grant:" + refresh)[:16])
	claim, found, err := c.rawGet("index/grant/" + h[:2] + "/" + h[2:])
	var holder struct {
		Name string `json:"name"`
	}
	if err == nil && found {
		err = json.Unmarshal([]byte(claim), &holder)
	}
	if err != nil || !found || holder.Name != name {
		return fmt.Sprintf("the grant index entry of the grant of %s names %q (found %v, %v)", name, holder.Name, found, err)
	}
	dir := "index/account/00/unknown/"
	if xid, _ := entry["account_xid"].(string); xid != "" {
		a := fmt.Sprintf("%016x", max(binary.BigEndian.Uint64(hmacOf("account:" + xid)[:8]), 1))
		dir = "index/account/" + a[:2] + "/" + a[2:] + "/"
	}
	if _, found, err := c.rawGet(dir + name); err != nil || !found {
		return fmt.Sprintf("the account index has no entry for %s under its account %v (%v)", name, entry["account_xid"], err)
	}
	return ""
}

// sameGrant reports whether two reads of a creds entry hold the same grant
// of the same account.
func sameGrant(a, b map[string]any) bool {
	return a["refresh_token"] == b["refresh_token"] && a["account_xid"] == b["account_xid"]
}

// checkStatus: the plugin counts the stored creds and finds none sharing a
// grant, once it has loaded its schedule (which it does at the first
// rollback tick after it started: after a kill, up to a minute later; until
// then its figures are partial, and not compared).
func (c *chaos) checkStatus(why string, stored int) {
	r, err := c.a.do(http.MethodGet, mountPath+"/status", nil, nil)
	switch {
	case err != nil || r.Status != http.StatusOK:
		c.violate("", "%s: reading jawbone/status: %v %s", why, err, r)
		return
	case fmt.Sprint(r.Data["creds_schedule_loaded"]) != "1":
		c.tracef("checker", "", "%s: the plugin has not loaded its schedule since it started; status not compared", why)
		return
	}
	if n := fmt.Sprint(r.Data["creds"]); n != strconv.Itoa(stored) {
		c.violate("", "%s: jawbone/status counts %s creds, storage holds %d", why, n, stored)
	}
	if n := fmt.Sprint(r.Data["creds_sharing_a_grant"]); n != "0" {
		c.violate("", "%s: jawbone/status reports %s creds sharing a grant", why, n)
	}
}

// checkRecovery: with Jawbone healthy again, a forced refresh of each
// stored name (once nothing is in doubt: 409 until then) hands out a token
// Jawbone accepts, or says that Jawbone rejected the grant, and the fake
// agrees that it no longer knows it.
func (c *chaos) checkRecovery(entries map[string]map[string]any) {
	for _, name := range chaosNames {
		entry := entries[name]
		if entry == nil {
			continue
		}
		refresh, _ := entry["refresh_token"].(string)
		var r *chaosResult
		deadline := time.Now().Add(10 * landingBound())
		for {
			r = c.send(chaosReq{who: "checker", name: name, method: http.MethodPost, path: c.credsPath(name) + "/refresh"})
			if r.err != nil || r.reply.Status != http.StatusConflict || time.Now().After(deadline) {
				break
			}
			time.Sleep(pollEvery)
		}
		switch {
		case r.ok() && len(r.reply.Warnings) == 0 && c.f.TokenValid(r.reply.str("access_token")):
		case r.err == nil && r.reply.Status == http.StatusBadRequest && !c.f.GrantActive(refresh):
		default:
			c.violate(name, "at the end, with Jawbone healthy: a forced refresh of %s got %s (the fake knows its grant: %v)", name, r, c.f.GrantActive(refresh))
		}
	}
}

// landingBound is how long an attempt may stay in doubt.
func landingBound() time.Duration { return 2 * chaosRequestTimeout }

// report fails the test with every violation, writing the whole trace to a
// file, and logs what the run did.
func (c *chaos) report() {
	c.mu.Lock()
	defer c.mu.Unlock()
	var summary strings.Builder
	fmt.Fprintf(&summary, "seed %d: %s, %d clients, %d plugin kills (%d requests overlapping them exempted from the 5xx check)\noperations:", c.seed, c.duration, chaosClients, len(c.kills), c.exempted)
	for _, op := range chaosOps {
		fmt.Fprintf(&summary, " %s %d;", op.name, c.ops[op.name])
	}
	summary.WriteString("\nanswers:")
	for _, s := range slices.Sorted(maps.Keys(c.statuses)) {
		fmt.Fprintf(&summary, " %s×%d", s, c.statuses[s])
	}
	c.front.mu.Lock()
	summary.WriteString("\nfaults injected:")
	for _, k := range slices.Sorted(maps.Keys(c.front.injected)) {
		fmt.Fprintf(&summary, "\n  %4d  %s", c.front.injected[k], k)
	}
	c.front.mu.Unlock()
	c.t.Log(summary.String())
	if len(c.violations) == 0 && os.Getenv("CHAOS_TRACE") == "" {
		return
	}
	file := filepath.Join(loadEnv(c.t).RepoRoot, "e2e", "artifacts", fmt.Sprintf("chaos-%d.log", c.seed))
	var all strings.Builder
	for _, l := range c.trace {
		all.WriteString(l.String() + "\n")
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		c.t.Logf("writing the trace: %v", err)
	} else if err := os.WriteFile(file, []byte(all.String()), 0o644); err != nil {
		c.t.Logf("writing the trace: %v", err)
	} else {
		c.t.Logf("the whole trace: %s", file)
	}
	for _, v := range c.violations {
		c.t.Error(v)
	}
}
