// Package ledger remembers, per record identity, how often a record failed
// and whether it is done, so that a chunk Fluent Bit hands back after
// FLB_RETRY sends only what is still open. It is bounded in size and age
// and safe for concurrent flushes.
package ledger

import (
	"container/list"
	"sync"
	"time"
)

// State of a record.
type State int

const (
	Open      State = iota // not done: may be sent
	Busy                   // being sent by another flush right now
	Delivered              // UMC answered 200, or its queue file was already gone
	Dead                   // written to the dead letters
)

// Ledger is the memory of one output instance.
type Ledger struct {
	mu      sync.Mutex
	entries map[string]*list.Element
	lru     *list.List // front: most recently touched
	max     int
	ttl     time.Duration
	now     func() time.Time
}

type entry struct {
	id       string
	state    State
	busy     bool
	failures int
	touched  time.Time
}

// New returns a Ledger holding at most max entries, each for at most ttl
// after it was last touched.
func New(max int, ttl time.Duration) *Ledger {
	return &Ledger{entries: map[string]*list.Element{}, lru: list.New(), max: max, ttl: ttl, now: time.Now}
}

// Claim takes a record for sending. It returns the record's state and the
// failures so far; only for Open does the caller own the record until it
// calls Settle.
func (l *Ledger) Claim(id string) (State, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.touch(id)
	switch {
	case e.state != Open:
		return e.state, e.failures
	case e.busy:
		return Busy, e.failures
	}
	e.busy = true
	return Open, e.failures
}

// Settle ends a Claim with the record's new state; failed counts one more
// failed attempt. It returns the failures so far.
func (l *Ledger) Settle(id string, state State, failed bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.touch(id)
	e.busy = false
	e.state = state
	if failed {
		e.failures++
	}
	return e.failures
}

// Len is the number of remembered records.
func (l *Ledger) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// touch finds or adds the entry and marks it recently used; it evicts what
// is too old or too many, but never an entry some flush is sending.
func (l *Ledger) touch(id string) *entry {
	now := l.now()
	if el, ok := l.entries[id]; ok {
		e := el.Value.(*entry)
		if e.busy || now.Sub(e.touched) <= l.ttl {
			e.touched = now
			l.lru.MoveToFront(el)
			return e
		}
		l.remove(el)
	}
	e := &entry{id: id, touched: now}
	l.entries[id] = l.lru.PushFront(e)
	l.evict(now)
	return e
}

func (l *Ledger) evict(now time.Time) {
	for el := l.lru.Back(); el != nil && el != l.lru.Front(); {
		e := el.Value.(*entry)
		prev := el.Prev()
		if !e.busy && (len(l.entries) > l.max || now.Sub(e.touched) > l.ttl) {
			l.remove(el)
		} else if len(l.entries) <= l.max {
			break
		}
		el = prev
	}
}

func (l *Ledger) remove(el *list.Element) {
	delete(l.entries, el.Value.(*entry).id)
	l.lru.Remove(el)
}
