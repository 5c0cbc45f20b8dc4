package jawbone

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

func TestBackgroundRefreshRefreshesOnlyDueHealthyCreds(t *testing.T) {
	t.Parallel()
	e := newConfiguredEnv(t)
	for _, name := range []string{"due", "rejected", "backing-off"} {
		e.authorize(name)
	}
	e.clock.Advance(60 * 24 * time.Hour)
	notDue := e.authorize("not-due")
	e.clock.Advance(year - 60*24*time.Hour) // all but "not-due" are expired

	markStored(t, e, "rejected", func(c *grant) { c.NeedsReauth = true })
	markStored(t, e, "backing-off", func(c *grant) { c.NextAttemptAt = e.clock.Now().Add(time.Minute) })
	before := map[string]string{}
	for _, n := range []string{"due", "rejected", "backing-off"} {
		before[n] = e.stored(n).AccessToken
	}
	e.fake.ResetCalls()

	if err := e.b.periodic(context.Background(), &logical.Request{Storage: e.storage}); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 1 {
		t.Fatalf("background refresh made %d token calls, want 1", n)
	}
	if e.stored("due").AccessToken == before["due"] {
		t.Fatal("the due creds were not refreshed")
	}
	for _, n := range []string{"rejected", "backing-off"} {
		if e.stored(n).AccessToken != before[n] {
			t.Fatalf("%s was refreshed though it should be skipped", n)
		}
	}
	if e.stored("not-due").AccessToken != notDue {
		t.Fatal("creds outside their window were refreshed")
	}
}

func TestBackgroundRefreshWithoutConfigIsANoop(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	if err := e.b.periodic(context.Background(), &logical.Request{Storage: e.storage}); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.Calls(fakejawbone.EndpointToken); n != 0 {
		t.Fatalf("%d token calls without a config", n)
	}
}
