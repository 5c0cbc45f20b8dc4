// The harness: Vault's HTTP API without the CLI, and the plugin's storage
// through sys/raw.

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// Vault's HTTP API, without the CLI
//
// The CLI costs a process start per call; the fault and bad-input corpora
// make hundreds of calls, some with bodies the CLI cannot express (wrong
// JSON types, repeated query parameters). The load harness drives its
// thousands of requests through the same client, on a transport of its own
// (withConns) and by send, which decodes nothing.

// jbAPI calls one Vault server's HTTP API with a token.
type jbAPI struct {
	addr, token string
	client      *http.Client
}

// apiOption tunes a client made by apiOf.
type apiOption func(*jbAPI)

// apiOf is a client of v's API with its root token, a 60 s timeout per
// request and Go's default transport, shared by every such client.
func apiOf(v *Vault, opts ...apiOption) *jbAPI {
	a := &jbAPI{addr: v.Addr, token: v.Token, client: &http.Client{
		Timeout: 60 * time.Second,
		// A redirect is an answer in its own right here, never followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	for _, o := range opts {
		o(a)
	}
	return a
}

// withToken sends token instead of the root token; "" sends none.
func withToken(token string) apiOption {
	return func(a *jbAPI) { a.token = token }
}

// withTimeout bounds each request, its reply included.
func withTimeout(d time.Duration) apiOption {
	return func(a *jbAPI) { a.client.Timeout = d }
}

// withConns gives the client a keep-alive transport of its own with room for
// conns idle connections to the server: one for each concurrent caller (the
// load harness's clients), so that once they are warm no request opens a
// connection or waits for one. CloseIdleConnections on the client closes
// them.
func withConns(conns int) apiOption {
	return func(a *jbAPI) {
		a.client.Transport = &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     5 * time.Minute,
			DisableCompression:  true,
		}
	}
}

// jbReply is one HTTP answer, with Vault's JSON envelope decoded when there
// is one.
type jbReply struct {
	Status   int
	Header   http.Header
	Body     []byte
	Data     map[string]any
	Errors   []string
	Warnings []string
}

func (r jbReply) String() string {
	body := string(r.Body)
	if len(body) > 1500 {
		body = body[:1500] + fmt.Sprintf("...[%d bytes in all]", len(r.Body))
	}
	return fmt.Sprintf("HTTP %d: %s", r.Status, body)
}

// message is everything Vault said besides data: errors and warnings.
func (r jbReply) message() string {
	return strings.Join(append(slices.Clone(r.Errors), r.Warnings...), " | ")
}

func (r jbReply) str(key string) string {
	s, _ := r.Data[key].(string)
	return s
}

// newRequest is a request for method on /v1/path (path is used as given,
// escapes included) with the query string exactly as given. body is nil, a
// string or []byte sent as it is, or anything else sent as JSON. A request
// without a body can be sent again and again (the load harness does).
func (a *jbAPI) newRequest(method, path, rawQuery string, body any) (*http.Request, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(buf)
	}
	u := a.addr + "/v1/" + path
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return nil, err
	}
	if a.token != "" {
		req.Header.Set("X-Vault-Token", a.token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// send sends req and reads the whole reply into buf (emptied first), so the
// connection goes back to the pool; it returns the status and the headers.
// It decodes nothing and allocates nothing beyond what net/http does: the
// load harness's path, reusing one request and one buffer per caller.
//
// The status is 0 when no reply came. When the reply came but reading its
// body failed, the error comes with the status, the headers and the body
// as far as it was read.
func (a *jbAPI) send(req *http.Request, buf *bytes.Buffer) (int, http.Header, error) {
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, err
}

// do sends method to /v1/path (see newRequest) and decodes Vault's reply.
// A transport error is returned, not fatal: some callers expect one.
func (a *jbAPI) do(method, path string, query url.Values, body any) (jbReply, error) {
	return a.doRaw(method, path, query.Encode(), body)
}

// doRaw is do with the query string sent exactly as given.
func (a *jbAPI) doRaw(method, path, rawQuery string, body any) (jbReply, error) {
	req, err := a.newRequest(method, path, rawQuery, body)
	if err != nil {
		return jbReply{}, err
	}
	var buf bytes.Buffer
	status, header, err := a.send(req, &buf)
	if err != nil {
		return jbReply{}, err
	}
	r := jbReply{Status: status, Header: header, Body: buf.Bytes()}
	var env struct {
		Data     map[string]any `json:"data"`
		Errors   []string       `json:"errors"`
		Warnings []string       `json:"warnings"`
	}
	if json.Unmarshal(r.Body, &env) == nil {
		r.Data, r.Errors, r.Warnings = env.Data, env.Errors, env.Warnings
	}
	return r, nil
}

// health is the server's sys/health status, which needs no token: 200
// active, 429 standby, 501 not initialised, 503 sealed; 0 and the error
// when the server does not answer.
func (a *jbAPI) health() (int, error) {
	r, err := a.do(http.MethodGet, "sys/health", nil, nil)
	return r.Status, err
}

// healthTimeout bounds one sys/health poll.
const healthTimeout = 2 * time.Second

// call is do that fails the test on a transport error.
func (a *jbAPI) call(t *testing.T, method, path string, body any) jbReply {
	t.Helper()
	r, err := a.do(method, path, nil, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// must is call that also requires a 2xx answer.
func (a *jbAPI) must(t *testing.T, method, path string, body any) jbReply {
	t.Helper()
	r := a.call(t, method, path, body)
	if r.Status/100 != 2 {
		t.Fatalf("%s %s: want 2xx, got %s", method, path, r)
	}
	return r
}

// apiToken reads creds/name through a and returns its access token.
func apiToken(t *testing.T, a *jbAPI, name string) string {
	t.Helper()
	r := a.call(t, http.MethodGet, mountPath+"/creds/"+name, nil)
	if r.Status != http.StatusOK || r.str("access_token") == "" {
		t.Fatalf("reading creds/%s on %s: %s", name, a.addr, r)
	}
	return r.str("access_token")
}

// ---------------------------------------------------------------------------
// The plugin's storage, seen through sys/raw (dev servers enable it)

func mountUUIDOf(t *testing.T, a *jbAPI) string {
	t.Helper()
	uuid, _ := a.must(t, http.MethodGet, "sys/mounts/"+mountPath, nil).Data["uuid"].(string)
	if uuid == "" {
		t.Fatal("sys/mounts/jawbone has no uuid")
	}
	return uuid
}

// rawCreds is the stored creds entry of name, decoded, or nil if none.
func rawCreds(t *testing.T, a *jbAPI, uuid, name string) map[string]any {
	t.Helper()
	r := a.call(t, http.MethodGet, "sys/raw/logical/"+uuid+"/creds/"+name, nil)
	if r.Status == http.StatusNotFound {
		return nil
	}
	if r.Status != http.StatusOK {
		t.Fatalf("reading the stored creds %q through sys/raw: %s", name, r)
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(r.str("value")), &entry); err != nil {
		t.Fatalf("the stored creds %q are not JSON: %v", name, err)
	}
	return entry
}

// rawPutCreds replaces the stored creds entry of name, then reloads the
// mount's plugin: the plugin caches entries and Vault tells it nothing of a
// sys/raw write, so only a fresh plugin process is sure to read it.
func rawPutCreds(t *testing.T, a *jbAPI, uuid, name string, entry map[string]any) {
	t.Helper()
	buf, err := json.Marshal(entry)
	if err != nil {
		t.Fatal(err)
	}
	a.must(t, http.MethodPut, "sys/raw/logical/"+uuid+"/creds/"+name, map[string]any{"value": string(buf)})
	reloadMount(t, a)
}

// reloadMount restarts the plugin behind jawbone/ and waits until it answers.
func reloadMount(t *testing.T, a *jbAPI) {
	t.Helper()
	a.must(t, http.MethodPut, "sys/plugins/reload/backend", map[string]any{"mounts": []string{mountPath + "/"}})
	waitMount(t, a, "the reload")
}

// waitMount waits until jawbone/ answers a config read again after what
// (a reload, a restart).
func waitMount(t *testing.T, a *jbAPI, what string) {
	t.Helper()
	waitFor(t, startTimeout, "jawbone/ to answer after "+what, func() (bool, error) {
		r, err := a.do(http.MethodGet, mountPath+"/config", nil, nil)
		if err != nil {
			return false, err
		}
		return r.Status == http.StatusOK, fmt.Errorf("%s", r)
	})
}

// ageBackoff moves the stored next refresh attempt of name into the past, as
// if the backoff had run out; and with it the time by which an attempt in
// doubt could still land, which is shorter than the backoff.
func ageBackoff(t *testing.T, a *jbAPI, uuid, name string) {
	t.Helper()
	entry := rawCreds(t, a, uuid, name)
	if entry == nil {
		t.Fatalf("no stored creds %q to age", name)
	}
	if _, ok := entry["next_attempt_at"]; !ok {
		t.Fatalf("the stored creds %q have no next_attempt_at (fields %v): nothing to age", name, mapKeys(entry))
	}
	past := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	entry["next_attempt_at"] = past
	if _, ok := entry["refresh_lands_by"]; ok {
		entry["refresh_lands_by"] = past
	}
	rawPutCreds(t, a, uuid, name, entry)
}
