package spool

import (
	"container/list"
	"sync"
	"time"
)

// Final says how a record left, or Pending.
type Final int

const (
	Pending      Final = iota
	Delivered          // UMC answered 200
	Refused            // UMC will never mail this user: recorded as a refusal
	DeadLettered       // bad input or Max_Age: recorded as a dead letter
)

// Entry is the state of one queue file; S is what is known of its user.
type Entry[S any] struct {
	Final         Final
	User          S
	Line          int64       // offset of the newest line of the file seen
	Letter        *DeadLetter // decided, not yet written (a full disk): written on the next try
	LetterWritten bool        // only moving the file is left
}

// Claimed is the answer to Claim.
type Claimed int

const (
	Owned      Claimed = iota // the caller owns the record until Settle
	Busy                      // another flush owns it now
	Done                      // it has left: Entry.Final says how
	Superseded                // a newer line of the same file carries it on
)

// Claims are the entries one flush owns, for Release.
type Claims struct{ keys []string }

// Ledger remembers per queue file its state and owning flush: Fluent Bit may
// hold a file in two chunks and retries chunks whole, yet one sends it, once.
type Ledger[S any] struct {
	mu      sync.Mutex
	entries map[string]*list.Element
	lru     *list.List // front: most recently touched
	max     int
	ttl     time.Duration
	now     func() time.Time
}

type item[S any] struct {
	key     string
	owner   *Claims // nil: no flush owns it now
	touched time.Time
	Entry[S]
}

// NewLedger keeps at most max done entries and forgets any untouched for ttl.
func NewLedger[S any](max int, ttl time.Duration) *Ledger[S] {
	return &Ledger[S]{entries: map[string]*list.Element{}, lru: list.New(), max: max, ttl: ttl, now: time.Now}
}

// Claim gives c (not nil) the record at offset line (-1: unknown) of file key (new: from init) until Settle/Forget/Release.
func (l *Ledger[S]) Claim(c *Claims, key string, line int64, init Entry[S]) (Claimed, Entry[S]) {
	l.mu.Lock()
	defer l.mu.Unlock()
	init.Final, init.Line = Pending, line
	it := l.get(key, init)
	switch {
	case it.Final != Pending:
		return Done, it.Entry
	case line >= 0 && line < it.Line:
		return Superseded, it.Entry
	case it.owner != nil:
		return Busy, it.Entry
	}
	it.Line, it.owner = line, c
	c.keys = append(c.keys, key)
	return Owned, it.Entry
}

// Release ends the claims of c not settled yet, the entries as they were.
func (l *Ledger[S]) Release(c *Claims) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, key := range c.keys {
		if el, ok := l.entries[key]; ok && el.Value.(*item[S]).owner == c {
			el.Value.(*item[S]).owner = nil
		}
	}
	c.keys = nil
}

// Settle ends an Owned claim with the entry's new state.
func (l *Ledger[S]) Settle(key string, e Entry[S]) {
	l.mu.Lock()
	defer l.mu.Unlock()
	it := l.get(key, e)
	e.Line = max(e.Line, it.Line)
	it.Entry, it.owner = e, nil
	l.evict()
}

// Forget drops the entry of a file that has left the queue.
func (l *Ledger[S]) Forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.entries[key]; ok {
		l.remove(el)
	}
}

// get returns the live entry for key, marked recently used; without one, a new one from init.
func (l *Ledger[S]) get(key string, init Entry[S]) *item[S] {
	l.evict() // what is too old goes first
	if el, ok := l.entries[key]; ok {
		l.lru.MoveToFront(el)
		it := el.Value.(*item[S])
		it.touched = l.now()
		return it
	}
	it := &item[S]{key: key, touched: l.now(), Entry: init}
	l.entries[key] = l.lru.PushFront(it)
	l.evict()
	return it
}

// evict drops what is too old, then the least recently used done entries while too many.
func (l *Ledger[S]) evict() {
	now := l.now()
	for el := l.lru.Back(); el != nil; {
		it := el.Value.(*item[S])
		prev := el.Prev()
		old := now.Sub(it.touched) > l.ttl
		if !old && len(l.entries) <= l.max {
			break
		}
		if it.owner == nil && (old || it.Final != Pending) {
			l.remove(el)
		}
		el = prev
	}
}

func (l *Ledger[S]) remove(el *list.Element) {
	delete(l.entries, el.Value.(*item[S]).key)
	l.lru.Remove(el)
}
