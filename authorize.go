package jawbone

// The authorization-code flow, from auth-url to stored creds: a pending
// authorization is stored under a random state, the browser goes to
// Jawbone, and the redirect it comes back with — pasted into exchange, or
// delivered to the callback — is checked and its code exchanged.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/jawbone"
)

const (
	// stateTTL matches the life of a Jawbone authorization code: a state older
	// than that could not come back with a code that still works.
	stateTTL = 10 * time.Minute
	// stateBytes gives 256 random bits, well above the 128 a state needs.
	stateBytes = 32
	// maxStatesPerName bounds the authorizations of one creds name started
	// in the last stateTTL and not completed: a handful is plenty for a
	// person, and whoever may start authorizations only for a name of
	// their own (auth-url/<name>) cannot crowd out everyone else's.
	maxStatesPerName = 5
	// maxStatesPerMount bounds them for the mount, so that storage cannot
	// be filled: far above what people start in ten minutes, so that only
	// an operator's mistake (a script in a loop over many names) reaches it.
	maxStatesPerMount = 100_000
	// maxRedirectBytes bounds a pasted redirect URL and a callback's query:
	// far above any real redirect (a few hundred bytes), far below what
	// could hurt.
	maxRedirectBytes = 8 << 10
)

// pendingAuth is an authorization started at auth-url and not yet
// completed, stored under a hash of its state.
type pendingAuth struct {
	Name        string    `json:"name"`
	Scopes      []string  `json:"scopes"`
	RedirectURI string    `json:"redirect_uri"`
	ExpiresAt   time.Time `json:"expires_at"`
	// Replace allows another account's grant to replace working creds.
	Replace bool `json:"replace,omitempty"`
	// Via is how the authorization may be completed; "" in a state stored
	// before it was recorded (see via).
	Via completion `json:"via,omitempty"`
	// Spent is set when the state has been used: it is kept, spent, until
	// it expires, so that a second use (a reloaded callback page, a paste
	// repeated) can be told what became of the first.
	Spent bool `json:"spent,omitempty"`
	// Completed is set when the authorization of the spent state stored
	// its grant, Failed when it ended without; neither, while it runs.
	Completed bool `json:"completed,omitempty"`
	Failed    bool `json:"failed,omitempty"`
}

// completion is the way an authorization's redirect comes back to Vault.
type completion string

const (
	// byExchange: the redirect_uri is elsewhere (kiefer's way); the URL
	// the browser landed on is pasted into exchange, which needs a Vault
	// token with update on it.
	byExchange completion = "exchange"
	// byCallback: the redirect_uri is the mount's callback, to which
	// Jawbone sends the browser, without a Vault token.
	byCallback completion = "callback"
)

// completionFor is how an authorization whose redirect_uri is redirectURI
// is completed on mount.
func completionFor(redirectURI, mount string) completion {
	if callbackInUse(redirectURI, mount) {
		return byCallback
	}
	return byExchange
}

// via is how p may be completed on mount. A state stored before states
// recorded it is completed the way its redirect_uri says.
func (p *pendingAuth) via(mount string) completion {
	if p.Via != "" {
		return p.Via
	}
	return completionFor(p.RedirectURI, mount)
}

// authRequest is what auth-url was asked for.
type authRequest struct {
	Name    string
	Scopes  []string // nil: the config's
	Replace bool
}

// startedAuth is a stored pending authorization and where to send the user.
type startedAuth struct {
	pending *pendingAuth
	state   string
	url     string
	// callbackInUse: the browser comes back to the mount's callback, so
	// there is nothing to paste.
	callbackInUse bool
	warning       string
}

// pinnedWarning tells whoever starts an authorization of a name that holds
// a working grant that only its account can complete it.
func pinnedWarning(current *grant, ar authRequest) string {
	if current == nil || current.NeedsReauth || ar.Replace {
		return ""
	}
	account := "its Jawbone account"
	if current.AccountXID != "" {
		account = "Jawbone account " + current.AccountXID
	}
	return fmt.Sprintf("creds %q hold a grant: only %s can complete this authorization; another account needs %s=true", ar.Name, account, keyReplace)
}

// startAuthorization checks the request, stores a pending authorization
// under a new state and returns the URL to send the user to. mount is the
// mount the request came in on.
func (b *backend) startAuthorization(ctx context.Context, s logical.Storage, mount string, ar authRequest) (*startedAuth, error) {
	cfg, err := b.requireConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	if err := validateCredsName(ar.Name); err != nil {
		return nil, err
	}
	scopes := cfg.Scopes
	if ar.Scopes != nil {
		var err error
		if scopes, err = normalizeScopes(keyScopes, ar.Scopes); err != nil {
			return nil, err
		}
	}
	pending := &pendingAuth{Name: ar.Name, Scopes: scopes, RedirectURI: cfg.RedirectURI, Replace: ar.Replace,
		Via: completionFor(cfg.RedirectURI, mount)}
	current, err := b.registry.get(ctx, s, ar.Name)
	if err != nil {
		return nil, err
	}
	state, err := b.issueState(ctx, s, pending)
	if err != nil {
		return nil, err
	}
	return &startedAuth{
		pending:       pending,
		state:         state,
		url:           b.client(cfg).AuthCodeURL(scopes, state),
		callbackInUse: pending.Via == byCallback,
		warning:       pinnedWarning(current, ar),
	}, nil
}

// Where states are kept. A state is stored under a key derived from the
// state a browser brings back (stateKey), as before; beside it, until its
// authorization completes, its name keeps a marker,
// state-name/<name>/<expiry>-<hash>, so that the states of one name are
// counted by listing a handful of keys rather than every pending state of
// the mount, which a mount of many users would pay on every auth-url. The
// mount's own count comes from the sweep, which lists every state once a
// tick anyway (stateCensus). States issued before the markers existed
// count for no name, for the ten minutes they live.
const stateNamePrefix = "state-name/"

// nameMarkerKey is the marker, under name, of the state stored at key.
func nameMarkerKey(name, key string) string {
	return stateNamePrefix + name + "/" + strings.TrimPrefix(key, stateStoragePrefix)
}

// issueState stores pending under a new state within the limits, and
// returns the state. The states of one name are issued one at a time, so
// that two requests cannot both take its last place.
func (b *backend) issueState(ctx context.Context, s logical.Storage, pending *pendingAuth) (string, error) {
	defer b.states.lockName(pending.Name)()
	if err := b.roomForName(ctx, s, pending.Name); err != nil {
		return "", err
	}
	if err := b.roomOnTheMount(ctx, s, pending.Name); err != nil {
		return "", err
	}
	pending.ExpiresAt = b.now().Add(stateTTL)
	state, err := newState(pending.ExpiresAt)
	if err != nil {
		return "", err
	}
	key, _ := stateKey(state)
	marker := nameMarkerKey(pending.Name, key)
	if err := putJSON(ctx, s, marker, struct{}{}); err != nil {
		return "", err
	}
	if err := putJSON(ctx, s, key, pending); err != nil {
		if derr := deleteEntry(ctx, s, marker); derr != nil {
			b.log().Warn("could not delete the marker of a state not stored", "name", pending.Name, "error", derr)
		}
		return "", err
	}
	return state, nil
}

// roomForName refuses a state for name when it has maxStatesPerName that
// have not expired. Markers of expired states are deleted on the way (the
// sweep deletes them too).
func (b *backend) roomForName(ctx context.Context, s logical.Storage, name string) error {
	prefix := stateNamePrefix + name + "/"
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("listing the states of %q: %w", name, err)
	}
	now := b.now()
	var live []time.Time
	for _, k := range keys {
		if expires, ok := keyExpiry(k); ok && now.Before(expires) {
			live = append(live, expires)
		} else if err := deleteEntry(ctx, s, prefix+k); err != nil {
			b.log().Warn("could not delete the marker of an expired state", "name", name, "error", err)
		}
	}
	if len(live) < maxStatesPerName {
		return nil
	}
	return badRequest("creds %q have %d authorizations started in the last %s and not completed, the most one name may have (a state is kept, used or not, until it expires)",
		name, len(live), shortDuration(stateTTL)).withFix(fixNameStatesFull(name, slices.MinFunc(live, time.Time.Compare)))
}

// roomOnTheMount takes a place for one more state of the mount, counting
// the states again (after sweeping the expired ones) only when the count is
// unknown or at the ceiling: a refusal is always made on a fresh count.
func (b *backend) roomOnTheMount(ctx context.Context, s logical.Storage, name string) error {
	ceiling := b.states.limit()
	if b.states.census.take(ceiling) {
		return nil
	}
	if err := b.sweepExpiredStates(ctx, s); err != nil {
		b.log().Warn("sweeping expired states failed", "error", err)
	}
	if b.states.census.take(ceiling) {
		return nil
	}
	return badRequest("%d authorizations were started on this mount in the last %s, the most it keeps (a state is kept, used or not, until it expires)",
		b.states.census.count(), shortDuration(stateTTL)).withFix(fixTooManyStates(name))
}

// newState is a random state that carries its expiry: 256 random bits, a
// dot, and the expiry in Unix seconds, base 36. The expiry goes into the
// storage key too, so that the sweep finds expired states by their keys
// alone, without reading (and unwrapping) every pending one.
func newState(expires time.Time) (string, error) {
	buf := make([]byte, stateBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generating state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(buf) + "." + strconv.FormatInt(expires.Unix(), 36), nil
}

// stateKey is where state is stored: state/<expiry>-<SHA-256 of state>, so
// that the value a browser carries never appears as a storage key. ok is
// false for a value that is not a state of this form.
func stateKey(state string) (key string, ok bool) {
	_, enc, found := strings.Cut(state, ".")
	expires, err := strconv.ParseInt(enc, 36, 64)
	if !found || err != nil || expires <= 0 {
		return "", false
	}
	sum := sha256.Sum256([]byte(state))
	return stateStoragePrefix + strconv.FormatInt(expires, 10) + "-" + hex.EncodeToString(sum[:]), true
}

// legacyStateKey is where v0.1.0 stored a state: under its hash alone. A
// state issued before an upgrade is still honoured for its ten minutes.
func legacyStateKey(state string) string {
	sum := sha256.Sum256([]byte(state))
	return stateStoragePrefix + hex.EncodeToString(sum[:])
}

// keyExpiry is the expiry a state's key carries; ok is false for a key of
// the legacy form.
func keyExpiry(key string) (time.Time, bool) {
	unix, _, found := strings.Cut(key, "-")
	secs, err := strconv.ParseInt(unix, 10, 64)
	if !found || err != nil {
		return time.Time{}, false
	}
	return time.Unix(secs, 0), true
}

// pendingStates issues and spends the states of this node's mount.
type pendingStates struct {
	// spending makes "get, then mark spent" of a state atomic on this
	// node (by the state's key), so that two requests racing with one
	// state cannot both use it.
	spending keyLocks
	// issuing serialises issuing the states of one name.
	issuing keyLocks
	// census counts the states of the mount.
	census stateCensus
	// ceiling bounds them; 0 is maxStatesPerMount (tests lower it).
	ceiling int
}

// lockName takes the issuing lock of name and returns its release.
func (ps *pendingStates) lockName(name string) (unlock func()) {
	return ps.issuing.lock(name)
}

func (ps *pendingStates) limit() int {
	if ps.ceiling > 0 {
		return ps.ceiling
	}
	return maxStatesPerMount
}

// stateCensus is how many states the mount holds, as far as this node (the
// one that issues them: auth-url is forwarded to it) knows: counted by the
// last sweep, plus those issued since. It is unknown until the first sweep
// on this node, and may be off by the states issued while a sweep ran:
// only a fresh count refuses a state.
type stateCensus struct {
	mu    sync.Mutex
	known bool
	n     int
}

// take counts one more state if the count is known and below ceiling.
func (c *stateCensus) take(ceiling int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known || c.n >= ceiling {
		return false
	}
	c.n++
	return true
}

// set records a fresh count.
func (c *stateCensus) set(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.known, c.n = true, n
}

func (c *stateCensus) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// spend returns the pending authorization for state and, when it is
// completed the way the caller completes it (way, on mount), marks it
// spent, whether or not the caller goes on to succeed; spent says so. nil
// means unknown. An entry already spent, or to be completed the other way,
// is returned as it is, for the caller to refuse: whoever sees the URL a
// browser landed on for exchange cannot spend its state at the callback.
func (sp *pendingStates) spend(ctx context.Context, s logical.Storage, state string, way completion, mount string) (p *pendingAuth, spent bool, err error) {
	key := storedStateKey(state)
	defer sp.spending.lock(key)()
	var stored pendingAuth
	found, err := getJSON(ctx, s, key, &stored)
	if !found || err != nil || stored.Spent || stored.via(mount) != way {
		return pendingOrNil(found, &stored), false, err
	}
	marked := stored
	marked.Spent = true
	if err := putJSON(ctx, s, key, &marked); err != nil {
		return nil, false, err
	}
	return &stored, true, nil
}

// ended records how the authorization of a state it spent ended: its grant
// stored (completed), or not. A completed authorization no longer counts
// against its name (its marker goes): a name authorized again and again is
// not stopped, while states left unfinished, or spent on a failure, count
// until they expire, so that nobody frees a place by spending states.
func (sp *pendingStates) ended(ctx context.Context, s logical.Storage, state string, p *pendingAuth, completed bool) error {
	key := storedStateKey(state)
	defer sp.spending.lock(key)()
	done := *p
	done.Spent, done.Completed, done.Failed = true, completed, !completed
	if err := putJSON(ctx, s, key, &done); err != nil || !completed {
		return err
	}
	return deleteEntry(ctx, s, nameMarkerKey(p.Name, key))
}

func storedStateKey(state string) string {
	if key, ok := stateKey(state); ok {
		return key
	}
	return legacyStateKey(state)
}

func pendingOrNil(found bool, p *pendingAuth) *pendingAuth {
	if !found {
		return nil
	}
	return p
}

// sweepExpiredStates deletes authorizations nobody completed, with their
// names' markers, so abandoned auth-url calls do not accumulate in storage,
// and counts the states left for the census. An entry that cannot be read
// is deleted too: it can never be completed. One that cannot be deleted
// does not stop the sweep.
func (b *backend) sweepExpiredStates(ctx context.Context, s logical.Storage) error {
	keys, err := s.List(ctx, stateStoragePrefix)
	if err != nil {
		return fmt.Errorf("listing states: %w", err)
	}
	now := b.now()
	var errs []error
	kept := 0
	for _, k := range keys {
		key := stateStoragePrefix + k
		expires, ok := keyExpiry(k)
		var p *pendingAuth
		if !ok { // v0.1.0's form: the expiry is in the entry
			p = readState(ctx, s, key)
			expires = p.expiry()
		} else if !now.Before(expires) {
			p = readState(ctx, s, key)
		}
		if now.Before(expires) {
			kept++
			continue
		}
		if err := forgetState(ctx, s, key, p); err != nil {
			errs = append(errs, err)
			kept++
		}
	}
	b.states.census.set(kept)
	return errors.Join(errs...)
}

// readState is the pending authorization stored at key; nil when it cannot
// be read.
func readState(ctx context.Context, s logical.Storage, key string) *pendingAuth {
	var p pendingAuth
	if found, err := getJSON(ctx, s, key, &p); err != nil || !found {
		return nil
	}
	return &p
}

// expiry is when p expires; an entry that could not be read (nil) has.
func (p *pendingAuth) expiry() time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.ExpiresAt
}

// forgetState deletes the expired state p stored at key, then its name's
// marker (none for an entry that could not be read, or one issued before
// markers: deleting a key that is not there is no error).
func forgetState(ctx context.Context, s logical.Storage, key string, p *pendingAuth) error {
	if err := deleteEntry(ctx, s, key); err != nil {
		return err
	}
	if p == nil || validateCredsName(p.Name) != nil {
		return nil
	}
	return deleteEntry(ctx, s, nameMarkerKey(p.Name, key))
}

// redirect is what Jawbone sent the browser back with.
type redirect struct {
	Code, State      string
	Error, ErrorDesc string
	// pasted: it came from a URL pasted into exchange (raw), which a shell
	// may have cut short.
	pasted bool
	raw    string
	// name is the creds name its state was bound to, once the state is
	// found.
	name string
}

// redirectFromQuery reads a redirect's parameters. where names the query
// in errors ("redirect_url", "the query"). It does not judge code or state:
// that comes after the state is spent.
func redirectFromQuery(where string, q url.Values) (*redirect, error) {
	for _, key := range []string{keyCode, keyState, keyError, keyErrorDesc} {
		if len(q[key]) > 1 {
			return nil, badRequest("%s has %d %q parameters; a Jawbone redirect has one", where, len(q[key]), key)
		}
	}
	return &redirect{Code: q.Get(keyCode), State: q.Get(keyState),
		Error: q.Get(keyError), ErrorDesc: q.Get(keyErrorDesc)}, nil
}

// parseRedirectURL checks that raw, a URL pasted into exchange, is a
// redirect to redirectURI, and reads its parameters.
func parseRedirectURL(raw, redirectURI string) (*redirect, error) {
	if len(raw) > maxRedirectBytes {
		return nil, badRequest("%s is %d bytes, more than a redirect can be (%d): paste only the URL from the address bar", keyRedirectURL, len(raw), maxRedirectBytes)
	}
	got, err := url.Parse(raw)
	if err != nil || got.Scheme == "" || got.Host == "" {
		return nil, badRequest("%s is not an absolute URL: paste the full URL from the browser's address bar, starting with %s", keyRedirectURL, redirectURI)
	}
	want, err := url.Parse(redirectURI)
	if err != nil {
		return nil, badRequest("the configured %s does not parse", keyRedirectURI).withFix(fixRewriteConfigField(keyRedirectURI))
	}
	if !sameEndpoint(got, want) {
		return nil, badRequest("%s is for %s://%s%s but the configured %s is %s: paste the URL the browser landed on after Jawbone's consent page",
			keyRedirectURL, got.Scheme, got.Host, got.Path, keyRedirectURI, redirectURI)
	}
	q, err := url.ParseQuery(got.RawQuery)
	if err != nil {
		return nil, badRequest("%s has a malformed query string: %v", keyRedirectURL, err)
	}
	r, err := redirectFromQuery(keyRedirectURL, q)
	if r != nil {
		r.pasted, r.raw = true, raw
	}
	return r, err
}

func fixRewriteConfigField(key string) remedy {
	return func(m string) string { return "rewrite it with " + vaultCmd(m, "write", "config "+key+"=<value>") }
}

// sameEndpoint compares origin (scheme, host and port, as a client reaches
// them: a browser's address bar drops a default port) and path, ignoring a
// trailing slash.
func sameEndpoint(a, b *url.URL) bool {
	return origin(a) == origin(b) && strings.TrimSuffix(a.Path, "/") == strings.TrimSuffix(b.Path, "/")
}

// pastedRedirect is what exchange was given: the URL the browser landed on,
// or its code and state.
type pastedRedirect struct {
	URL, Code, State string
}

// redirect reads the pasted redirect, which must be for redirectURI.
func (p pastedRedirect) redirect(redirectURI string) (*redirect, error) {
	switch {
	case p.URL != "" && (p.Code != "" || p.State != ""):
		return nil, badRequest("give either %s, or %s and %s, not both", keyRedirectURL, keyCode, keyState)
	case p.URL != "":
		return parseRedirectURL(p.URL, redirectURI)
	case p.Code == "" && p.State == "":
		return nil, badRequest("%s is required: paste the full URL the browser landed on after allowing access (or give %s and %s)", keyRedirectURL, keyCode, keyState)
	}
	return &redirect{Code: p.Code, State: p.State}, nil
}

// exchangePasted completes the authorization whose redirect was pasted
// into exchange on mount.
func (b *backend) exchangePasted(ctx context.Context, s logical.Storage, mount string, p pastedRedirect) (*completedAuth, error) {
	cfg, err := b.requireConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	r, err := p.redirect(cfg.RedirectURI)
	if err != nil {
		return nil, err
	}
	return b.completeAuthorization(ctx, s, cfg, r, completing{byExchange, mount})
}

// completeCallback completes the authorization whose redirect reached the
// callback of mount, with data as Vault passes the query. The redirect is
// nil when the query itself was refused.
func (b *backend) completeCallback(ctx context.Context, s logical.Storage, mount string, data map[string]any) (*redirect, *completedAuth, error) {
	q, err := callbackQuery(data)
	if err != nil {
		return nil, nil, err
	}
	r, err := redirectFromQuery("the query", q)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := b.requireConfig(ctx, s)
	if err != nil {
		return r, nil, err
	}
	done, err := b.completeAuthorization(ctx, s, cfg, r, completing{byCallback, mount})
	return r, done, err
}

// callbackQuery turns the request's data back into the query it came from.
// Vault passes a GET query as req.Data: one value as a string, a repeated
// one as a []string, which reaches an external plugin as a []any (the data
// crosses the plugin boundary as JSON).
func callbackQuery(data map[string]any) (url.Values, error) {
	q := url.Values{}
	size := 0
	for k, v := range data {
		values, ok := textValues(v)
		if !ok {
			return nil, badRequest("the %q parameter is not text", k)
		}
		size += len(k)
		for _, s := range values {
			size += len(s)
		}
		q[k] = values
	}
	if size > maxRedirectBytes {
		return nil, badRequest("the query is %d bytes, more than a Jawbone redirect carries (%d)", size, maxRedirectBytes)
	}
	return q, nil
}

func textValues(v any) ([]string, bool) {
	switch v := v.(type) {
	case string:
		return []string{v}, true
	case []string:
		return v, true
	case []any:
		out := make([]string, len(v))
		for i, s := range v {
			str, ok := s.(string)
			if !ok {
				return nil, false
			}
			out[i] = str
		}
		return out, true
	}
	return nil, false
}

// completedAuth is the outcome of a completed authorization.
type completedAuth struct {
	name  string
	grant *grant
	// replaced is the account of the grant this one replaced, if another.
	replaced string
	warning  string
}

// completing is how, and on which mount, a redirect is being completed.
type completing struct {
	way   completion
	mount string
}

// completeAuthorization spends the state, then (if all checks pass) exchanges
// the code and stores the tokens under the name the state was bound to.
func (b *backend) completeAuthorization(ctx context.Context, s logical.Storage, cfg *config, r *redirect, by completing) (*completedAuth, error) {
	var pending *pendingAuth
	spent := false
	if r.State != "" {
		var err error
		if pending, spent, err = b.states.spend(ctx, s, r.State, by.way, by.mount); err != nil {
			return nil, err
		}
		if pending != nil {
			r.name = pending.Name
		}
	}
	// The exchange outlives the caller: its code is spent at Jawbone.
	ctx = context.WithoutCancel(ctx)
	done, err := b.authorizeWith(ctx, s, cfg, r, pending, by)
	if spent {
		// This request spent the state: a second use is told how it ended.
		if err := b.states.ended(ctx, s, r.State, pending, err == nil); err != nil {
			b.log().Warn("could not record how the authorization ended", "name", pending.Name, "error", err)
		}
	}
	if err != nil {
		return nil, err
	}
	b.log().Info("authorization completed", "name", done.name, "account", done.grant.AccountXID,
		"replaced_account", done.replaced, "scopes", done.grant.Scopes, "expires_at", done.grant.ExpiresAt)
	return done, nil
}

// authorizeWith checks the redirect against its pending authorization and
// exchanges the code under the name's lock.
func (b *backend) authorizeWith(ctx context.Context, s logical.Storage, cfg *config, r *redirect, pending *pendingAuth, by completing) (*completedAuth, error) {
	if err := b.checkRedirect(cfg, r, pending, by); err != nil {
		return nil, err
	}
	var done *completedAuth
	var elsewhere reissued
	err := b.registry.update(ctx, s, pending.Name, func(tx *grantTx) error {
		var err error
		done, elsewhere, err = b.exchangeLocked(tx, cfg, pending, r.Code)
		return err
	})
	if elsewhere.name != "" {
		b.checkBeforeHandingOut(ctx, s, elsewhere)
	}
	return done, err
}

// reissued is a grant that other creds hold, which an exchange got a new
// token of.
type reissued struct{ name, refreshToken string }

// checkBeforeHandingOut marks the token of the creds that hold a grant an
// exchange got a new token of: that token may be dead now (as after a
// refresh), so it is checked with Jawbone before it is handed out again.
func (b *backend) checkBeforeHandingOut(ctx context.Context, s logical.Storage, r reissued) {
	err := b.registry.update(ctx, s, r.name, func(tx *grantTx) error {
		g := tx.current
		if g == nil || g.RefreshToken != r.refreshToken || g.attempting() {
			return nil
		}
		return tx.put(g.tokenRejected(b.now()))
	})
	if err != nil {
		b.log().Warn("could not mark creds whose grant an exchange got a new token of; their token is checked at the next liveness check", "name", r.name, "error", err)
	}
}

// exchangeLocked exchanges the code and, if the new grant may take the
// name's place (account.go), stores it over current. An authorization may
// hand out a new token of the grant current holds (the same account), so
// current is marked as in an attempt first, as for a refresh.
func (b *backend) exchangeLocked(tx *grantTx, cfg *config, pending *pendingAuth, code string) (*completedAuth, reissued, error) {
	sentAt, current := b.now(), tx.current
	var marked *grant
	if current != nil {
		marked = current.withAttempt(sentAt, cfg.RequestTimeout, false)
		if err := tx.put(marked); err != nil {
			return nil, reissued{}, err
		}
	}
	// Counted only here, past the state checks: anonymous junk sent to the
	// callback must not be able to move the metric.
	tok, err := b.client(cfg).Exchange(tx.ctx, code)
	b.metrics.exchanged(err)
	if err != nil {
		b.log().Warn("code exchange failed", "name", pending.Name, "error", err)
		if marked != nil {
			b.restoreAfterExchange(tx, current, marked, err)
		}
		return nil, reissued{}, providerFailure(err, fixCodeExpired, fixRestartLater)
	}
	xid, whyNot := b.accountOf(tx.ctx, cfg, tok.AccessToken)
	if current != nil && tok.RefreshToken == current.RefreshToken && xid == "" {
		xid, whyNot = current.AccountXID, nil // a new token of the same grant: the same account
	}
	var elsewhere reissued
	held, err := tx.holder(tok.RefreshToken)
	if err == nil && held.name != "" {
		elsewhere = reissued{name: held.name, refreshToken: tok.RefreshToken}
		err = sharedGrant(held.name)
	}
	var repl replacement
	if err == nil {
		repl, err = b.mayReplace(tx, cfg, xid, whyNot, pending.Replace, fixReplace(pending.Name))
	}
	if err != nil {
		// A grant of another account leaves current's untouched.
		if marked != nil {
			b.restoreAfterExchange(tx, current, marked, nil)
		}
		return nil, elsewhere, err
	}
	if err := tx.put(newGrant(tok, "", pending.Scopes, sentAt).ofAccount(xid)); err != nil {
		return nil, reissued{}, err // a marker left stored keeps current unchecked
	}
	g := tx.current
	done := &completedAuth{name: pending.Name, grant: g, replaced: repl.previous, warning: repl.warning}
	if xid == "" && done.warning == "" {
		done.warning = fmt.Sprintf("the Jawbone account of the new grant could not be checked (%v): it is not recorded", whyNot)
	}
	return done, reissued{}, nil
}

// sharedGrantForAnyone refuses a grant that other creds hold as it is
// shown to the callback's browser: without their name.
func sharedGrantForAnyone() *requestError {
	return badRequest("this grant is stored under other creds already, so nothing was stored").withFix(func(m string) string {
		return "whoever started this authorization can find them with " + vaultCmd(m, "list", "creds")
	})
}

// restoreAfterExchange puts current back after an exchange that stored
// nothing: as it was when Jawbone answered (err nil: a refused grant),
// still marked in doubt otherwise.
func (b *backend) restoreAfterExchange(tx *grantTx, current, marked *grant, err error) {
	restored := current
	if err != nil && jawbone.MayHaveIssued(err) {
		restored = marked.attemptInDoubt(err, b.now())
	}
	if err := tx.put(restored); err != nil {
		b.log().Error("could not restore creds after a failed exchange", "name", tx.name, "error", err)
	}
}

// checkRedirect applies the checks in the order a user can act on them.
func (b *backend) checkRedirect(cfg *config, r *redirect, pending *pendingAuth, by completing) error {
	restart := fixRestartFor(pending)
	switch {
	case r.Error != "":
		return badRequest("authorization was denied: %s%s", errorCodeOrNot(r.Error), describe(jawbone.Printable(r.ErrorDesc))).withFix(restart)
	case r.Code == "":
		return badRequest("the redirect carries no %s, so it is not a complete Jawbone redirect", keyCode).withFix(fixIncompleteRedirect(restart))
	case r.State == "" && r.pasted && !strings.Contains(r.raw, "&"):
		return badRequest("the redirect carries no %s (only a %s): the shell most likely cut the URL at its first \"&\"", keyState, keyCode).withFix(fixQuoteTheURL)
	case r.State == "":
		return badRequest("the redirect carries no %s, so it is not a complete Jawbone redirect", keyState).withFix(fixIncompleteRedirect(restart))
	case pending == nil:
		return badRequest("state is unknown (each state works once, for 10 minutes, on the Vault cluster that issued it)").withFix(restart)
	case pending.via(by.mount) != by.way:
		return completedElsewhere(pending, by.way)
	case pending.Completed:
		return completedAlready(pending.Name)
	case pending.Spent && !pending.Failed:
		return stillCompleting(pending.Name)
	case pending.Spent:
		return badRequest("state was already used (each state works once), and that authorization did not complete").withFix(restart)
	case !b.now().Before(pending.ExpiresAt):
		return badRequest("state expired at %s (a state lives %s, like Jawbone's codes)",
			pending.ExpiresAt.UTC().Format(time.RFC3339), shortDuration(stateTTL)).withFix(restart)
	case pending.RedirectURI != cfg.RedirectURI:
		return badRequest("%s changed in the config since this state was issued", keyRedirectURI).withFix(restart)
	}
	return nil
}

// completedElsewhere refuses a state completed the other way than it was
// started for, saying which way completes it.
func completedElsewhere(pending *pendingAuth, tried completion) *requestError {
	if tried == byCallback {
		return badRequest("this authorization was started to be pasted into exchange (%s is not this mount's callback), so the callback does not complete it; nothing was stored", keyRedirectURI).
			withFix(func(m string) string {
				return "whoever started it pastes the URL the browser landed on into " + vaultCmd(m, "write", "exchange redirect_url='https://...?code=...&state=...'")
			})
	}
	return badRequest("this authorization was started for the browser callback (%s is this mount's callback), so exchange does not complete it: Jawbone sends the browser to the callback, which does; nothing was stored", keyRedirectURI).
		withFix(func(m string) string {
			return "open the URL from " + vaultCmd(m, "read", "auth-url name="+pending.Name) + " in a browser that can reach Vault at " + pending.RedirectURI
		})
}

// completedAlready answers a state used again after its authorization
// stored its grant: a reloaded callback page, a paste repeated.
func completedAlready(name string) *requestError {
	re := badRequest("this authorization was completed already: its tokens are stored as the creds %q (each state works once)", name).withFix(fixReadCreds(name))
	re.completed = name
	return re
}

// stillCompleting answers a state used again while the request that spent
// it is still exchanging its code: a double click, a page reloaded at once.
func stillCompleting(name string) *requestError {
	re := conflict("this authorization is being completed by an earlier request with the same state (each state works once)").withFix(func(m string) string {
		return "read the creds in a moment with " + vaultCmd(m, "read", "creds/"+name) + "; if they do not appear, start again with " + vaultCmd(m, "read", "auth-url name="+name)
	})
	re.inProgress = name
	return re
}

func fixIncompleteRedirect(restart remedy) remedy {
	return func(m string) string {
		return "use the full URL Jawbone sent the browser to, or " + restart(m)
	}
}

func fixQuoteTheURL(m string) string {
	return "paste it again in single quotes: " + vaultCmd(m, "write", "exchange redirect_url='https://...?code=...&state=...'")
}

// errorCodeOrNot is code if it is a well-formed OAuth error code: a
// redirect's error is anyone's to forge.
func errorCodeOrNot(code string) string {
	if jawbone.IsErrorCode(code) {
		return code
	}
	return "an unrecognised error"
}

func describe(desc string) string {
	if desc == "" {
		return ""
	}
	return " (" + desc + ")"
}

// callbackInUse reports whether redirectURI is this mount's callback: its
// path is /v1/<mount>callback (mountPoint is like "jawbone/", or
// "ns1/jawbone/" in a namespace). Scheme and host are the operator's: Vault
// does not know the address the browser uses.
func callbackInUse(redirectURI, mountPoint string) bool {
	if mountPoint == "" {
		return false
	}
	u, err := url.Parse(redirectURI)
	if err != nil {
		return false
	}
	return strings.TrimSuffix(u.Path, "/") == "/v1/"+mountPoint+callbackPath
}
