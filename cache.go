package jawbone

import (
	"context"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// defaultCacheBytes is the cache's budget when the mount sets none: about
// 85,000 creds entries of the usual size (785 bytes each as counted, in
// the scale harness); a larger mount caches the ones read most recently,
// and a mount option (cache_size) buys more.
const defaultCacheBytes = 64 << 20

// entryOverhead is what a cached entry costs beyond its stored size: the
// decoded struct, its strings' headers and the LRU's own bookkeeping.
const entryOverhead = 256

// entryCache keeps decoded storage entries (config and creds) in memory, up
// to a budget of bytes, dropping the least recently used. For an external
// plugin every storage read is a gRPC round trip to Vault, so a cached
// token read is several times cheaper.
//
// It never serves data older than storage:
//   - writes here invalidate the key after the storage write, rather than
//     filling it, so two racing writers cannot leave the older value cached;
//   - a read that missed fills the cache only if no invalidation happened
//     since it started reading (the generation check), so a slow reader
//     cannot cache a value a writer has just replaced;
//   - Vault calls the backend's InvalidateFunc when storage changes
//     underneath (another node's write, replication), which drops the key.
//
// The LRU is HashiCorp's (golang-lru's simplelru, unlocked: the mutex here
// covers it and the generation together); the budget is counted here, as
// the library bounds entries by number only.
type entryCache struct {
	mu     sync.Mutex
	lru    *simplelru.LRU[string, cached]
	bytes  int
	budget int
	gen    uint64
}

// cached is a value with what it counts against the budget.
type cached struct {
	value any
	cost  int
}

func newEntryCache(budget int) *entryCache {
	c := &entryCache{budget: budget}
	// The library wants a bound on the number of entries: none here, the
	// budget is what bounds it.
	c.lru, _ = simplelru.NewLRU[string, cached](int(^uint(0)>>1), func(_ string, v cached) { c.bytes -= v.cost })
	return c
}

// get returns the cached value for key, or the generation to pass to fill.
func (c *entryCache) get(key string) (value any, ok bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.lru.Get(key)
	return v.value, ok, c.gen
}

// fill caches value, which was stored in size bytes, if nothing was
// invalidated since gen was read.
func (c *entryCache) fill(key string, gen uint64, value any, size int) {
	cost := size + entryOverhead
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || cost > c.budget {
		return
	}
	c.lru.Remove(key)
	c.lru.Add(key, cached{value: value, cost: cost})
	c.bytes += cost
	for c.bytes > c.budget {
		c.lru.RemoveOldest()
	}
}

func (c *entryCache) invalidate(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(key)
	c.gen++
}

// size is how many entries and bytes the cache holds.
func (c *entryCache) size() (entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes
}

// invalidate is the backend's InvalidateFunc.
func (b *backend) invalidate(_ context.Context, key string) {
	b.registry.cache.invalidate(key)
	b.registry.invalidated(key)
}
