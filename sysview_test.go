package jawbone

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// countingView counts how often the backend asks Vault for its replication
// state (a gRPC call for an external plugin).
type countingView struct {
	logical.StaticSystemView
	asks  atomic.Int64
	state atomic.Uint32
}

func (c *countingView) ReplicationState() consts.ReplicationState {
	c.asks.Add(1)
	return consts.ReplicationState(c.state.Load())
}

func TestReplicationStateIsAskedAtMostOncePerTTL(t *testing.T) {
	t.Parallel()
	clock := fakejawbone.NewManualClock(time.Unix(1_800_000_000, 0))
	sys := &countingView{}
	view := newCachedReplicationView(sys)
	view.now = clock.Now
	for range 1000 {
		view.ReplicationState()
	}
	if n := sys.asks.Load(); n != 1 {
		t.Fatalf("1000 requests asked Vault %d times, want 1", n)
	}
	sys.state.Store(uint32(consts.ReplicationPerformanceStandby))
	clock.Advance(replicationStateTTL)
	if got := view.ReplicationState(); got != consts.ReplicationPerformanceStandby || sys.asks.Load() != 2 {
		t.Fatalf("after the TTL: state %v after %d asks, want the new state after 2", got, sys.asks.Load())
	}
}

// Factory wraps the SystemView it is given, so every request of a real
// plugin uses the cached state.
func TestFactoryCachesReplicationState(t *testing.T) {
	// Not parallel: the factory's view caches against the wall clock
	// (replicationStateTTL), which other tests' load must not stretch.
	sys := &countingView{}
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	conf.System = sys
	b, err := Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, err := b.HandleRequest(context.Background(), &logical.Request{
			Operation: logical.ReadOperation, Path: "status", Storage: conf.StorageView,
		}); err != nil {
			t.Fatal(err)
		}
	}
	if n := sys.asks.Load(); n > 1 {
		t.Fatalf("100 requests asked Vault for the replication state %d times, want at most 1", n)
	}
}
