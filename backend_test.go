package jawbone

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
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
	// responses collects every response body, to prove no secret leaves.
	responses []string
	// logs holds everything the backend logged, checked the same way.
	logs *syncBuffer
	// mount is the mount requests come in on; "" as outside Vault.
	mount string
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
	// One clock for the backend and the fake, so both judge expiry alike.
	clock := fakejawbone.NewManualClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	fake, srv := fakejawbone.NewTestServer(t, fakejawbone.Config{
		ClientID: testClientID, ClientSecret: testClientSecret,
		RedirectURIPrefix: testRedirectURI, Now: clock.Now,
	})
	storage := &logical.InmemStorage{}
	conf := logical.TestBackendConfig()
	conf.StorageView = storage
	logs := &syncBuffer{}
	conf.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})
	b := newBackend()
	b.now = clock.Now
	b.jitter = func() time.Duration { return 0 }
	if err := b.Setup(context.Background(), conf); err != nil {
		t.Fatalf("backend setup: %v", err)
	}
	env := &testEnv{t: t, b: b, storage: storage, fake: fake, base: srv.URL, clock: clock, logs: logs}
	t.Cleanup(env.assertNoSecretsLeaked)
	return env
}

// request runs one operation and records the response for the leak check.
func (e *testEnv) request(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	e.t.Helper()
	resp, err := e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: op, Path: path, Data: data, Storage: e.storage, MountPoint: e.mount,
	})
	if resp != nil {
		raw, _ := json.Marshal(resp)
		e.responses = append(e.responses, string(raw))
	}
	if err != nil {
		e.responses = append(e.responses, err.Error())
	}
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
		keyRedirectURI:  testRedirectURI,
		keyAuthURL:      e.fake.AuthURL(e.base),
		keyTokenURL:     e.fake.TokenURL(e.base),
		keyAPIURL:       e.fake.APIURL(e.base),
	}
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

// authorize runs the whole flow for name and returns the stored access token.
func (e *testEnv) authorize(name string) string {
	e.t.Helper()
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
