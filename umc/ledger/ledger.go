// Package ledger remembers, per queue file (or per record where there is
// no file), what the plugin knows of it: whether it is done, how often it
// has waited and what UMC answered, and which flush owns it right now. Fluent Bit
// hands a chunk back whole after FLB_RETRY and may hold one file in two
// chunks; the ledger makes sure each file is sent by one flush at a time
// and never again once done. It is bounded and safe for concurrent flushes.
package ledger

import (
	"container/list"
	"sync"
	"time"

	"umc-invite/umc/policy"
	"umc-invite/umc/queue"
)

// Final says how a record left, or Open while it has not.
type Final int

const (
	Open       Final = iota
	Delivered        // UMC answered 200
	Refused          // UMC will never mail this user: recorded as a refusal
	DeadLetter       // bad input or Max_Age: recorded as a dead letter
)

func (f Final) String() string {
	return [...]string{"open", "delivered", "refused", "dead letter"}[f]
}

// Entry is the state of one queue file.
type Entry struct {
	Final Final
	// User is what is known of the user waiting in it: its age, UMC's
	// last answer, its pause (see umc/decide).
	User policy.User
	// Line is the offset of the newest line of the file seen.
	Line int64
	// Letter is a refusal or dead letter decided but not yet written (a
	// full disk): it is written, not sent again, on the next try.
	Letter *queue.DeadLetter
	// LetterWritten: its line is in the log; only moving the file is left.
	LetterWritten bool
}

// Claimed is the answer to Claim.
type Claimed int

const (
	Owned      Claimed = iota // the caller owns the record until Settle
	Busy                      // another flush owns it now
	Done                      // it has left: Entry.Final says how
	Superseded                // a newer line of the same file carries it on
)

// Claims are the entries one flush owns. Release gives back those it has
// not settled: a panic on the way must not leave an entry busy for ever.
type Claims struct{ keys []string }

// Ledger is the memory of one output instance.
type Ledger struct {
	mu      sync.Mutex
	entries map[string]*list.Element
	lru     *list.List // front: most recently touched
	max     int
	ttl     time.Duration
	now     func() time.Time
}

type item struct {
	key     string
	owner   *Claims // nil: no flush owns it now
	touched time.Time
	Entry
}

// New returns a Ledger that keeps at most max entries that are done (open
// ones are never dropped for room) and forgets any entry untouched for ttl.
func New(max int, ttl time.Duration) *Ledger {
	return &Ledger{entries: map[string]*list.Element{}, lru: list.New(), max: max, ttl: ttl, now: time.Now}
}

// Claim takes the record on line (its offset, -1 when unknown) of the file
// key for sending. A new entry starts from init, which carries what an
// earlier run knew (a carried-over line's state). For Owned, the caller
// owns the returned Entry until it
// calls Settle or Forget, or Release(c).
func (l *Ledger) Claim(c *Claims, key string, line int64, init Entry) (Claimed, Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	it := l.find(key)
	if it == nil {
		init.Final, init.Line = Open, line
		it = l.add(key, init)
	}
	switch {
	case it.Final != Open:
		return Done, it.Entry
	case line >= 0 && line < it.Line:
		return Superseded, it.Entry
	case it.owner != nil:
		return Busy, it.Entry
	}
	if c == nil {
		c = &Claims{}
	}
	it.Line = line
	it.owner = c
	c.keys = append(c.keys, key)
	return Owned, it.Entry
}

// Release ends the claims of c not settled yet, the entries as they were.
func (l *Ledger) Release(c *Claims) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, key := range c.keys {
		if el, ok := l.entries[key]; ok && el.Value.(*item).owner == c {
			el.Value.(*item).owner = nil
		}
	}
	c.keys = nil
}

// Settle ends an Owned claim with the entry's new state.
func (l *Ledger) Settle(key string, e Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	it := l.find(key)
	if it == nil {
		it = l.add(key, e)
	}
	it.owner = nil
	line := it.Line
	it.Entry = e
	it.Line = max(e.Line, line)
	l.evict()
}

// Forget drops an entry: its file has left the queue, so a later record of
// that path is a new file (and one of the old file finds it gone).
func (l *Ledger) Forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.entries[key]; ok {
		l.remove(el)
	}
}

// Len is the number of remembered entries.
func (l *Ledger) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// find returns the live entry for key, marking it recently used, or nil.
func (l *Ledger) find(key string) *item {
	el, ok := l.entries[key]
	if !ok {
		return nil
	}
	it := el.Value.(*item)
	now := l.now()
	if it.owner == nil && now.Sub(it.touched) > l.ttl {
		l.remove(el)
		return nil
	}
	it.touched = now
	l.lru.MoveToFront(el)
	return it
}

func (l *Ledger) add(key string, e Entry) *item {
	it := &item{key: key, touched: l.now(), Entry: e}
	l.entries[key] = l.lru.PushFront(it)
	l.evict()
	return it
}

// evict drops what is too old, then the least recently used entries that
// are done while there are too many. An open or busy entry is only ever
// dropped for age, never for room: its record is still to be sent.
func (l *Ledger) evict() {
	now := l.now()
	for el := l.lru.Back(); el != nil; {
		it := el.Value.(*item)
		prev := el.Prev()
		old := now.Sub(it.touched) > l.ttl
		if !old && len(l.entries) <= l.max {
			break
		}
		if it.owner == nil && (old || it.Final != Open) {
			l.remove(el)
		}
		el = prev
	}
}

func (l *Ledger) remove(el *list.Element) {
	delete(l.entries, el.Value.(*item).key)
	l.lru.Remove(el)
}
