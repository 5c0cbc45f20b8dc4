package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// backgroundCall runs one API call in a goroutine; wait returns its result.
type backgroundCall struct {
	done  chan struct{}
	reply jbReply
	err   error
}

func startCall(a *jbAPI, method, path string) *backgroundCall {
	c := &backgroundCall{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.reply, c.err = a.do(method, path, nil, nil)
	}()
	return c
}

func (c *backgroundCall) wait(t *testing.T) (jbReply, error) {
	t.Helper()
	select {
	case <-c.done:
		return c.reply, c.err
	case <-time.After(cliTimeout):
		t.Fatalf("the background call did not end within %s of the crash", cliTimeout)
		return jbReply{}, nil
	}
}

// waitTokenCalls waits until the fake has received want token calls.
func waitTokenCalls(t *testing.T, f *Fake, want int, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.WaitForCalls(ctx, fakejawbone.EndpointToken, want); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// restartAfterCrash starts the crashed file-storage server again on the
// same ports and storage and unseals it.
func restartAfterCrash(t *testing.T, v *Vault) {
	t.Helper()
	v.startServer()
	v.unseal()
	waitMount(t, apiOf(v), "the restart")
}

// TestCrashDuringRefresh: Vault (file storage) is killed with SIGKILL while
// the fake Jawbone holds a refresh (fault: Delay), then restarted and
// unsealed. The creds still work and the refresh token is intact, whether
// the refresh was forced or started by a reader. The restarted plugin does
// not know whether the held request will still complete at Jawbone: until
// twice request_timeout after it began, it hands out the stored token only
// with a warning (Jawbone still accepting it) and refuses a forced refresh
// with 409; afterwards it carries on.
func TestCrashDuringRefresh(t *testing.T) {
	f := StartFake(t)
	v := StartFileVault(t)
	v.RegisterPlugin()
	v.ConfigureFor(f, "request_timeout=5s")
	v.Authorize(f, "me")
	a := apiOf(v)

	// 1. A forced refresh held at the fake.
	before := apiToken(t, a, "me")
	calls := f.Calls(fakejawbone.EndpointToken)
	f.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Delay: time.Minute, Times: 1})
	held := startCall(a, http.MethodPost, mountPath+"/creds/me/refresh")
	waitTokenCalls(t, f, calls+1, "the forced refresh to reach the fake's token URL")
	crashVault(t, v)
	if r, err := held.wait(t); err == nil {
		t.Errorf("the refresh held during the crash got an answer: %s", r)
	}
	restartAfterCrash(t, v)
	a = apiOf(v)

	// The held request died with the server: Jawbone never issued a new
	// token, so the stored one is still the one that works.
	after := inDoubtToken(t, a, "me")
	if after != before {
		t.Errorf("after the crash creds/me returns another token than before it")
	}
	f.requireTokenWorks(t, after, "creds/me after the crash")
	if n := f.Calls(fakejawbone.EndpointToken) - calls; n != 1 {
		t.Errorf("%d token calls since the held one, want 1 (the held one)", n)
	}
	// The refresh token is intact: a refresh works, and its result is stored.
	fresh := forceOnceSettled(t, a, "me")
	if fresh == "" || fresh == before {
		t.Fatalf("forced refresh after the crash returned no new token")
	}
	f.requireTokenWorks(t, fresh, "creds/me refreshed after the crash")
	f.requireTokenRejected(t, before, "creds/me's token before that refresh")
	if got := apiToken(t, a, "me"); got != fresh {
		t.Errorf("creds/me after the forced refresh is not the refreshed token")
	}

	// 2. A reader's refresh held at the fake. Make creds/me due: a grant
	// imported with two hours left, then refresh_ahead three hours. The
	// fault is queued before the entry falls due, so whichever refreshes
	// first (this reader or Vault's periodic scan, which the reader then
	// waits for) is held.
	a.must(t, http.MethodPost, mountPath+"/config", map[string]any{"refresh_ahead": "1m"})
	short, refresh := f.Issue()
	a.must(t, http.MethodPost, mountPath+"/creds/me", map[string]any{"access_token": short, "refresh_token": refresh,
		"expires_at": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)})
	calls = f.Calls(fakejawbone.EndpointToken)
	f.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Delay: time.Minute, Times: 1})
	a.must(t, http.MethodPost, mountPath+"/config", map[string]any{"refresh_ahead": "3h"})
	held = startCall(a, http.MethodGet, mountPath+"/creds/me")
	waitTokenCalls(t, f, calls+1, "the reader's refresh to reach the fake's token URL")
	crashVault(t, v)
	if r, err := held.wait(t); err == nil {
		t.Errorf("the read held during the crash got an answer: %s", r)
	}
	restartAfterCrash(t, v)
	a = apiOf(v)

	// Still due: once the held attempt can no longer land, a read refreshes
	// (once) and answers with the new token, which is stored before the
	// answer; until then reads hand out the due token with a warning.
	var got string
	waitFor(t, time.Minute, "a read to refresh the due token once the held attempt could no longer land", func() (bool, error) {
		r := a.must(t, http.MethodGet, mountPath+"/creds/me", nil)
		if got = r.str("access_token"); got == short {
			if !mentionsAny(strings.ToLower(strings.Join(r.Warnings, " ")), []string{"did not complete"}) {
				t.Fatalf("the due token was handed out without the warning of the attempt in doubt: %s", r)
			}
			return false, nil
		}
		return got != "", nil
	})
	f.requireTokenWorks(t, got, "creds/me after the second crash")
	f.requireTokenRejected(t, short, "the due token the read replaced")
	if n := f.Calls(fakejawbone.EndpointToken) - calls; n != 2 {
		t.Errorf("%d token calls since the held one, want 2 (the held one, then one refresh)", n)
	}
	if again := apiToken(t, a, "me"); again != got {
		t.Errorf("the next read returns another token than the refresh stored")
	}
	// And the stored state survives one more crash as it is.
	crashVault(t, v)
	restartAfterCrash(t, v)
	if again := apiToken(t, apiOf(v), "me"); again != got {
		t.Errorf("after a third crash creds/me is not the token stored before it")
	}
}

// inDoubtToken reads name right after a crash: the token, handed out with
// the warning of the attempt in doubt, or (once it could no longer land)
// without one.
func inDoubtToken(t *testing.T, a *jbAPI, name string) string {
	t.Helper()
	r := a.must(t, http.MethodGet, mountPath+"/creds/"+name, nil)
	if len(r.Warnings) > 0 && !strings.Contains(strings.Join(r.Warnings, " "), "did not complete") {
		t.Fatalf("creds/%s after the crash warns of something else: %s", name, r)
	}
	return r.str("access_token")
}

// forceOnceSettled forces a refresh of name, which answers 409 while the
// attempt the crash left in doubt could still land, and returns the token.
func forceOnceSettled(t *testing.T, a *jbAPI, name string) string {
	t.Helper()
	var fresh string
	waitFor(t, time.Minute, "a forced refresh to be allowed once the attempt in doubt could no longer land", func() (bool, error) {
		r := a.call(t, http.MethodPost, mountPath+"/creds/"+name+"/refresh", nil)
		switch {
		case r.Status == http.StatusConflict && strings.Contains(r.message(), "may still carry it out until"):
			return false, nil
		case r.Status/100 != 2:
			t.Fatalf("forced refresh after the crash: %s", r)
		}
		fresh = r.str("access_token")
		return true, nil
	})
	return fresh
}

// replyHolder passes requests to the fake, but when armed lets the fake
// answer one token request (so Jawbone has issued a new access token and
// retired the old one) and then never delivers that reply: the window
// between Jawbone answering and Vault storing the answer.
type replyHolder struct {
	next http.Handler

	mu     sync.Mutex
	armed  bool
	issued chan string // the access token Jawbone issued in the held reply
}

func (h *replyHolder) arm() chan string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed = true
	h.issued = make(chan string, 1)
	return h.issued
}

func (h *replyHolder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	hold := h.armed && r.URL.Path == "/auth/oauth2/token"
	h.armed = h.armed && !hold
	issued := h.issued
	h.mu.Unlock()
	if !hold {
		h.next.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	h.next.ServeHTTP(rec, r)
	var reply struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &reply)
	issued <- reply.AccessToken
	<-r.Context().Done() // the client (the plugin) goes away with the crash
}

// TestCrashAfterJawboneReplied: the crash lands after Jawbone has answered a
// refresh (issuing a new access token, which retires the old one) but
// before Vault has stored the answer. The promise still holds: a read
// after the restart either returns a token that works or fails saying what
// to do, and the refresh token is intact.
//
// Two ways in: the whole server (Vault and its plugin process) dies while
// the reply is in flight; or only the Vault process is SIGKILLed, and its
// plugin process, which a SIGKILLed Vault cannot stop, receives the reply
// but has nowhere to store it.
func TestCrashAfterJawboneReplied(t *testing.T) {
	f := StartFake(t)
	holder := &replyHolder{next: f.Server}
	holderURL := f.serve(t, holder)
	v := StartFileVault(t)
	v.RegisterPlugin()
	v.ConfigureFor(f)
	v.MustCLI("write", mountPath+"/config", "token_url="+fakejawbone.TokenURL(holderURL))
	v.Authorize(f, "me")

	// requirePromise checks the read after the restart, then that the
	// refresh token is intact (a forced refresh works) and that the read
	// after it is the refreshed token.
	requirePromise := func(t *testing.T, a *jbAPI, stale string) {
		t.Helper()
		r := a.call(t, http.MethodGet, mountPath+"/creds/me", nil)
		switch {
		case r.Status == http.StatusOK && f.MeStatus(t, r.str("access_token")) == http.StatusOK:
			t.Logf("the read after the restart returned a working token")
		case r.Status == http.StatusOK:
			same := "another token"
			if r.str("access_token") == stale {
				same = "the token from before the lost refresh"
			}
			t.Errorf("PROMISE BROKEN: after the restart GET creds/me answers 200 with %s, which Jawbone rejects (GET /users/@me: 401); "+
				"expires_at %s, needs_reauthorization %v, warnings %q. Jawbone retired that token when it answered the refresh whose reply was lost. "+
				"Expected: a working token (refresh first) or an error saying to run vault write -f jawbone/creds/me/refresh",
				same, r.str("expires_at"), r.Data["needs_reauthorization"], r.Warnings)
		case r.Status >= 400 && mentionsAny(r.message(), []string{"refresh", "auth-url"}):
			t.Logf("the read after the restart failed with instructions: %s", r)
		default:
			t.Errorf("after the restart GET creds/me: want a working token or an error saying what to do, got %s", r)
		}
		fresh := a.must(t, http.MethodPost, mountPath+"/creds/me/refresh", nil).str("access_token")
		f.requireTokenWorks(t, fresh, "creds/me after a forced refresh (the refresh token is intact)")
		if got := apiToken(t, a, "me"); got != fresh {
			t.Errorf("creds/me after the forced refresh is not the refreshed token")
		}
	}

	t.Run("server and plugin die with the reply in flight", func(t *testing.T) {
		a := apiOf(v)
		stale := apiToken(t, a, "me")
		issued := holder.arm()
		held := startCall(a, http.MethodPost, mountPath+"/creds/me/refresh")
		var newToken string
		select {
		case newToken = <-issued:
		case <-time.After(30 * time.Second):
			t.Fatal("the forced refresh never reached the token URL")
		}
		if f.MeStatus(t, stale) != http.StatusUnauthorized || f.MeStatus(t, newToken) != http.StatusOK {
			t.Fatalf("the fake did not retire the old token when it issued the new one")
		}
		crashVault(t, v)
		if r, err := held.wait(t); err == nil {
			t.Errorf("the refresh held during the crash got an answer: %s", r)
		}
		restartAfterCrash(t, v)
		requirePromise(t, apiOf(v), stale)
	})

	t.Run("vault dies, its plugin lives on", func(t *testing.T) {
		a := apiOf(v)
		stale := apiToken(t, a, "me")
		calls := f.Calls(fakejawbone.EndpointToken)
		// Jawbone answers after two seconds: by then only the orphaned
		// plugin process is there to read the reply.
		f.InjectFault(fakejawbone.EndpointToken, fakejawbone.Fault{Delay: 2 * time.Second, Times: 1})
		held := startCall(a, http.MethodPost, mountPath+"/creds/me/refresh")
		waitTokenCalls(t, f, calls+1, "the forced refresh to reach the token URL")
		pid := v.proc.cmd.Process.Pid
		plugins := pluginChildren(pid)
		if len(plugins) == 0 {
			t.Fatalf("vault (pid %d) runs no plugin process", pid)
		}
		t.Cleanup(func() { killPlugins(t, plugins) }) // in case the orphans linger
		_ = v.proc.cmd.Process.Kill()
		<-v.proc.done
		if _, err := held.wait(t); err == nil {
			t.Errorf("the refresh held during the crash got an answer")
		}
		// Jawbone answers the orphaned plugin two seconds after the call
		// arrived, unless the orphan has gone by then.
		reached := time.Now()
		orphansGone := func() bool {
			for _, p := range plugins {
				if !processGone(p) {
					return false
				}
			}
			return true
		}
		waitFor(t, 30*time.Second, "Jawbone to answer the orphaned plugin, or the orphan to be gone", func() (bool, error) {
			return !f.TokenValid(stale) || (orphansGone() && time.Since(reached) > 4*time.Second), nil
		})
		if f.TokenValid(stale) {
			t.Logf("the orphaned plugin %v exited before Jawbone answered: no token was issued", plugins)
		} else {
			exit := "still running (the test kills it)"
			waitFor(t, 30*time.Second, "", func() (bool, error) {
				if orphansGone() {
					exit = "then exited on its own"
					return true, nil
				}
				return time.Since(reached) > 10*time.Second, nil
			})
			t.Logf("vault (pid %d) SIGKILLed; its plugin process(es) %v received Jawbone's reply (the old token is retired) and %s", pid, plugins, exit)
		}
		killPlugins(t, plugins)
		restartAfterCrash(t, v)
		requirePromise(t, apiOf(v), stale)
	})

}
