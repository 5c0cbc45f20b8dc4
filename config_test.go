package jawbone

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

func TestConfigDefaultsToJawboneEndpoints(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.mustOK(logical.UpdateOperation, "config", map[string]any{
		keyClientID: "id", keyClientSecret: "s", keyRedirectURI: testRedirectURI,
	})
	got := e.mustOK(logical.ReadOperation, "config", nil).Data
	for key, want := range map[string]string{keyAuthURL: defaultAuthURL, keyTokenURL: defaultTokenURL, keyAPIURL: defaultAPIURL} {
		if got[key] != want {
			t.Errorf("%s = %v, want %s", key, got[key], want)
		}
	}
}

func TestConfigPartialUpdateKeepsOtherFields(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyScopes: "sleep_read,move_read", keyRefreshAhead: "48h"})
	cfg := e.storedConfig()
	if cfg.ClientSecret != testClientSecret || cfg.ClientID != testClientID || cfg.TokenURL != e.fake.TokenURL(e.base) {
		t.Fatalf("partial update lost fields: %+v", cfg)
	}
	if !reflect.DeepEqual(cfg.Scopes, []string{"sleep_read", "move_read"}) || cfg.RefreshAhead.Hours() != 48 {
		t.Fatalf("partial update not applied: scopes %v refresh_ahead %s", cfg.Scopes, cfg.RefreshAhead)
	}
}

func TestConfigKeepsAZeroRefreshAhead(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyRefreshAhead: "0s"})
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyClientSecret: "rotated"})
	if got := e.storedConfig().RefreshAhead; got != 0 {
		t.Fatalf("refresh_ahead became %s after an unrelated write", got)
	}
}

func TestConfigFirstWriteRequiresClientFields(t *testing.T) {
	t.Parallel()
	for _, missing := range []string{keyClientID, keyClientSecret, keyRedirectURI} {
		t.Run(missing, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			data := e.configData()
			delete(data, missing)
			e.mustFail(logical.UpdateOperation, "config", data, 400, missing+" is required")
			if cfg := e.storedConfig(); cfg != nil {
				t.Fatal("a rejected first write stored a config")
			}
		})
	}
}

func TestConfigRejectsBadInputAndKeepsStoredConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		data  map[string]any
		wants []string
	}{
		{"http redirect on a public host", map[string]any{keyRedirectURI: "http://example.com/cb"}, []string{"redirect_uri must use https", "loopback", "http://example.com/cb"}},
		{"relative redirect", map[string]any{keyRedirectURI: "/cb"}, []string{"redirect_uri must be an absolute http(s) URL"}},
		{"javascript redirect", map[string]any{keyRedirectURI: "javascript:alert(1)"}, []string{"redirect_uri"}},
		{"redirect with fragment", map[string]any{keyRedirectURI: "https://app.example/cb#x"}, []string{"redirect_uri must not have a #fragment"}},
		{"unknown scope", map[string]any{keyScopes: "basic_read,steps_read"}, []string{`"steps_read" is not a Jawbone scope`, "move_read", "cardiac_write"}},
		{"scope and scopes together", map[string]any{keyScopes: "basic_read", keyScope: "move_read"}, []string{"scopes or scope"}},
		{"ftp token url", map[string]any{keyTokenURL: "ftp://jawbone.com/token"}, []string{"token_url must be an absolute http(s) URL"}},
		{"http auth url on a public host", map[string]any{keyAuthURL: "http://jawbone.com/auth"}, []string{"auth_url must use https"}},
		{"api url with credentials", map[string]any{keyAPIURL: "https://u:p@jawbone.com/api"}, []string{"api_url must not carry user:password", "REDACTED"}},
		{"negative refresh_ahead", map[string]any{keyRefreshAhead: "-1h"}, []string{"refresh_ahead", "negative"}},
		{"refresh_ahead of a year", map[string]any{keyRefreshAhead: "8760h"}, []string{"refresh_ahead must be between 0s and 8736h (tokens live a year); got 8760h"}},
		{"tiny timeout", map[string]any{keyRequestTimeout: "0s"}, []string{"request_timeout must be between 1s and 5m; got 0s"}},
		{"tiny max_ttl", map[string]any{keyMaxTTL: "5s"}, []string{"max_ttl must be between 10s and 8760h; got 5s"}},
		{"tiny check_interval", map[string]any{keyCheckInterval: "30s"}, []string{"check_interval must be between 1m and 8760h; got 30s"}},
		{"empty client_id", map[string]any{keyClientID: ""}, []string{"client_id is required"}},
		{"client_id with spaces", map[string]any{keyClientID: "a b"}, []string{"client_id must not contain spaces"}},
		{"wrong type", map[string]any{keyRefreshAhead: "soon"}, []string{"refresh_ahead"}},
		{"misspelt field", map[string]any{"client_idd": "x"}, []string{`unknown field "client_idd"`, "client_id"}},
		{"huge client_id", map[string]any{keyClientID: strings.Repeat("a", 1<<20)}, []string{"client_id is 1048576 bytes long; at most 256"}},
		{"huge redirect", map[string]any{keyRedirectURI: "https://app.example/" + strings.Repeat("a", 1<<20)}, []string{"redirect_uri is", "at most 2048"}},
		{"kiefer token with spaces", map[string]any{keyAccessToken: "not a token"}, []string{"access_token does not look like a token"}},
		{"huge kiefer refresh token", map[string]any{keyRefreshToken: strings.Repeat("r", 1<<20)}, []string{"refresh_token does not look like a token"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newConfiguredEnv(t)
			before, _ := e.storage.Get(context.Background(), configStoragePath)
			e.mustFail(logical.UpdateOperation, "config", tc.data, 400, tc.wants...)
			after, _ := e.storage.Get(context.Background(), configStoragePath)
			if !reflect.DeepEqual(before, after) {
				t.Fatal("a rejected write changed the stored config")
			}
			if n := e.fake.Calls(fakejawbone.EndpointToken) + e.fake.Calls(fakejawbone.EndpointRefreshToken); n != 0 {
				t.Fatalf("a rejected write called Jawbone %d times", n)
			}
		})
	}
}

func TestConfigAllowsHTTPOnLoopback(t *testing.T) {
	t.Parallel()
	for _, uri := range []string{"http://127.0.0.1:8250/cb", "http://localhost/cb", "http://[::1]:9/cb"} {
		e := newTestEnv(t)
		data := e.configData()
		data[keyRedirectURI] = uri
		e.mustOK(logical.UpdateOperation, "config", data)
	}
}

func TestConfigNeverEchoesAPassword(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	msg := e.mustFail(logical.UpdateOperation, "config", map[string]any{keyTokenURL: "ftp://id:hunter2@host/x"}, 400, "token_url must not carry user:password")
	if strings.Contains(msg, "hunter2") {
		t.Fatalf("the error echoes the password: %s", msg)
	}
}

// The fake plays the provider, so it keeps its own list of Jawbone's scopes
// rather than the plugin's: the two must name the same scopes, in the same
// order.
func TestFakeKnowsTheScopesThePluginDoes(t *testing.T) {
	t.Parallel()
	fake := fakejawbone.Scopes()
	onlyFake := slices.DeleteFunc(slices.Clone(fake), func(s string) bool { return slices.Contains(jawboneScopes, s) })
	onlyPlugin := slices.DeleteFunc(slices.Clone(jawboneScopes), func(s string) bool { return slices.Contains(fake, s) })
	if len(onlyFake) > 0 || len(onlyPlugin) > 0 {
		t.Fatalf("scopes only the fake knows: %v; only the plugin: %v", onlyFake, onlyPlugin)
	}
	if !slices.Equal(fake, jawboneScopes) {
		t.Fatalf("the fake lists its scopes as %v, the plugin as %v", fake, jawboneScopes)
	}
}

// A config writer cannot quietly reach further than the docs say: http on
// a loopback host only with local_development, token_url and api_url only
// together, and a private CA only by its certificate.
func TestConfigEndpointRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		data  func(e *testEnv) map[string]any
		wants []string
	}{
		{"http on loopback without local_development", func(e *testEnv) map[string]any {
			d := e.configData()
			delete(d, keyLocalDevelopment)
			return d
		}, []string{"auth_url must use https", "local_development=true", "never on a server that holds real grants"}},
		{"token_url without api_url", func(*testEnv) map[string]any {
			return map[string]any{keyClientID: "c", keyClientSecret: "s", keyRedirectURI: testRedirectURI, keyTokenURL: "https://token.example/token"}
		}, []string{"token_url and api_url go together", "vault write jawbone/config token_url=... api_url=..."}},
		{"api_url without token_url", func(*testEnv) map[string]any {
			return map[string]any{keyClientID: "c", keyClientSecret: "s", keyRedirectURI: testRedirectURI, keyAPIURL: "https://api.example/v1"}
		}, []string{"token_url and api_url go together"}},
		// Jawbone's own URL written otherwise (a trailing slash, other letter
		// case, its default port) is still Jawbone's: tokens would go to it
		// while accounts (the pinning) were checked elsewhere.
		{"Jawbone's token_url with a slash, api_url elsewhere", func(*testEnv) map[string]any {
			return map[string]any{keyClientID: "c", keyClientSecret: "s", keyRedirectURI: testRedirectURI,
				keyTokenURL: defaultTokenURL + "/", keyAPIURL: "https://api.example/v1"}
		}, []string{"token_url and api_url go together"}},
		{"Jawbone's token_url in capitals with :443, api_url elsewhere", func(*testEnv) map[string]any {
			return map[string]any{keyClientID: "c", keyClientSecret: "s", keyRedirectURI: testRedirectURI,
				keyTokenURL: "HTTPS://JAWBONE.COM:443/auth/oauth2/token", keyAPIURL: "https://api.example/v1"}
		}, []string{"token_url and api_url go together"}},
		{"Jawbone's api_url with a dot, token_url elsewhere", func(*testEnv) map[string]any {
			return map[string]any{keyClientID: "c", keyClientSecret: "s", keyRedirectURI: testRedirectURI,
				keyTokenURL: "https://token.example/token", keyAPIURL: "https://jawbone.com.:443/nudge/api/v.1.1/"}
		}, []string{"token_url and api_url go together"}},
		{"a ca_cert that is no PEM", func(e *testEnv) map[string]any {
			d := e.configData()
			d[keyCACert] = "not a certificate"
			return d
		}, []string{"ca_cert", "no PEM certificate", "-----BEGIN CERTIFICATE-----"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			e.mustFail(logical.UpdateOperation, "config", tc.data(e), http.StatusBadRequest, tc.wants...)
			if e.storedConfig() != nil {
				t.Fatal("a refused config was stored")
			}
		})
	}
}

// Jawbone's own endpoints, written otherwise, are Jawbone's: both move
// together as one.
func TestJawbonesEndpointsWrittenOtherwiseAreJawbones(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyClientID: "c", keyClientSecret: "s", keyRedirectURI: testRedirectURI,
		keyTokenURL: "https://Jawbone.com:443/auth/oauth2/token/"})
}

// A Jawbone-compatible server behind a private CA is trusted through
// ca_cert, for every endpoint; without it, TLS fails and says so.
func TestConfigCACertTrustsAPrivateCA(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	srv := httptest.NewTLSServer(e.fake)
	t.Cleanup(srv.Close)
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	data := map[string]any{
		keyClientID: testClientID, keyClientSecret: testClientSecret, keyRedirectURI: testRedirectURI,
		keyAuthURL: e.fake.AuthURL(srv.URL), keyTokenURL: e.fake.TokenURL(srv.URL), keyAPIURL: e.fake.APIURL(srv.URL),
	}
	e.mustOK(logical.UpdateOperation, "config", data)
	auth := e.mustOK(logical.ReadOperation, "auth-url", nil)
	landed := visitWith(t, srv.Client(), auth.Data[keyURL].(string))
	e.mustFail(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: landed}, http.StatusBadGateway,
		"certificate", "Vault could not reach Jawbone")

	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyCACert: caPEM})
	auth = e.mustOK(logical.ReadOperation, "auth-url", nil)
	e.mustOK(logical.UpdateOperation, "exchange", map[string]any{keyRedirectURL: visitWith(t, srv.Client(), auth.Data[keyURL].(string))})
	if !e.fake.TokenValid(e.accessToken("me")) {
		t.Fatal("the creds from a server behind the private CA do not work")
	}
	if got := e.mustOK(logical.ReadOperation, "config", nil).Data[keyCACert]; got != strings.TrimSpace(caPEM) {
		t.Fatal("the config read does not show ca_cert")
	}
}

// visitWith plays the browser with client and returns where Jawbone sends
// it.
func visitWith(t *testing.T, client *http.Client, authURL string) string {
	t.Helper()
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Location")
}

// A config writer who points token_url at a local service cannot read its
// replies back: no reply body reaches an error, a stored last_error or the
// status.
func TestAReplyBodyNeverReachesAReply(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	const banner = "internal-admin-console v3 secret-build-id"
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("<html>" + banner + "</html>"))
	}))
	t.Cleanup(local.Close)
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyTokenURL: local.URL + "/token", keyAPIURL: local.URL + "/api"})
	resp, err := e.request(logical.UpdateOperation, "creds/me/refresh", nil)
	_, msg := statusOf(resp, err)
	read, err := e.request(logical.ReadOperation, "creds/me", nil) // fails or warns: the refresh may have been made
	_, readMsg := statusOf(read, err)
	status := e.mustOK(logical.ReadOperation, "status", nil)
	for what, text := range map[string]string{"the error": msg, "the creds read": fmt.Sprint(read, readMsg),
		"the stored last_error": e.stored("me").LastError, "the status": fmt.Sprint(status.Data)} {
		if strings.Contains(text, "internal-admin-console") {
			t.Fatalf("%s echoes the local service's reply: %s", what, text)
		}
	}
}

func TestDurationLimitsAreWrittenAsTyped(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                       "0s",
		90 * time.Second:        "1m30s",
		time.Minute:             "1m",
		8736 * time.Hour:        "8736h",
		time.Hour + time.Minute: "1h1m",
		30 * time.Second:        "30s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
	err := checkDuration(keyRefreshAhead, 8760*time.Hour, 0, maxRefreshAhead, " (tokens live a year)")
	if err == nil || err.Error() != "refresh_ahead must be between 0s and 8736h (tokens live a year); got 8760h" {
		t.Errorf("checkDuration error = %v", err)
	}
}
