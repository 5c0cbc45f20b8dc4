package jawbone

import (
	"math"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/google/btree"
)

// memIndex is the writable node's in-memory index of every grant on the
// mount: the names in order (for paged lists), when the background must
// next attend to each grant and when each is next due for a liveness check
// (so that a tick visits what is due, in order, and nothing else), and the
// counts status shows. It is kept in step with every write the registry
// makes, rebuilt from storage in the background when the plugin starts
// (registry.load), and never needed to serve a read.
//
// It is compact on purpose, as a mount may hold a million grants: each is
// a dense id into slots, which hold no pointers (the garbage collector
// skips them), with times in Unix seconds. About 130 bytes a grant with a
// name of 8 bytes (BenchmarkScheduleLoad), 160 with 12.
type memIndex struct {
	mu sync.Mutex
	// names[id] is the name of slots[id] ("": a free slot); byName orders
	// the ids by name. Id 0 is no grant's: it is the probe a name is
	// looked up with.
	names  []string
	byName *btree.BTreeG[uint32]
	slots  []slot
	free   []uint32
	attend *btree.BTreeG[queued] // by attendAt
	checks *btree.BTreeG[queued] // by checkAt
	counts indexCounts
	// The settings the queues are ordered by.
	refreshAhead, checkInterval time.Duration
}

type queued struct {
	at uint32 // Unix seconds
	id uint32
}

// slot is what the index keeps of one grant: 64 bytes (checked below, as
// a million of them are most of the index).
type slot struct {
	summary
	attendAt, checkAt uint32 // its keys in the queues; 0: not queued
}

var _ [64]byte = [unsafe.Sizeof(slot{})]byte{}

// summary is what the schedule, the counts and the index repair need of a
// grant, in a few bytes.
type summary struct {
	grantKey  grantKey // keyed hash of the refresh token
	account   uint64   // keyed hash of the account (0: not recorded)
	expires   uint32
	obtained  uint32
	nextTry   uint32
	landsBy   uint32
	started   uint32
	lastCheck uint32
	flags     uint8
}

const (
	flagNeedsReauth uint8 = 1 << iota
	flagFailing
	flagBlind
	// flagFailedSinceLanding: the last failure was recorded once the
	// attempt could no longer land (its backoff holds: grant.attendAt).
	flagFailedSinceLanding
)

// indexCounts are the figures of the grants the index holds.
type indexCounts struct {
	creds, needReauth, failing, inDoubt int
}

func newMemIndex() *memIndex {
	m := &memIndex{
		names:  []string{""},
		slots:  []slot{{}},
		attend: btree.NewG(32, lessQueued),
		checks: btree.NewG(32, lessQueued),
	}
	m.byName = btree.NewG(32, func(a, b uint32) bool { return m.names[a] < m.names[b] })
	return m
}

// lookupLocked is the id of name; ok is false when it has none.
func (m *memIndex) lookupLocked(name string) (uint32, bool) {
	m.names[0] = name
	return m.byName.Get(0)
}

func lessQueued(a, b queued) bool { return a.at < b.at || (a.at == b.at && a.id < b.id) }

// unixSeconds is t in the index's form, rounded up (a due time is never
// early): 0 for the zero time, clamped to what fits.
func unixSeconds(t time.Time) uint32 {
	if t.IsZero() {
		return 0
	}
	secs := t.Unix()
	if t.Nanosecond() > 0 {
		secs++
	}
	return uint32(min(max(secs, 1), math.MaxUint32))
}

func fromUnixSeconds(s uint32) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(int64(s), 0)
}

// summarize is what the index keeps of g, whose refresh token hashes to
// key and whose account to account.
func summarize(g *grant, key grantKey, account uint64) summary {
	s := summary{
		grantKey: key, account: account,
		expires: unixSeconds(g.ExpiresAt), obtained: unixSeconds(g.ObtainedAt),
		nextTry: unixSeconds(g.NextAttemptAt), landsBy: unixSeconds(g.AttemptLandsBy),
		started: unixSeconds(g.AttemptStartedAt), lastCheck: unixSeconds(g.CheckedAt),
	}
	if g.NeedsReauth {
		s.flags |= flagNeedsReauth
	}
	if g.LastError != "" {
		s.flags |= flagFailing
	}
	if g.AttemptBlind {
		s.flags |= flagBlind
	}
	if g.attempting() && !g.LastErrorAt.Before(g.AttemptLandsBy) {
		s.flags |= flagFailedSinceLanding
	}
	return s
}

// asGrant is the grant s summarizes, as far as its times and state go: the
// grant's own methods then say when it is due.
func (s summary) asGrant() *grant {
	g := &grant{
		ExpiresAt: fromUnixSeconds(s.expires), ObtainedAt: fromUnixSeconds(s.obtained),
		NextAttemptAt: fromUnixSeconds(s.nextTry), AttemptLandsBy: fromUnixSeconds(s.landsBy),
		AttemptStartedAt: fromUnixSeconds(s.started), CheckedAt: fromUnixSeconds(s.lastCheck),
		NeedsReauth: s.flags&flagNeedsReauth != 0, AttemptBlind: s.flags&flagBlind != 0,
	}
	if s.flags&flagFailing != 0 {
		g.LastError = "failing"
	}
	if s.flags&flagFailedSinceLanding != 0 {
		g.LastErrorAt = g.AttemptLandsBy
	}
	return g
}

func (c *indexCounts) add(s summary, sign int) {
	c.creds += sign
	switch {
	case s.flags&flagNeedsReauth != 0:
		c.needReauth += sign
	case s.flags&flagFailing != 0:
		c.failing += sign
	}
	if s.started != 0 {
		c.inDoubt += sign
	}
}

// configure orders the queues for these settings, recomputing every key
// when they changed.
func (m *memIndex) configure(refreshAhead, checkInterval time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if refreshAhead == m.refreshAhead && checkInterval == m.checkInterval {
		return
	}
	m.refreshAhead, m.checkInterval = refreshAhead, checkInterval
	m.attend.Clear(false)
	m.checks.Clear(false)
	for id := 1; id < len(m.slots); id++ {
		if m.names[id] != "" {
			m.queueLocked(uint32(id))
		}
	}
}

// set records the grant of name as s.
func (m *memIndex) set(name string, s summary) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, found := m.lookupLocked(name)
	if found {
		m.unqueueLocked(id)
		m.counts.add(m.slots[id].summary, -1)
	} else {
		id = m.newIDLocked(name)
		m.byName.ReplaceOrInsert(id)
	}
	m.slots[id] = slot{summary: s}
	m.counts.add(s, 1)
	m.queueLocked(id)
}

// remove forgets name.
func (m *memIndex) remove(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.names[0] = name
	id, found := m.byName.Delete(0)
	if !found {
		return
	}
	m.unqueueLocked(id)
	m.counts.add(m.slots[id].summary, -1)
	m.slots[id], m.names[id] = slot{}, ""
	m.free = append(m.free, id)
}

// get is what the index holds of name.
func (m *memIndex) get(name string) (summary, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, found := m.lookupLocked(name)
	if !found {
		return summary{}, false
	}
	return m.slots[id].summary, true
}

func (m *memIndex) newIDLocked(name string) uint32 {
	// A copy of its own: name may be a slice of a request's path, which
	// it would otherwise keep alive (24 bytes where 16 do, a million times).
	name = strings.Clone(name)
	if n := len(m.free); n > 0 {
		id := m.free[n-1]
		m.free = m.free[:n-1]
		m.names[id] = name
		return id
	}
	m.slots = append(m.slots, slot{})
	m.names = append(m.names, name)
	return uint32(len(m.slots) - 1)
}

func (m *memIndex) queueLocked(id uint32) {
	sl := &m.slots[id]
	g := sl.asGrant()
	sl.attendAt = unixSeconds(g.attendAt(m.refreshAhead))
	sl.checkAt = unixSeconds(g.checkAt(m.checkInterval))
	if sl.attendAt != 0 {
		m.attend.ReplaceOrInsert(queued{at: sl.attendAt, id: id})
	}
	if sl.checkAt != 0 {
		m.checks.ReplaceOrInsert(queued{at: sl.checkAt, id: id})
	}
}

func (m *memIndex) unqueueLocked(id uint32) {
	sl := &m.slots[id]
	if sl.attendAt != 0 {
		m.attend.Delete(queued{at: sl.attendAt, id: id})
	}
	if sl.checkAt != 0 {
		m.checks.Delete(queued{at: sl.checkAt, id: id})
	}
	sl.attendAt, sl.checkAt = 0, 0
}

// deferCheck moves name's liveness check to at.
func (m *memIndex) deferCheck(name string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, found := m.lookupLocked(name)
	if !found {
		return
	}
	sl := &m.slots[id]
	if sl.checkAt != 0 {
		m.checks.Delete(queued{at: sl.checkAt, id: id})
	}
	sl.checkAt = unixSeconds(at)
	m.checks.ReplaceOrInsert(queued{at: sl.checkAt, id: id})
}

// dueForAttention is up to limit names the background must attend to by
// now, the most overdue first.
func (m *memIndex) dueForAttention(now time.Time, limit int) []string {
	return m.due(m.attend, now, limit)
}

// dueForCheck is up to limit names whose liveness check is due by now, the
// longest unchecked first.
func (m *memIndex) dueForCheck(now time.Time, limit int) []string {
	return m.due(m.checks, now, limit)
}

func (m *memIndex) due(q *btree.BTreeG[queued], now time.Time, limit int) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	cutoff := uint32(min(max(now.Unix(), 0), math.MaxUint32))
	var out []string
	q.Ascend(func(it queued) bool {
		if it.at > cutoff || len(out) >= limit {
			return false
		}
		out = append(out, m.names[it.id])
		return true
	})
	return out
}

// page is up to limit names after after, in order (limit <= 0: all).
func (m *memIndex) page(after string, limit int) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	m.names[0] = after
	m.byName.AscendGreaterOrEqual(0, func(id uint32) bool {
		if m.names[id] == after {
			return true
		}
		if limit > 0 && len(out) >= limit {
			return false
		}
		out = append(out, m.names[id])
		return true
	})
	return out
}

// snapshot is the index's counts, and when the longest-unchecked healthy
// grant was last checked (zero: none is waiting).
func (m *memIndex) snapshot() (indexCounts, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var oldest time.Time
	if first, ok := m.checks.Min(); ok {
		sl := m.slots[first.id]
		oldest = fromUnixSeconds(max(sl.lastCheck, sl.obtained))
	}
	return m.counts, oldest
}
