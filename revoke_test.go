package jawbone

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// Revoking disconnects the app at Jawbone (afterwards the access token gets
// 401 and the refresh token invalid_grant), then forgets the grant; other
// creds of the same account are named, since they stop working too.
func TestRevokeDisconnectsThenForgets(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	token := e.authorize("me")
	refresh := e.stored("me").RefreshToken
	e.authorize("same-account")
	resp := e.mustOK(logical.UpdateOperation, "creds/me/revoke", nil)
	if resp.Data[keyRevoked] != true || resp.Data[keyAccountXID] != e.fake.DefaultAccount() ||
		!strings.Contains(strings.Join(resp.Warnings, " "), `"same-account"`) {
		t.Fatalf("revoke reply %#v", resp)
	}
	if n := e.fake.Calls(fakejawbone.EndpointMembership); n != 1 {
		t.Fatalf("%d calls to PartnerAppMembership, want 1", n)
	}
	if e.stored("me") != nil || e.fake.TokenValid(token) {
		t.Fatal("the creds were not forgotten, or the token still works")
	}
	if _, ok := e.fake.RefreshOutside(refresh); ok {
		t.Fatal("the refresh token still works after the disconnection")
	}
}

// If Jawbone says it did not disconnect the app (its own answer), nothing
// is forgotten, the creds are as they were, and the error says how to
// forget them anyway.
func TestRevokeKeepsEverythingWhenJawboneRefuses(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	token := e.authorize("me")
	before := e.stored("me")
	e.fake.InjectFault(fakejawbone.EndpointMembership, fakejawbone.Fault{Status: http.StatusServiceUnavailable,
		Body: `{"meta":{"code":503,"error_type":"unavailable","error_detail":"try later"}}`, Times: 1})
	e.mustFail(logical.UpdateOperation, "creds/me/revoke", nil, http.StatusBadGateway,
		"Jawbone did not disconnect the app", "nothing was forgotten", "vault delete jawbone/creds/me")
	if g := e.stored("me"); g == nil || g.AccessToken != token || !e.fake.TokenValid(token) || g.attempting() || g.CheckedAt != before.CheckedAt {
		t.Fatal("a refused revocation changed the creds")
	}
	e.mustOK(logical.UpdateOperation, "creds/me/revoke", nil)
	e.mustFail(logical.UpdateOperation, "creds/me/revoke", nil, http.StatusNotFound, `no creds named "me"`)
}

// A gateway's 503 does not say whether Jawbone disconnected the app: the
// creds are kept, every grant of the account stays marked, and the error
// says so.
func TestRevokeInDoubtKeepsTheMarks(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	e.authorize("same-account")
	e.fake.InjectFault(fakejawbone.EndpointMembership, fakejawbone.Fault{Status: http.StatusServiceUnavailable, Times: 1})
	e.mustFail(logical.UpdateOperation, "creds/me/revoke", nil, http.StatusBadGateway,
		"Jawbone may have disconnected the app from Jawbone account", "or not", "nothing was forgotten", "vault delete jawbone/creds/me")
	for _, name := range []string{"me", "same-account"} {
		if g := e.stored(name); g == nil || !g.attempting() {
			t.Fatalf("%s is not marked as in doubt after a revoke whose outcome is unknown: %+v", name, g)
		}
	}
	// Jawbone did not carry it out after all: the tokens still work, and
	// are handed out with a warning until the attempt can no longer land.
	resp := e.mustOK(logical.ReadOperation, "creds/same-account", nil)
	if len(resp.Warnings) == 0 {
		t.Fatal("a token of the account was handed out without a warning while the revoke may land")
	}
	// The marks cover a disconnect sent within request_timeout of them.
	e.clock.Advance((landingFactor+1)*defaultRequestTimeout + time.Second)
	if resp := e.mustOK(logical.ReadOperation, "creds/same-account", nil); len(resp.Warnings) > 0 || e.stored("same-account").attempting() {
		t.Fatalf("once the revoke can no longer land and the token works, the creds are settled: %v", resp.Warnings)
	}
}

// A token Jawbone no longer accepts is refreshed once to disconnect.
func TestRevokeWithADeadTokenRefreshesFirst(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("me")
	if _, ok := e.fake.RefreshOutside(e.stored("me").RefreshToken); !ok {
		t.Fatal("test premise: the outside refresh works")
	}
	e.mustOK(logical.UpdateOperation, "creds/me/revoke", nil)
	if e.stored("me") != nil || e.fake.Calls(fakejawbone.EndpointMembership) != 2 {
		t.Fatalf("creds left %v, %d disconnection calls (want the refused one and the one after the refresh)",
			e.stored("me") != nil, e.fake.Calls(fakejawbone.EndpointMembership))
	}
}

// A revoke whose account has a name whose grant is not stamped yet (v0.1
// rewrote it after a rollback, or its stamp failed to be written) marks
// that name in the same critical sections that hold the account's locks:
// it does not wait on a lock its own transactions hold.
func TestARevokeWithAnUnstampedSiblingCompletes(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	e.authorize("a")
	e.authorize("b")
	b := e.stored("b")
	b.Layout = 0
	if err := putJSON(context.Background(), e.storage, credsStoragePrefix+"b", b); err != nil {
		t.Fatal(err)
	}
	e.b.invalidate(context.Background(), credsStoragePrefix+"b")
	done := make(chan *logical.Response)
	go func() {
		resp, err := e.request(logical.UpdateOperation, "creds/a/revoke", nil)
		if err != nil {
			resp = logical.ErrorResponse(err.Error())
		}
		done <- resp
	}()
	select {
	case resp := <-done:
		if resp.IsError() || !strings.Contains(strings.Join(resp.Warnings, " "), `"b"`) {
			t.Fatalf("the revoke: %v, warnings %v", resp.Data, resp.Warnings)
		}
	case <-time.After(10 * time.Second): // a deadlock: nothing would ever signal
		t.Fatal("the revoke waits on an account lock its own transactions hold")
	}
}

// slowWrites is storage whose writes of creds take a while on the
// backend's clock.
type slowWrites struct {
	logical.Storage
	clock *fakejawbone.ManualClock
	took  time.Duration
}

func (s *slowWrites) Put(ctx context.Context, e *logical.StorageEntry) error {
	if strings.HasPrefix(e.Key, credsStoragePrefix) {
		s.clock.Advance(s.took)
	}
	return s.Storage.Put(ctx, e)
}

// The marks of a revoke cover its disconnect as it is sent, however long
// marking the account's names took: a name marked first is not settled as
// untouched while the disconnect, sent later, may still land.
func TestARevokesMarksCoverItsDisconnectWhenSent(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	for _, name := range []string{"a", "b", "c"} {
		e.authorize(name)
	}
	late := &lateTransport{path: "/PartnerAppMembership"}
	e.b.transport = late
	e.view = &slowWrites{Storage: e.storage, clock: e.clock, took: defaultRequestTimeout / 2}
	sentAt := e.clock.Now()
	e.mustFail(logical.UpdateOperation, "creds/b/revoke", nil, http.StatusBadGateway, "may have disconnected")
	e.view = nil
	if e.clock.Now().Sub(sentAt) <= defaultRequestTimeout {
		t.Fatalf("the revoke's writes took %s: too little to show anything", e.clock.Now().Sub(sentAt))
	}
	// Just before the disconnect, sent last, can no longer land.
	e.clock.Advance(landingFactor*defaultRequestTimeout - time.Second)
	requireNoDeadTokenUnwarned(t, e, "a", "while the disconnect may still land")
	late.land(t)
	requireNoDeadTokenUnwarned(t, e, "a", "after the disconnect landed")
}
