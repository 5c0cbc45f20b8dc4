package jawbone

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

const (
	testClientID     = "test-client"
	testClientSecret = "test-secret-do-not-leak"
	testRedirectURI  = "https://app.example/callback"
)

// year is how long the fake's access tokens live.
const year = 365 * 24 * time.Hour

// testEnv is a backend on in-memory storage, talking over real HTTP to a fake
// Jawbone on 127.0.0.1.
type testEnv struct {
	t testing.TB
	b *backend
	// storage is typed so that a test can make it fail on demand
	// (FailPut, FailGet).
	storage *logical.InmemStorage
	fake    *fakejawbone.Server
	base    string
	clock   *fakejawbone.ManualClock
	// responses collects every response body, to prove no secret leaves
	// (seen, from concurrent requests too).
	responsesMu sync.Mutex
	responses   []string
	// logs holds everything the backend logged, checked the same way.
	logs *syncBuffer
	// mount is the mount requests come in on; "" as outside Vault.
	mount string
	// view, when set, is the storage requests and ticks use instead of
	// storage (a counting wrapper of it).
	view logical.Storage
	// redirectURI is the one registered at the fake, and configured.
	redirectURI string
}

// store is the storage requests use.
func (e *testEnv) store() logical.Storage {
	if e.view != nil {
		return e.view
	}
	return e.storage
}

// syncBuffer is a log sink that background refreshes may write to concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	return newTestEnvFor(t, testRedirectURI)
}

// newTestEnvFor is a testEnv whose fake Jawbone has redirectURI registered.
func newTestEnvFor(t testing.TB, redirectURI string) *testEnv {
	t.Helper()
	// One clock for the backend and the fake, so both judge expiry alike.
	clock := fakejawbone.NewManualClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	fake, srv := fakejawbone.NewTestServer(t, fakejawbone.Config{
		ClientID: testClientID, ClientSecret: testClientSecret,
		RedirectURIPrefix: redirectURI, Now: clock.Now,
	})
	storage := &logical.InmemStorage{}
	conf := logical.TestBackendConfig()
	conf.StorageView = storage
	logs := &syncBuffer{}
	conf.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})
	b := newBackend(defaultCacheBytes)
	b.now = clock.Now
	b.jitter = func() time.Duration { return 0 }
	if err := b.Setup(context.Background(), conf); err != nil {
		t.Fatalf("backend setup: %v", err)
	}
	loadNow(t, b, storage)
	env := &testEnv{t: t, b: b, storage: storage, fake: fake, base: srv.URL, clock: clock, logs: logs, redirectURI: redirectURI}
	t.Cleanup(env.assertNoSecretsLeaked)
	return env
}

// loadNow loads b's schedule from s before the test goes on, as the
// background load does after a start (so that no test races it).
func loadNow(t testing.TB, b *backend, s logical.Storage) {
	t.Helper()
	b.registry.load.started.Store(true)
	if err := b.registry.loadAll(context.Background(), s); err != nil {
		t.Fatalf("loading the schedule: %v", err)
	}
}

// tick runs the backend's periodic function, as Vault's rollback tick
// does.
func tick(tb testing.TB, e *testEnv) {
	tb.Helper()
	if err := e.b.periodic(context.Background(), &logical.Request{Storage: e.store()}); err != nil {
		tb.Fatal(err)
	}
}

// request runs one operation and records the response for the leak check.
func (e *testEnv) request(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	e.t.Helper()
	resp, err := e.handle(&logical.Request{
		Operation: op, Path: path, Data: data, Storage: e.store(), MountPoint: e.mount,
	})
	if resp != nil {
		raw, _ := json.Marshal(resp)
		e.seen(string(raw))
	}
	if err != nil {
		e.seen(err.Error())
	}
	return resp, err
}

// seen records a response body for the leak check.
func (e *testEnv) seen(body string) {
	e.responsesMu.Lock()
	e.responses = append(e.responses, body)
	e.responsesMu.Unlock()
}

// handle runs req on the backend, noting every text its reply shows a
// person for the check of the docs' quoted messages (docs_test.go).
func (e *testEnv) handle(req *logical.Request) (*logical.Response, error) {
	resp, err := e.b.HandleRequest(context.Background(), req)
	shown.note(resp, err)
	return resp, err
}

// mustOK runs an operation that must succeed and returns its data.
func (e *testEnv) mustOK(op logical.Operation, path string, data map[string]any) *logical.Response {
	e.t.Helper()
	resp, err := e.request(op, path, data)
	if err != nil || resp.IsError() {
		e.t.Fatalf("%s %s: err=%v resp=%#v", op, path, err, resp)
	}
	return resp
}

// mustFail runs an operation that must fail with the given HTTP status and an
// error message containing every one of wants.
func (e *testEnv) mustFail(op logical.Operation, path string, data map[string]any, status int, wants ...string) string {
	e.t.Helper()
	resp, err := e.request(op, path, data)
	got, msg := statusOf(resp, err)
	if got != status {
		e.t.Fatalf("%s %s: status %d (%s), want %d", op, path, got, msg, status)
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			e.t.Fatalf("%s %s: error %q does not mention %q", op, path, msg, w)
		}
	}
	return msg
}

// statusOf is the HTTP status Vault would answer with.
func statusOf(resp *logical.Response, err error) (int, string) {
	switch {
	case err != nil:
		var coded logical.HTTPCodedError
		if errors.As(err, &coded) {
			return coded.Code(), err.Error()
		}
		return http.StatusInternalServerError, err.Error()
	case resp != nil && resp.IsError():
		return http.StatusBadRequest, resp.Error().Error()
	default:
		return http.StatusOK, ""
	}
}

func (e *testEnv) configData() map[string]any {
	return map[string]any{
		keyClientID:     testClientID,
		keyClientSecret: testClientSecret,
		keyRedirectURI:  e.redirectURI,
		keyAuthURL:      e.fake.AuthURL(e.base),
		keyTokenURL:     e.fake.TokenURL(e.base),
		keyAPIURL:       e.fake.APIURL(e.base),
		// The fake is served over http on 127.0.0.1.
		keyLocalDevelopment: true,
	}
}

// newConfiguredEnv is a testEnv whose mount is configured for the fake.
func newConfiguredEnv(t testing.TB) *testEnv {
	t.Helper()
	e := newTestEnv(t)
	e.configure()
	return e
}

func (e *testEnv) configure() {
	e.t.Helper()
	e.mustOK(logical.UpdateOperation, "config", e.configData())
}

// visit plays the user's browser: it opens the authorization URL at the fake
// Jawbone and returns where Jawbone redirects it, without following.
func (e *testEnv) visit(authURL string) string {
	e.t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(authURL)
	if err != nil {
		e.t.Fatalf("visiting %s: %v", authURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("visiting %s: status %d, want 302", authURL, resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// authorize runs the whole flow for name, completed as the configured
// redirect_uri has it (the callback, or a paste into exchange), and returns
// the stored access token.
func (e *testEnv) authorize(name string) string {
	e.t.Helper()
	if e.redirectURI == testCallbackURI {
		e.callback(e.landing(name)).requirePage(e.t, http.StatusOK, "Jawbone access granted")
		return e.accessToken(name)
	}
	auth := e.mustOK(logical.ReadOperation, "auth-url", map[string]any{keyName: name})
	landed := e.visit(auth.Data[keyURL].(string))
	e.mustOK(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed})
	return e.accessToken(name)
}

func (e *testEnv) accessToken(name string) string {
	e.t.Helper()
	return e.mustOK(logical.ReadOperation, "creds/"+name, nil).Data[keyAccessToken].(string)
}

// stored reads a creds entry straight from storage, past the cache.
func (e *testEnv) stored(name string) *grant {
	e.t.Helper()
	var c grant
	found, err := getJSON(context.Background(), e.storage, credsStoragePrefix+name, &c)
	if err != nil {
		e.t.Fatalf("reading creds %q from storage: %v", name, err)
	}
	if !found {
		return nil
	}
	return &c
}

// storedKeys is every key in storage, in order, but those under the
// prefixes left out.
func storedKeys(t *testing.T, e *testEnv, leaveOut ...string) []string {
	t.Helper()
	keys, err := logical.CollectKeys(context.Background(), e.storage)
	if err != nil {
		t.Fatal(err)
	}
	keys = slices.DeleteFunc(keys, func(k string) bool {
		return slices.ContainsFunc(leaveOut, func(p string) bool { return strings.HasPrefix(k, p) })
	})
	slices.Sort(keys)
	return keys
}

// markStored changes the stored creds of name in place, as a past event
// would have left them, and returns them as stored.
func markStored(t *testing.T, e *testEnv, name string, change func(*grant)) *grant {
	t.Helper()
	c := e.stored(name)
	change(c)
	err := e.b.registry.update(context.Background(), e.storage, name, func(tx *grantTx) error { return tx.put(c) })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// storedConfig reads the config straight from storage, past the cache.
func (e *testEnv) storedConfig() *config {
	e.t.Helper()
	var c config
	found, err := getJSON(context.Background(), e.storage, configStoragePath, &c)
	if err != nil {
		e.t.Fatalf("reading config from storage: %v", err)
	}
	if !found {
		return nil
	}
	return &c
}

// snapshot is every storage entry, to prove a request changed nothing.
func (e *testEnv) snapshot() map[string]string {
	e.t.Helper()
	ctx := context.Background()
	keys, err := logical.CollectKeys(ctx, e.storage)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		entry, err := e.storage.Get(ctx, k)
		if err != nil || entry == nil {
			e.t.Fatalf("reading %s: %v", k, err)
		}
		out[k] = string(entry.Value)
	}
	return out
}

// assertNoSecretsLeaked checks every response of the test for the client
// secret and every refresh token now in storage, and the log for those and
// every access token too. On failure the log is shown.
func (e *testEnv) assertNoSecretsLeaked() {
	secrets := []string{testClientSecret}
	var accessTokens []string
	names, _ := e.storage.List(context.Background(), credsStoragePrefix)
	for _, n := range names {
		if c := e.stored(n); c != nil {
			secrets = append(secrets, c.RefreshToken)
			accessTokens = append(accessTokens, c.AccessToken)
		}
	}
	e.responsesMu.Lock()
	defer e.responsesMu.Unlock()
	if r, ok := findAny(e.responses, secrets); ok {
		e.t.Errorf("a response leaked a secret: %s", r)
	}
	logged := e.logs.String()
	if _, ok := findAny([]string{logged}, append(secrets, accessTokens...)); ok {
		e.t.Errorf("the log holds a secret or token")
	}
	if e.t.Failed() {
		e.t.Logf("backend log:\n%s", logged)
	}
}

// findAny returns the first of texts that contains any of needles.
func findAny(texts, needles []string) (string, bool) {
	for _, text := range texts {
		for _, n := range needles {
			if n != "" && strings.Contains(text, n) {
				return text, true
			}
		}
	}
	return "", false
}

func queryOf(t testing.TB, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parsing %q: %v", raw, err)
	}
	return u.Query()
}

func TestStorageIsSealWrapped(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	special := e.b.SpecialPaths().SealWrapStorage
	for _, p := range []string{configStoragePath, credsStoragePrefix, stateStoragePrefix} {
		found := false
		for _, s := range special {
			found = found || s == p
		}
		if !found {
			t.Errorf("%q not in SealWrapStorage %v", p, special)
		}
	}
}

// A misspelt or invented field is refused on every operator path, before
// anything happens: no state, no token call, no write.
func TestUnknownFieldsAreRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		op   logical.Operation
		path string
		data map[string]any
		want string
	}{
		{logical.ReadOperation, "auth-url", map[string]any{"nam3": "x"}, `unknown field "nam3"`},
		{logical.UpdateOperation, "exchange", map[string]any{"redirect_uri": "x"}, `unknown field "redirect_uri"`},
		{logical.UpdateOperation, "creds/me", map[string]any{"refreshtoken": "x"}, `unknown field "refreshtoken"`},
		{logical.UpdateOperation, "creds/me/refresh", map[string]any{"force": true}, `unknown field "force"`},
		{logical.ReadOperation, "creds/me", map[string]any{"version": 2}, `unknown field "version"`},
		{logical.ReadOperation, "status", map[string]any{"fmt": "prometheus"}, `unknown field "fmt"`},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			e := newConfiguredEnv(t)
			e.authorize("me")
			before := e.snapshot()
			e.fake.ResetCalls()
			msg := e.mustFail(tc.op, tc.path, tc.data, 400, tc.want, "of "+tc.path+" takes ")
			if tc.op == logical.ReadOperation && strings.Contains(msg, keyAccessToken) {
				t.Fatalf("a read is told the fields of a write: %s", msg)
			}
			if e.fake.Calls(fakejawbone.EndpointToken) != 0 {
				t.Fatal("a refused request called Jawbone")
			}
			if after := e.snapshot(); !reflect.DeepEqual(before, after) {
				t.Fatal("a refused request changed storage")
			}
		})
	}
}

// Every log line names the mount it is about: mounts of the plugin share
// one plugin process, whose output Vault files under the first mount.
func TestLogLinesNameTheirMount(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.mount = "team-b/"
	e.configure()
	e.authorize("me")
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		if !strings.Contains(line, "mount=team-b/") {
			lines = append(lines, line)
		}
	}
	if len(lines) > 0 {
		t.Fatalf("log lines without their mount:\n%s", strings.Join(lines, "\n"))
	}
}
