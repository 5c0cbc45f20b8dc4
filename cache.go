package jawbone

import (
	"context"
	"sync"
)

// maxCachedEntries bounds the cache; past it an arbitrary entry is dropped,
// which costs only a storage read the next time that entry is wanted.
const maxCachedEntries = 10000

// entryCache keeps decoded storage entries (config and creds) in memory. For
// an external plugin every storage read is a gRPC round trip to Vault, so a
// cached token read is several times cheaper.
//
// It never serves data older than storage:
//   - writes here invalidate the key after the storage write, rather than
//     filling it, so two racing writers cannot leave the older value cached;
//   - a read that missed fills the cache only if no invalidation happened
//     since it started reading (the generation check), so a slow reader
//     cannot cache a value a writer has just replaced;
//   - Vault calls the backend's InvalidateFunc when storage changes
//     underneath (another node's write, replication), which drops the key.
type entryCache struct {
	mu      sync.Mutex
	entries map[string]any
	gen     uint64
}

func newEntryCache() *entryCache {
	return &entryCache{entries: map[string]any{}}
}

// get returns the cached value for key, or the generation to pass to fill.
func (c *entryCache) get(key string) (value any, ok bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	value, ok = c.entries[key]
	return value, ok, c.gen
}

// fill caches value if nothing was invalidated since gen was read.
func (c *entryCache) fill(key string, gen uint64, value any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.entries) >= maxCachedEntries {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = value
}

func (c *entryCache) invalidate(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
	c.gen++
}

// invalidate is the backend's InvalidateFunc.
func (b *backend) invalidate(_ context.Context, key string) {
	b.cache.invalidate(key)
}
