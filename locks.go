package jawbone

import "sync"

// keyLocks gives each key its own mutex: each creds name one, held for
// every read-modify-write of that entry (refresh, import, exchange, delete)
// so that no writer overwrites another's result, while entries of other
// names proceed independently; and each grant one (by the keyed hash of
// its refresh token), held from the check that no other name holds the
// grant to the write that stores it. Mutexes exist only while someone
// holds or waits.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
	// wait, when set, is called while the key is held by another, instead
	// of blocking: the concurrent simulation's scheduler runs its other
	// workers meanwhile (a worker blocked outside its sight would stop it).
	wait func()
}

type keyLock struct {
	sync.Mutex
	users int
}

// lock takes key's mutex and returns the function that releases it.
func (l *keyLocks) lock(key string) (unlock func()) {
	kl := l.enter(key)
	if l.wait == nil {
		kl.Lock()
	} else {
		for !kl.TryLock() {
			l.wait()
		}
	}
	return func() { l.leave(key, kl) }
}

// tryLock takes key's mutex if nobody holds it; ok is false otherwise.
func (l *keyLocks) tryLock(key string) (unlock func(), ok bool) {
	kl := l.enter(key)
	if !kl.TryLock() {
		l.release(key, kl)
		return nil, false
	}
	return func() { l.leave(key, kl) }, true
}

func (l *keyLocks) enter(key string) *keyLock {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.locks == nil {
		l.locks = map[string]*keyLock{}
	}
	kl := l.locks[key]
	if kl == nil {
		kl = &keyLock{}
		l.locks[key] = kl
	}
	kl.users++
	return kl
}

func (l *keyLocks) leave(key string, kl *keyLock) {
	kl.Unlock()
	l.release(key, kl)
}

func (l *keyLocks) release(key string, kl *keyLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if kl.users--; kl.users == 0 {
		delete(l.locks, key)
	}
}
