package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// hostileRequest is one malformed or hostile request, sent as it is through
// Vault's HTTP API.
type hostileRequest struct {
	name   string
	method string
	path   string   // under /v1/jawbone/, escapes included
	query  string   // raw query string, repeated parameters included
	body   any      // nil, a raw string, or a value sent as JSON
	fields []string // the answer must name one of these
	anon   bool     // send without a Vault token (the unauthenticated callback)
}

// engineState is what the API reads back of the engine's stored state.
type engineState struct {
	Config     string            // jawbone/config as read (JSON)
	Names      []string          // LIST jawbone/creds
	Creds      map[string]string // per name: access_token and expires_at, or the read's error
	TokenCalls int               // calls to the fake's token URL
	APICalls   int               // calls to the fake's refreshToken API (kiefer's get_refresh_token)
}

func readEngineState(t *testing.T, a *jbAPI, f *Fake) engineState {
	t.Helper()
	s := engineState{
		Creds:      map[string]string{},
		TokenCalls: f.Calls(fakejawbone.EndpointToken),
		APICalls:   f.Calls(fakejawbone.EndpointRefreshToken),
	}
	cfg := a.must(t, http.MethodGet, mountPath+"/config", nil)
	buf, _ := json.Marshal(cfg.Data) // map keys are sorted
	s.Config = string(buf)
	list := a.call(t, "LIST", mountPath+"/creds", nil)
	if list.Status != http.StatusOK {
		t.Fatalf("LIST creds: %s", list)
	}
	for _, k := range list.Data["keys"].([]any) {
		name := k.(string)
		s.Names = append(s.Names, name)
		r := a.call(t, http.MethodGet, mountPath+"/creds/"+name, nil)
		if r.Status != http.StatusOK {
			s.Creds[name] = r.String()
			continue
		}
		s.Creds[name] = r.str("access_token") + " " + r.str("expires_at")
	}
	return s
}

func (s engineState) diff(o engineState) string {
	var out []string
	if s.Config != o.Config {
		out = append(out, fmt.Sprintf("config %s -> %s", clipText(s.Config), clipText(o.Config)))
	}
	if !reflect.DeepEqual(s.Names, o.Names) {
		out = append(out, fmt.Sprintf("creds list %v -> %v", s.Names, o.Names))
	}
	for name, v := range s.Creds {
		if w := o.Creds[name]; w != v {
			how := "access_token/expires_at changed"
			if strings.HasPrefix(w, "HTTP ") {
				how = "now fails to read: " + clipText(w)
			}
			out = append(out, fmt.Sprintf("creds/%s %s", name, how))
		}
	}
	if n := o.TokenCalls - s.TokenCalls; n != 0 {
		out = append(out, fmt.Sprintf("%d call(s) to the fake's token URL", n))
	}
	if n := o.APICalls - s.APICalls; n != 0 {
		out = append(out, fmt.Sprintf("%d call(s) to the fake's refreshToken API", n))
	}
	return strings.Join(out, "; ")
}

// clipText shortens what a failure prints: some values are a megabyte.
func clipText(s string) string {
	const max = 300
	if len(s) <= max {
		return s
	}
	return s[:max] + fmt.Sprintf("...[%d bytes]", len(s))
}

func badInputCorpus(f *Fake) []hostileRequest {
	// 1 MB, just under Vault's own limit on a JSON string (1 MiB, see
	// max_json_string_value_length), so that the request reaches the plugin.
	mb := strings.Repeat("a", 1_000_000)
	redirect := func(q string) string { return f.RedirectURI + "?" + q }
	u, _ := url.Parse(f.RedirectURI)
	port := u.Port()
	long := strings.Repeat("n", 65)
	cfg := func(name string, body any, fields ...string) hostileRequest {
		return hostileRequest{name: "config: " + name, method: http.MethodPost, path: "config", body: body, fields: fields}
	}
	authGet := func(name, query string, fields ...string) hostileRequest {
		return hostileRequest{name: "auth-url: " + name, method: http.MethodGet, path: "auth-url", query: query, fields: fields}
	}
	exchange := func(name string, body any, fields ...string) hostileRequest {
		return hostileRequest{name: "exchange: " + name, method: http.MethodPost, path: "exchange", body: body, fields: fields}
	}
	exURL := func(name, redirectURL string, fields ...string) hostileRequest {
		return exchange(name, map[string]any{"redirect_url": redirectURL}, fields...)
	}
	creds := func(name, method, path string, body any, fields ...string) hostileRequest {
		return hostileRequest{name: "creds: " + name, method: method, path: path, body: body, fields: fields}
	}
	callback := func(name, query string, fields ...string) hostileRequest {
		return hostileRequest{name: "callback: " + name, method: http.MethodGet, path: "callback", query: query, fields: fields, anon: true}
	}
	return []hostileRequest{
		// config: wrong types, empty and huge values, unknown fields.
		cfg("client_id is an object", `{"client_id":{"a":1}}`, "client_id"),
		cfg("client_id is a list of two", `{"client_id":["a","b"]}`, "client_id"),
		cfg("client_id is empty", map[string]any{"client_id": ""}, "client_id"),
		cfg("client_id has a space", map[string]any{"client_id": "a b"}, "client_id"),
		cfg("client_id is 1 MB", map[string]any{"client_id": mb}, "client_id"),
		cfg("client_secret is empty", map[string]any{"client_secret": ""}, "client_secret"),
		cfg("client_secret is 1 MB", map[string]any{"client_secret": mb}, "client_secret"),
		cfg("redirect_uri is a javascript: URL", map[string]any{"redirect_uri": "javascript:alert(document.cookie)"}, "redirect_uri"),
		cfg("redirect_uri is a data: URL", map[string]any{"redirect_uri": "data:text/html,<script>alert(1)</script>"}, "redirect_uri"),
		cfg("redirect_uri is plain http to another host", map[string]any{"redirect_uri": "http://app.example/callback"}, "redirect_uri"),
		cfg("redirect_uri is http to a host dressed as loopback", map[string]any{"redirect_uri": "http://127.0.0.1.evil.example/callback"}, "redirect_uri"),
		cfg("redirect_uri is ftp", map[string]any{"redirect_uri": "ftp://127.0.0.1/callback"}, "redirect_uri"),
		cfg("redirect_uri is relative", map[string]any{"redirect_uri": "/callback"}, "redirect_uri"),
		cfg("redirect_uri carries user:password", map[string]any{"redirect_uri": "https://user:pw@app.example/callback"}, "redirect_uri"),
		cfg("redirect_uri has a fragment", map[string]any{"redirect_uri": "https://app.example/callback#x"}, "redirect_uri"),
		cfg("redirect_uri does not parse", map[string]any{"redirect_uri": "https://[::1"}, "redirect_uri"),
		cfg("redirect_uri is 1 MB", map[string]any{"redirect_uri": "https://app.example/" + mb}, "redirect_uri"),
		cfg("auth_url is ftp", map[string]any{"auth_url": "ftp://jawbone.com/auth/oauth2/auth"}, "auth_url"),
		cfg("auth_url is a javascript: URL", map[string]any{"auth_url": "javascript:alert(1)"}, "auth_url"),
		cfg("auth_url is a file: URL", map[string]any{"auth_url": "file:///etc/passwd"}, "auth_url"),
		cfg("token_url is plain http to another host", map[string]any{"token_url": "http://jawbone.com/auth/oauth2/token"}, "token_url"),
		cfg("token_url is gopher", map[string]any{"token_url": "gopher://127.0.0.1/x"}, "token_url"),
		cfg("api_url is not a URL", map[string]any{"api_url": "not a url"}, "api_url"),
		cfg("scopes has an unknown scope", map[string]any{"scopes": "basic_read,admin"}, "scopes"),
		cfg("scopes has a Cyrillic lookalike", map[string]any{"scopes": "b\u0430sic_read"}, "scopes"),
		cfg("scopes is an object", `{"scopes":{"a":1}}`, "scopes"),
		cfg("scope and scopes both", map[string]any{"scope": []string{"basic_read"}, "scopes": "basic_read"}, "scope"),
		cfg("scope (kiefer) has an unknown scope", map[string]any{"scope": []string{"nope"}}, "scope"),
		cfg("refresh_ahead is not a duration", map[string]any{"refresh_ahead": "abc"}, "refresh_ahead"),
		cfg("refresh_ahead is negative", map[string]any{"refresh_ahead": "-1h"}, "refresh_ahead"),
		cfg("refresh_ahead is over 364 days", map[string]any{"refresh_ahead": "9000h"}, "refresh_ahead"),
		cfg("refresh_ahead is an object", `{"refresh_ahead":{"h":1}}`, "refresh_ahead"),
		cfg("request_timeout is zero", map[string]any{"request_timeout": "0s"}, "request_timeout"),
		cfg("request_timeout is ten minutes", map[string]any{"request_timeout": "10m"}, "request_timeout"),
		cfg("request_timeout is under a second", map[string]any{"request_timeout": "500ms"}, "request_timeout"),
		cfg("request_timeout is a boolean", `{"request_timeout":true}`, "request_timeout"),
		cfg("an unknown field alone", map[string]any{"client_idd": "x"}, "client_idd"),
		cfg("an unknown field beside a known one", map[string]any{"client_id": f.ClientID, "tokenurl": "http://evil.example/token"}, "tokenurl"),
		cfg("the body is a JSON list, not an object", `["client_id","x"]`, "json"),
		cfg("kiefer access_token has spaces", map[string]any{"access_token": "not a token"}, "access_token"),
		cfg("kiefer refresh_token is 1 MB", map[string]any{"refresh_token": mb}, "refresh_token"),

		// auth-url: invalid names, scopes not in the list, repeats, unknowns.
		authGet("name with ../", "name=../x", "name"),
		authGet("name with a slash", "name=a/b", "name"),
		authGet("name starting with a dot", "name=.hidden", "name"),
		authGet("name starting with a dash", "name=-x", "name"),
		authGet("name of 65 characters", "name="+long, "name"),
		authGet("name with a right-to-left override", "name="+url.QueryEscape("me\u202egpj.exe"), "name"),
		authGet("name in fullwidth letters", "name="+url.QueryEscape("\uff4d\uff45"), "name"),
		authGet("name with a NUL byte", "name=me%00", "name"),
		authGet("name empty", "name=", "name"),
		authGet("name repeated", "name=a&name=b", "name"),
		authGet("scopes not in the list", "scopes=admin", "scopes"),
		authGet("scopes repeated with a bad one", "scopes=basic_read&scopes=nope", "scopes"),
		{name: "auth-url: name of 1 MB", method: http.MethodPost, path: "auth-url", body: map[string]any{"name": mb}, fields: []string{"name"}},
		{name: "auth-url: scopes is an object", method: http.MethodPost, path: "auth-url", body: `{"scopes":{"a":1}}`, fields: []string{"scopes"}},
		{name: "auth-url: an unknown field", method: http.MethodPost, path: "auth-url", body: map[string]any{"nam3": "x"}, fields: []string{"nam3"}},

		// exchange: malformed and foreign redirect URLs, repeats, missing parts.
		exchange("nothing given", map[string]any{}, "redirect_url"),
		exURL("javascript: URL", "javascript:alert(document.cookie)", "redirect_url"),
		exURL("data: URL", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "redirect_url"),
		exURL("another host", "http://evil.example:"+port+"/callback?code=c&state=s", "redirect_url"),
		exURL("another scheme", "https://127.0.0.1:"+port+"/callback?code=c&state=s", "redirect_url"),
		exURL("another path", "http://127.0.0.1:"+port+"/elsewhere?code=c&state=s", "redirect_url"),
		exURL("userinfo dressed as the host", "http://127.0.0.1:"+port+"@evil.example/callback?code=c&state=s", "redirect_url"),
		exURL("backslash host trick", `http://evil.example\@127.0.0.1:`+port+"/callback?code=c&state=s", "redirect_url"),
		exURL("relative URL", "/callback?code=c&state=s", "redirect_url"),
		exURL("1 MB", redirect("code=c&state="+mb), "redirect_url"),
		exURL("code repeated", redirect("code=a&code=b&state=s"), "code"),
		exURL("state repeated", redirect("code=a&state=s&state=t"), "state"),
		exURL("no code", redirect("state=s"), "code"),
		exURL("no state", redirect("code=c"), "state"),
		exURL("malformed query", redirect("code=%zz&state=s"), "redirect_url"),
		exURL("unknown state", redirect("code=c&state=forged-state-value"), "state"),
		exchange("redirect_url and code both", map[string]any{"redirect_url": redirect("code=c&state=s"), "code": "c"}, "redirect_url"),
		exchange("code without state", map[string]any{"code": "c"}, "state"),
		exchange("state without code", map[string]any{"state": "s"}, "code"),
		exchange("redirect_url is a number", `{"redirect_url":123}`, "redirect_url"),
		exchange("redirect_url is a list", `{"redirect_url":["a","b"]}`, "redirect_url"),
		exchange("redirect_uri given instead of redirect_url", map[string]any{"redirect_uri": redirect("code=c&state=s")}, "redirect_uri", "redirect_url"),

		// creds: invalid names in the path, bad imports, unknown fields.
		creds("read ..%2Fx", http.MethodGet, "creds/..%2Fx", nil, "name"),
		creds("read a%2Fb", http.MethodGet, "creds/a%2Fb", nil, "name"),
		creds("read a name with ..", http.MethodGet, "creds/a..b", nil, "name"),
		creds("read a name starting with a dot", http.MethodGet, "creds/.me", nil, "name"),
		creds("read a fullwidth name", http.MethodGet, "creds/"+url.PathEscape("\uff4d\uff45"), nil, "name"),
		creds("read a name with a Cyrillic lookalike", http.MethodGet, "creds/"+url.PathEscape("m\u0435"), nil, "name"),
		creds("read a name of 65 characters", http.MethodGet, "creds/"+long, nil, "name"),
		creds("read a name that does not exist", http.MethodGet, "creds/nobody", nil, "nobody"),
		creds("import nothing", http.MethodPost, "creds/new", map[string]any{}, "refresh_token"),
		creds("import a refresh_token with spaces", http.MethodPost, "creds/new", map[string]any{"refresh_token": "a b c"}, "refresh_token"),
		creds("import a refresh_token of 1 MB", http.MethodPost, "creds/new", map[string]any{"refresh_token": mb}, "refresh_token"),
		creds("import an access_token that is an object", http.MethodPost, "creds/new", `{"access_token":{"a":1}}`, "access_token"),
		creds("import with expires_at not a time", http.MethodPost, "creds/new", map[string]any{"access_token": "abc", "refresh_token": "def", "expires_at": "tomorrow"}, "expires_at"),
		creds("import expires_at without access_token", http.MethodPost, "creds/new", map[string]any{"refresh_token": "def", "expires_at": "2030-01-01T00:00:00Z"}, "expires_at"),
		creds("import scopes not in the list", http.MethodPost, "creds/new", map[string]any{"refresh_token": "def", "scopes": "admin"}, "scopes"),
		creds("overwrite me with a bad expires_at", http.MethodPost, "creds/me", map[string]any{"access_token": "abc", "refresh_token": "def", "expires_at": "2030-13-45"}, "expires_at"),
		creds("write me with only an unknown field", http.MethodPost, "creds/me", map[string]any{"refresh_tokn": "x"}, "refresh_tokn", "refresh_token"),
		creds("import into an invalid name", http.MethodPost, "creds/a..b", map[string]any{"refresh_token": "def"}, "name"),
		creds("delete ..%2Fx", http.MethodDelete, "creds/..%2Fx", nil, "name"),
		creds("delete a name with ..", http.MethodDelete, "creds/a..b", nil, "name"),
		creds("refresh an invalid name", http.MethodPost, "creds/a..b/refresh", nil, "name"),
		creds("refresh a name that does not exist", http.MethodPost, "creds/nobody/refresh", nil, "nobody"),
		creds("refresh me with an unknown field", http.MethodPost, "creds/me/refresh", map[string]any{"force": true}, "force"),

		// callback (unauthenticated): repeats, missing parts, oversize.
		callback("code repeated", "code=a&code=b&state=s", "code"),
		callback("no code", "state=s", "code"),
		callback("unknown state", "code=c&state=forged", "state"),
		callback("query over 8 KiB", "code=c&state="+strings.Repeat("s", 9<<10), "query"),
	}
}

// TestBadInput sends a corpus of malformed and hostile requests to every
// path through Vault's HTTP API. Each must get a 4xx whose message names
// the field, never a 5xx, and leave the config, the creds and the fake's
// token calls exactly as they were.
func TestBadInput(t *testing.T) {
	f := StartFake(t)
	v := StartVaultWithPlugin(t)
	v.ConfigureFor(f, "scopes=basic_read,sleep_read")
	v.Authorize(f, "me")
	access, refresh := f.Issue()
	v.MustCLI("write", mountPath+"/creds/imported", "access_token="+access, "refresh_token="+refresh,
		"expires_at="+time.Now().Add(200*24*time.Hour).UTC().Format(time.RFC3339))
	a := apiOf(v)
	anon := apiOf(v, withToken(""))

	corpus := badInputCorpus(f)
	if len(corpus) < 50 {
		t.Fatalf("the corpus has %d requests, want at least 50", len(corpus))
	}
	// restore puts the config back after a request that changed it, so
	// one accepted bad value does not spoil the cases after it.
	restore := func(t *testing.T) {
		t.Helper()
		a.must(t, http.MethodPost, mountPath+"/config", map[string]any{
			"client_id": f.ClientID, "client_secret": f.ClientSecret, "redirect_uri": f.RedirectURI,
			"auth_url": f.AuthURL, "token_url": f.TokenURL, "api_url": f.APIURL,
			"scopes": "basic_read,sleep_read", "refresh_ahead": "168h", "request_timeout": "30s",
		})
	}
	initial := readEngineState(t, a, f)
	var failed []string
	for _, c := range corpus {
		ok := t.Run(c.name, func(t *testing.T) {
			before := readEngineState(t, a, f)
			client := a
			if c.anon {
				client = anon
			}
			r, err := client.doRaw(c.method, mountPath+"/"+c.path, c.query, c.body)
			if err != nil {
				t.Fatalf("%s %s: %v", c.method, c.path, err)
			}
			msg := r.message()
			if msg == "" {
				msg = string(r.Body) // the callback answers with a page
			}
			where := fmt.Sprintf("%s /v1/%s/%s", c.method, mountPath, clipText(c.path))
			if c.query != "" {
				where += "?" + clipText(c.query)
			}
			reply := clipText(r.String())
			switch {
			case r.Status >= 500:
				t.Errorf("%s: got a server error: %s", where, reply)
			case r.Status < 400:
				t.Errorf("%s: accepted (want 4xx): %s", where, reply)
			case !mentionsAny(msg, c.fields):
				t.Errorf("%s: HTTP %d, but the message names none of %q: %s", where, r.Status, c.fields, reply)
			}
			if d := before.diff(readEngineState(t, a, f)); d != "" {
				t.Errorf("%s changed the engine's state: %s", where, d)
				restore(t)
			}
		})
		if !ok {
			failed = append(failed, c.name)
		}
	}
	final := readEngineState(t, a, f)
	if initial.Config != final.Config {
		t.Errorf("after the corpus the config differs: %s", initial.diff(final))
	}
	f.requireTokenWorks(t, v.AccessToken("me"), "creds/me after the corpus")
	f.requireTokenWorks(t, v.AccessToken("imported"), "creds/imported after the corpus")
	t.Logf("%d requests, %d failed: %q", len(corpus), len(failed), failed)
}
