package jawbone

import (
	"context"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// holdingTransport holds requests to Jawbone until released, announcing
// each, so that a test can act while a call to Jawbone is in flight.
type holdingTransport struct {
	arrived chan struct{}
	release chan struct{}
}

func newHoldingTransport() *holdingTransport {
	return &holdingTransport{arrived: make(chan struct{}, 16), release: make(chan struct{})}
}

func (h *holdingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h.arrived <- struct{}{}
	<-h.release
	return http.DefaultTransport.RoundTrip(r)
}

// waitForLockUsers waits until n operations hold or wait for name's lock.
func waitForLockUsers(t *testing.T, b *backend, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.credsLocks.mu.Lock()
		users := 0
		if l := b.credsLocks.locks[name]; l != nil {
			users = l.users
		}
		b.credsLocks.mu.Unlock()
		if users >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d operations reached the lock of %q", users, n, name)
		}
		runtime.Gosched()
	}
}

// async runs one operation in the background, for a test to act while it
// is in flight; the operation must succeed.
func (e *testEnv) async(op logical.Operation, path string, data map[string]any) <-chan *logical.Response {
	done := make(chan *logical.Response, 1)
	go func() {
		resp, err := e.b.HandleRequest(context.Background(), &logical.Request{Operation: op, Path: path, Data: data, Storage: e.storage})
		if err != nil || resp.IsError() {
			e.t.Errorf("%s %s: err=%v resp=%#v", op, path, err, resp)
		}
		done <- resp
	}()
	return done
}

// A read during a forced refresh waits for it and gets its token, instead of
// taking the in-flight marker for a crash and refreshing again.
func TestReadDuringForcedRefreshGetsItsToken(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	e.authorize("me")
	h := newHoldingTransport()
	e.b.transport = h
	e.fake.ResetCalls()

	forced := e.async(logical.UpdateOperation, "creds/me/refresh", nil)
	<-h.arrived // the forced refresh is at Jawbone, its marker stored
	read := e.async(logical.ReadOperation, "creds/me", nil)
	waitForLockUsers(t, e.b, "me", 2)
	close(h.release)

	forcedToken := (<-forced).Data[keyAccessToken]
	readToken := (<-read).Data[keyAccessToken]
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 1 {
		t.Fatalf("%d token calls, want 1", n)
	}
	stored := e.stored("me").AccessToken
	if readToken != forcedToken || stored != forcedToken || !e.fake.TokenValid(stored) {
		t.Fatal("the read, the forced refresh and storage disagree, or the stored token is dead")
	}
}

// A delete during a refresh is not undone by the refresh writing back.
func TestDeleteDuringRefreshStaysDeleted(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	e.authorize("me")
	e.clock.Advance(year)
	h := newHoldingTransport()
	e.b.transport = h

	read := e.async(logical.ReadOperation, "creds/me", nil)
	<-h.arrived
	deleted := e.async(logical.DeleteOperation, "creds/me", nil)
	waitForLockUsers(t, e.b, "me", 2)
	close(h.release)
	<-read
	<-deleted
	if e.stored("me") != nil {
		t.Fatal("the refresh wrote a deleted grant back")
	}
}

// A new grant stored during a refresh of the old one is not overwritten.
func TestImportDuringRefreshWins(t *testing.T) {
	e := newTestEnv(t)
	e.configure()
	e.authorize("me")
	e.clock.Advance(year)
	_, newRefresh := e.fake.IssueTokens(nil)
	h := newHoldingTransport()
	e.b.transport = h

	read := e.async(logical.ReadOperation, "creds/me", nil)
	<-h.arrived
	imported := e.async(logical.UpdateOperation, "creds/me", map[string]any{keyRefreshToken: newRefresh})
	<-h.arrived // the import's own refresh (to learn the expiry) is at Jawbone too
	close(h.release)
	<-read
	<-imported
	if got := e.stored("me").RefreshToken; got != newRefresh {
		t.Fatal("the refresh of the old grant overwrote the imported one")
	}
}
