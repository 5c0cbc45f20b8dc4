package jawbone

import "sync"

// nameLocks gives each creds name its own mutex, held for every
// read-modify-write of that entry (refresh, import, exchange, delete) so
// that no writer overwrites another's result, while entries of other names
// proceed independently. Mutexes exist only while someone holds or waits.
type nameLocks struct {
	mu    sync.Mutex
	locks map[string]*nameLock
}

type nameLock struct {
	sync.Mutex
	users int
}

// lock takes name's mutex and returns the function that releases it.
func (l *nameLocks) lock(name string) (unlock func()) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*nameLock{}
	}
	nl := l.locks[name]
	if nl == nil {
		nl = &nameLock{}
		l.locks[name] = nl
	}
	nl.users++
	l.mu.Unlock()

	nl.Lock()
	return func() {
		nl.Unlock()
		l.mu.Lock()
		if nl.users--; nl.users == 0 {
			delete(l.locks, name)
		}
		l.mu.Unlock()
	}
}
