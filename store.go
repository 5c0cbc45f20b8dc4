package jawbone

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/sdk/logical"
)

func getJSON(ctx context.Context, s logical.Storage, key string, out any) (bool, error) {
	size, err := getJSONSized(ctx, s, key, out)
	return size >= 0, err
}

// getJSONSized decodes key into out and returns its size in storage; -1
// when there is no such entry.
func getJSONSized(ctx context.Context, s logical.Storage, key string, out any) (int, error) {
	entry, err := s.Get(ctx, key)
	if err != nil {
		return -1, fmt.Errorf("reading %s from storage: %w", key, err)
	}
	if entry == nil {
		return -1, nil
	}
	if err := entry.DecodeJSON(out); err != nil {
		return -1, fmt.Errorf("decoding %s from storage: %w", key, err)
	}
	return len(entry.Value), nil
}

// putJSON writes one whole entry: storage replaces an entry atomically, so a
// failed write leaves the previous value in place.
func putJSON(ctx context.Context, s logical.Storage, key string, v any) error {
	entry, err := logical.StorageEntryJSON(key, v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", key, err)
	}
	entry.SealWrap = true
	if err := s.Put(ctx, entry); err != nil {
		return storageError("writing", key, err)
	}
	return nil
}

// deleteEntry deletes key.
func deleteEntry(ctx context.Context, s logical.Storage, key string) error {
	if err := s.Delete(ctx, key); err != nil {
		return storageError("deleting", key, err)
	}
	return nil
}

// storageError words a failed write. Storage that is read-only here (a
// performance standby or secondary) answers logical.ErrReadOnly, which must
// reach Vault unwrapped so that it forwards the request to a node that can
// write. Over the gRPC plugin boundary the SDK hands it over as a plain
// error with the same text, so it is recognised by its text too.
func storageError(what, key string, err error) error {
	if isReadOnly(err) {
		return logical.ErrReadOnly
	}
	return fmt.Errorf("%s %s in storage: %w", what, key, err)
}

func isReadOnly(err error) bool {
	return errors.Is(err, logical.ErrReadOnly) || strings.Contains(err.Error(), logical.ErrReadOnly.Error())
}

// cachedGet reads key through the cache, decoding a miss into a new T.
func cachedGet[T any](ctx context.Context, c *entryCache, s logical.Storage, key string) (*T, error) {
	value, ok, gen := c.get(key)
	if ok {
		return value.(*T), nil
	}
	out := new(T)
	size, err := getJSONSized(ctx, s, key, out)
	if size < 0 || err != nil {
		return nil, err
	}
	c.fill(key, gen, out, size)
	return out, nil
}

// peekGet reads key through the cache without filling it on a miss, so
// that a scan over many entries does not push out the ones readers use.
func peekGet[T any](ctx context.Context, c *entryCache, s logical.Storage, key string) (*T, error) {
	if value, ok, _ := c.get(key); ok {
		return value.(*T), nil
	}
	out := new(T)
	found, err := getJSON(ctx, s, key, out)
	if !found || err != nil {
		return nil, err
	}
	return out, nil
}

// cachedPut writes key and then drops it from the cache (see entryCache).
func cachedPut(ctx context.Context, c *entryCache, s logical.Storage, key string, v any) error {
	err := putJSON(ctx, s, key, v)
	c.invalidate(key)
	return err
}

func cachedDelete(ctx context.Context, c *entryCache, s logical.Storage, key string) error {
	err := deleteEntry(ctx, s, key)
	c.invalidate(key)
	return err
}
