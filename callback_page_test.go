package jawbone

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestCallbackPageIsLockedDown(t *testing.T) {
	t.Parallel()
	e := newCallbackEnv(t)
	r := e.callback(e.landing("me"))
	r.requirePage(t, http.StatusOK)
	for _, want := range []string{
		`<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; style-src &#39;sha256-`,
		`<meta name="referrer" content="no-referrer">`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, banned := range []string{"<script", "<img", "<form", "<iframe", "<link", "http://", "https://"} {
		if strings.Contains(r.body, banned) {
			t.Errorf("page contains %q", banned)
		}
	}
	h := http.Header(r.resp.Headers)
	if !strings.Contains(strings.Join(h["Content-Security-Policy"], ""), "frame-ancestors 'none'") ||
		h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("security headers %v", h)
	}
}

func TestCallbackSuggestsCommandsForItsMount(t *testing.T) {
	t.Parallel()
	e := newCallbackEnv(t)
	q := e.landing("me")
	resp, err := e.handle(&logical.Request{
		Operation: logical.ReadOperation, Path: callbackPath, Storage: e.storage, MountPoint: "team/jawbone/",
		Data: map[string]any{keyCode: q.Get(keyCode), keyState: q.Get(keyState)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if body := pageText(string(resp.Data[logical.HTTPRawBody].([]byte))); !strings.Contains(body, "vault read team/jawbone/creds/me") {
		t.Fatalf("page does not name the mount's creds path:\n%s", body)
	}
}

// A grant that other creds hold is refused on the callback's page without
// naming them: the page is for whoever holds the browser.
func TestCallbackPageNamesNoOtherCreds(t *testing.T) {
	t.Parallel()
	err := sharedGrant("app-secret-name")
	status, p := failurePage("jawbone/", &redirect{name: "me"}, "me", err)
	body, rerr := p.render()
	if rerr != nil {
		t.Fatal(rerr)
	}
	text := pageText(string(body))
	if status != http.StatusBadRequest || !strings.Contains(text, "this grant is stored under other creds already, so nothing was stored") ||
		!strings.Contains(text, "vault list jawbone/creds") || strings.Contains(text, "app-secret-name") {
		t.Fatalf("HTTP %d:\n%s", status, text)
	}
	shown.note(&logical.Response{Data: map[string]any{logical.HTTPRawBody: body}}, nil)
}
