package jawbone

import (
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

// replicationStateTTL is how long a node's replication state is reused.
const replicationStateTTL = time.Second

// cachedReplicationView answers ReplicationState from memory for up to
// replicationStateTTL. The SDK's framework asks for it on every request,
// and for an external plugin each ask is a gRPC round trip to Vault: about
// a quarter of what a cached token read costs end to end (see BENCHMARKS.md).
//
// Reusing it briefly is safe: the state changes only when a node changes
// role, and a write on a node that has just become read-only still fails
// with ErrReadOnly from storage, which the backend passes on unwrapped so
// that Vault forwards the request; a refresh stores its marker (and so
// fails there) before it calls Jawbone.
type cachedReplicationView struct {
	logical.SystemView
	now     func() time.Time
	state   atomic.Uint32
	fetched atomic.Int64 // unix nanoseconds of the last ask; 0: never
}

func newCachedReplicationView(sys logical.SystemView) *cachedReplicationView {
	return &cachedReplicationView{SystemView: sys, now: time.Now}
}

func (v *cachedReplicationView) ReplicationState() consts.ReplicationState {
	now := v.now().UnixNano()
	if f := v.fetched.Load(); f != 0 && now-f < int64(replicationStateTTL) {
		return consts.ReplicationState(v.state.Load())
	}
	state := v.SystemView.ReplicationState()
	v.state.Store(uint32(state))
	v.fetched.Store(now)
	return state
}

// canWriteStorage is false where refreshed tokens could not be stored:
// performance standbys, DR secondaries, and performance secondaries except
// for a local mount (whose storage the secondary owns).
func (b *backend) canWriteStorage() bool {
	sys := b.System()
	if sys == nil {
		return true
	}
	state := sys.ReplicationState()
	if state.HasState(consts.ReplicationPerformanceStandby | consts.ReplicationDRSecondary) {
		return false
	}
	return sys.LocalMount() || !state.HasState(consts.ReplicationPerformanceSecondary)
}
