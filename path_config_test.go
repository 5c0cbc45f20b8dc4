package jawbone

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestConfigWriteRead(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	got := e.mustOK(logical.ReadOperation, "config", nil).Data
	want := map[string]any{
		keyClientID: testClientID, keySecretSet: true, keyRedirectURI: testRedirectURI,
		keyScopes: []string{"basic_read"}, keyAuthURL: e.fake.AuthURL(e.base),
		keyTokenURL: e.fake.TokenURL(e.base), keyAPIURL: e.fake.APIURL(e.base),
		keyRefreshAhead: "168h", keyRequestTimeout: "30s",
		keyMaxTTL: "1m", keyCheckInterval: "1h", keyMaxChecksPerMinute: 100,
		keyLocalDevelopment: true, keyCACert: "",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("config read:\n got %#v\nwant %#v", got, want)
	}
	if _, ok := got[keyClientSecret]; ok {
		t.Fatal("config read returned client_secret")
	}
}

// A read shows every duration in one form, the one a write takes (and the
// CLI prints for max_ttl itself): written back, a read changes nothing.
func TestConfigReadShowsDurationsAsWritten(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.mustOK(logical.UpdateOperation, "config", map[string]any{keyRefreshAhead: "36h30m", keyRequestTimeout: 7, keyMaxTTL: "90s", keyCheckInterval: "2h"})
	got := e.mustOK(logical.ReadOperation, "config", nil).Data
	durations := map[string]any{keyRefreshAhead: "36h30m", keyRequestTimeout: "7s", keyMaxTTL: "1m30s", keyCheckInterval: "2h"}
	for k, want := range durations {
		if got[k] != want {
			t.Errorf("%s reads %#v, want %q", k, got[k], want)
		}
	}
	before := e.storedConfig()
	readBack := map[string]any{}
	for k := range durations {
		readBack[k] = got[k]
	}
	e.mustOK(logical.UpdateOperation, "config", readBack)
	if after := e.storedConfig(); !reflect.DeepEqual(before, after) {
		t.Fatalf("writing the read's durations back changed the config:\n%+v\n%+v", before, after)
	}
}

func TestConfigDeleteKeepsCreds(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	e.mustOK(logical.DeleteOperation, "config", nil)
	if resp, _ := e.request(logical.ReadOperation, "config", nil); resp != nil {
		t.Fatalf("config still readable after delete: %#v", resp)
	}
	if e.stored("me") == nil {
		t.Fatal("deleting the config deleted creds")
	}
	e.mustFail(logical.ReadOperation, "creds/me", nil, 400, "write jawbone/config first")
}

// A kiefer config file, written as-is: "scope" is a list, and its tokens are
// imported as the creds named "me".
func TestConfigImportsKieferFile(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	access, refresh := e.fake.IssueTokens([]string{"basic_read", "move_read"})
	kiefer := e.configData()
	kiefer[keyScope] = []any{"basic_read", "move_read"}
	kiefer[keyAccessToken] = access
	kiefer[keyRefreshToken] = refresh
	resp := e.mustOK(logical.UpdateOperation, "config", kiefer)
	if !strings.Contains(strings.Join(resp.Warnings, "\n"), `imported the file's tokens as creds "me"`) {
		t.Fatalf("import not reported: %v", resp.Warnings)
	}
	cfg := e.storedConfig()
	if !reflect.DeepEqual(cfg.Scopes, []string{"basic_read", "move_read"}) {
		t.Fatalf("scope list not taken as scopes: %v", cfg.Scopes)
	}
	me := e.stored("me")
	if me == nil || me.RefreshToken != refresh {
		t.Fatalf("kiefer refresh token not imported: %+v", me)
	}
	if !e.fake.TokenValid(e.accessToken("me")) {
		t.Fatal("imported creds do not hold a working access token")
	}
}

func TestConfigKieferImportFailureKeepsConfig(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	data := e.configData()
	data[keyRefreshToken] = "not-a-real-refresh-token"
	e.mustFail(logical.UpdateOperation, "config", data, 400, "config saved", `creds "me"`, "invalid_grant")
	if cfg := e.storedConfig(); cfg == nil || cfg.ClientID != testClientID {
		t.Fatal("config not kept after a failed token import")
	}
	if e.stored("me") != nil {
		t.Fatal("a failed import stored creds")
	}
}

// A kiefer file whose tokens cannot be tokens is refused before the config
// changes.
func TestConfigRefusesBadKieferTokensBeforeWriting(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.mustFail(logical.UpdateOperation, "config", map[string]any{keyClientSecret: "new", keyAccessToken: "not a token"}, 400, "access_token does not look like a token")
	if e.storedConfig().ClientSecret != testClientSecret {
		t.Fatal("a refused write changed the client secret")
	}
}
