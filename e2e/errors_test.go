package e2e

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// TestExchangeErrors: a denied consent, a replayed state, an expired state
// and a redirect for another address each fail with a clear CLI error and
// store nothing.
func TestExchangeErrors(t *testing.T) {
	f := StartFake(t)
	v := StartVaultWithPlugin(t)
	v.ConfigureFor(f)

	// requireNothingNew checks that a failed exchange stored no creds and
	// made no token call.
	requireNothingNew := func(t *testing.T, before []string, tokenCalls int, name string) {
		t.Helper()
		v := v.For(t)
		if after := v.ListCreds(); !slices.Equal(before, after) {
			t.Errorf("the failed exchange changed the creds: before %v, after %v", before, after)
		}
		if n := f.Calls(fakejawbone.EndpointToken) - tokenCalls; n != 0 {
			t.Errorf("the failed exchange made %d token calls to the fake, want 0", n)
		}
		v.CLI("read", mountPath+"/creds/"+name).requireFail(t, "no creds", "no value found")
	}

	t.Run("denied", func(t *testing.T) {
		v := v.For(t)
		f.SetDeny(true)
		defer f.SetDeny(false)
		authURL, _ := v.AuthURL("name=denied")
		loc := f.Visit(t, authURL)
		if !strings.Contains(loc, "error=access_denied") {
			t.Fatalf("the denied consent redirected to %q, want error=access_denied", loc)
		}
		before, calls := v.ListCreds(), f.Calls(fakejawbone.EndpointToken)
		v.CLI("write", mountPath+"/exchange", "redirect_url="+loc).requireFail(t, "authorization was denied")
		requireNothingNew(t, before, calls, "denied")
	})

	t.Run("replayed state", func(t *testing.T) {
		v := v.For(t)
		authURL, state := v.AuthURL("name=replay")
		loc := f.Visit(t, authURL)
		v.MustCLI("write", mountPath+"/exchange", "redirect_url="+loc)
		token := v.AccessToken("replay")

		before, calls := v.ListCreds(), f.Calls(fakejawbone.EndpointToken)
		// The state is spent, and its authorization worked: the replay says
		// so, with the command that reads the creds.
		completed := `this authorization was completed already: its tokens are stored as the creds "replay" (each state works once); read them with vault read jawbone/creds/replay`
		v.CLI("write", mountPath+"/exchange", "redirect_url="+loc).requireFail(t, completed)
		code := mustQuery(t, loc).Get("code")
		v.CLI("write", mountPath+"/exchange", "code="+code, "state="+state).requireFail(t, completed)
		if after := v.ListCreds(); !slices.Equal(before, after) {
			t.Errorf("the replay changed the creds: before %v, after %v", before, after)
		}
		if n := f.Calls(fakejawbone.EndpointToken) - calls; n != 0 {
			t.Errorf("the replay made %d token calls, want 0", n)
		}
		if got := v.AccessToken("replay"); got != token {
			t.Errorf("the replay changed creds/replay's token")
		}
	})

	t.Run("unknown state", func(t *testing.T) {
		v := v.For(t)
		before, calls := v.ListCreds(), f.Calls(fakejawbone.EndpointToken)
		forged := f.RedirectURI + "?code=forged&state=" + randomHex(t, 32)
		v.CLI("write", mountPath+"/exchange", "redirect_url="+forged).requireFail(t, "already used", "unknown")
		requireNothingNew(t, before, calls, "forged")
	})

	t.Run("expired state", func(t *testing.T) {
		v := v.For(t)
		// A state lives 10 minutes and the plugin has no clock hook, so the
		// test ages the stored state instead of waiting: through Vault's raw
		// storage endpoint (enabled on dev servers) it finds the one entry
		// auth-url added and moves its expires_at into the past.
		uuid := v.mountUUID()
		// Vault's rollback tick (once a minute) sweeps expired states; if it
		// hits the second between aging and exchanging, the state is gone
		// ("unknown") rather than expired, so such a run is tried once more.
		for attempt := 1; ; attempt++ {
			keysBefore := v.rawKeys("logical/" + uuid + "/")
			authURL, _ := v.AuthURL("name=expired")
			added := slices.DeleteFunc(difference(v.rawKeys("logical/"+uuid+"/"), keysBefore), func(k string) bool {
				return !strings.HasPrefix(k, "logical/"+uuid+"/state/") // its name's marker, beside it
			})
			if len(added) != 1 {
				t.Fatalf("auth-url added %d states (%v), want exactly 1", len(added), added)
			}
			loc := f.Visit(t, authURL)
			v.rawAgeField(added[0], "expires_at", time.Now().Add(-time.Minute))

			before, calls := v.ListCreds(), f.Calls(fakejawbone.EndpointToken)
			res := v.CLI("write", mountPath+"/exchange", "redirect_url="+loc)
			if attempt == 1 && res.Code == 2 && strings.Contains(res.Stderr, "unknown") {
				t.Logf("the state was swept before the exchange; trying again:\n%s", res)
				continue
			}
			res.requireFail(t, "expired")
			requireNothingNew(t, before, calls, "expired")
			return
		}
	})

	t.Run("wrong redirect", func(t *testing.T) {
		v := v.For(t)
		cases := []struct {
			name   string
			mangle func(u *url.URL)
		}{
			{"other host", func(u *url.URL) { u.Host = "attacker.example:" + u.Port() }},
			{"other port", func(u *url.URL) { u.Host = "127.0.0.1:1" }},
			{"other scheme", func(u *url.URL) { u.Scheme = "https" }},
			{"other path", func(u *url.URL) { u.Path = "/elsewhere" }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				v := v.For(t)
				name := "wrong-" + strings.ReplaceAll(c.name, " ", "-")
				authURL, _ := v.AuthURL("name=" + name)
				loc := f.Visit(t, authURL)
				u := mustParse(t, loc)
				c.mangle(u)
				before, calls := v.ListCreds(), f.Calls(fakejawbone.EndpointToken)
				v.CLI("write", mountPath+"/exchange", "redirect_url="+u.String()).requireFail(t, "redirect_uri")
				requireNothingNew(t, before, calls, name)
			})
		}
	})

	// Of everything above, only the one good exchange stored creds.
	if got := v.ListCreds(); !slices.Equal(got, []string{"replay"}) {
		t.Errorf("creds after all error cases = %v, want only [replay]", got)
	}
}

// TestErrorRepliesReadLikeA400: a 404, 405 or 502 from the plugin reaches
// the CLI as its 400s do, the message after "Code: <status>. Errors:",
// not wrapped by Vault as "1 error occurred"; and the audit log keeps the
// message readable.
func TestErrorRepliesReadLikeA400(t *testing.T) {
	f := StartFake(t)
	v := StartVaultWithPlugin(t)
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	v.MustCLI("audit", "enable", "file", "file_path="+auditPath)
	v.ConfigureFor(f)
	v.Authorize(f, "me")

	// Jawbone's own 500 (an OAuth error body): the refresh was not made. A
	// bare 500 could be a gateway's, and would leave the refresh in doubt.
	f.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Status: 500, Body: `{"error":"server_error"}`, Times: 1})
	cases := []struct {
		res    CLIResult
		status int
		msg    string
	}{
		{v.CLI("read", mountPath+"/creds/me/refresh"), 405, "* creds/me/refresh is a write, not a read: vault write -f jawbone/creds/me/refresh"},
		{v.CLI("write", "-f", mountPath+"/creds/ghost/refresh"), 404, `* no creds named "ghost"; authorize with vault read jawbone/auth-url name=ghost`},
		{v.CLI("write", "-f", mountPath+"/creds/me/refresh"), 502, "* jawbone refresh failed (HTTP 500): server_error; Jawbone may be unavailable: try again later"},
		{v.CLI("read", mountPath+"/creds/a..b"), 400, `* name "a..b" is not allowed`},
	}
	for _, tc := range cases {
		tc.res.requireStatus(t, tc.status, "Code: "+strconv.Itoa(tc.status)+". Errors:\n\n"+tc.msg)
		if strings.Contains(tc.res.Stderr, "error occurred") {
			t.Errorf("Vault wrapped the plugin's error:\n%s", tc.res)
		}
	}
	audit, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(audit), "jawbone refresh failed (HTTP 500)") {
		t.Error("the audit log does not have the 502's message readable")
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parsing %q: %v", raw, err)
	}
	return u
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	return mustParse(t, raw).Query()
}

func difference(after, before []string) []string {
	var out []string
	for _, k := range after {
		if !slices.Contains(before, k) {
			out = append(out, k)
		}
	}
	return out
}

// mountUUID is the UUID of the jawbone/ mount, which names its storage.
func (v *Vault) mountUUID() string {
	v.t.Helper()
	uuid, _ := v.ReadJSON("sys/mounts/" + mountPath).Data["uuid"].(string)
	if uuid == "" {
		v.t.Fatal("sys/mounts/jawbone has no uuid")
	}
	return uuid
}

// rawKeys lists every storage key under prefix (recursively) through
// sys/raw, as full paths.
func (v *Vault) rawKeys(prefix string) []string {
	v.t.Helper()
	keys := v.ListJSON("sys/raw/" + prefix)
	var out []string
	for _, k := range keys {
		if strings.HasSuffix(k, "/") {
			out = append(out, v.rawKeys(prefix+k)...)
		} else {
			out = append(out, prefix+k)
		}
	}
	return out
}

// rawAgeField rewrites one JSON storage entry with field set to at.
func (v *Vault) rawAgeField(key, field string, at time.Time) {
	v.t.Helper()
	raw, _ := v.ReadJSON("sys/raw/" + key).Data["value"].(string)
	var entry map[string]any
	if err := json.Unmarshal([]byte(raw), &entry); err != nil {
		v.t.Fatalf("storage entry %s is not JSON: %v", key, err)
	}
	if _, ok := entry[field]; !ok {
		v.t.Fatalf("storage entry %s has no %q field (keys: %v): the plugin's state format changed", key, field, mapKeys(entry))
	}
	entry[field] = at.UTC().Format(time.RFC3339Nano)
	out, err := json.Marshal(entry)
	if err != nil {
		v.t.Fatal(err)
	}
	v.MustCLI("write", "sys/raw/"+key, "value="+string(out))
}
