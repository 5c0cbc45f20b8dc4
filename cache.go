package jawbone

import (
	"context"
	"sync"
	"unsafe"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// defaultCacheBytes is the cache's budget when the mount sets none: about
// 105,000 creds entries of the usual size (about 640 bytes of heap each,
// TestCacheCountsWhatItHolds); a larger mount caches the ones read most
// recently, and a mount option (cache_size) buys more.
const defaultCacheBytes = 64 << 20

// Costs of a cached entry, in bytes of heap, beyond what its value says of
// itself (memSize): the LRU's element and map slot with the key's header
// (lruEntryBytes), and for a value that cannot say, its decoded struct and
// strings' headers beyond its stored size (entryOverhead).
const (
	lruEntryBytes = 128
	entryOverhead = 256
)

// memSize is about what a decoded grant holds of the heap: the struct, and
// its strings rounded up as the allocator rounds them.
func (g *grant) memSize() int {
	n := int(unsafe.Sizeof(*g)) + allocated(len(g.AccessToken)) + allocated(len(g.RefreshToken)) +
		allocated(len(g.TokenType)) + allocated(len(g.AccountXID)) + allocated(len(g.LastError))
	if len(g.Scopes) > 0 {
		n += allocated(len(g.Scopes) * int(unsafe.Sizeof("")))
	}
	for _, s := range g.Scopes {
		n += allocated(len(s))
	}
	return n
}

// allocated is about what the allocator hands out for n bytes: n rounded
// up to 16 (its small size classes are 8, 16, 24, 32, 48, …).
func allocated(n int) int { return (n + 15) &^ 15 }

// entryCost is what caching value under key costs against the budget.
func entryCost(key string, value any, stored int) int {
	if v, ok := value.(interface{ memSize() int }); ok {
		return v.memSize() + allocated(len(key)) + lruEntryBytes
	}
	return stored + entryOverhead
}

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
	cost := entryCost(key, value, size)
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
