package spool

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

type (
	user  struct{ LastAnswer string }
	entry = Entry[user]
)

func settle(l *Ledger[user], key string, f Final) {
	_, e := l.Claim(&Claims{}, key, 0, entry{})
	e.Final = f
	l.Settle(key, e)
}

func TestClaimSettle(t *testing.T) {
	l := NewLedger[user](10, time.Hour)
	c, e := l.Claim(&Claims{}, "a", 0, entry{User: user{LastAnswer: "2"}})
	if c != Owned || e.User.LastAnswer != "2" {
		t.Fatalf("new record: %v %+v", c, e)
	}
	if c, _ := l.Claim(&Claims{}, "a", 0, entry{}); c != Busy {
		t.Fatalf("a claimed record is busy for others, got %v", c)
	}
	e.User.LastAnswer = "3"
	l.Settle("a", e)
	if c, e := l.Claim(&Claims{}, "a", 0, entry{}); c != Owned || e.User.LastAnswer != "3" {
		t.Fatalf("after one failure: %v %+v", c, e)
	}
	e.Final = Delivered
	l.Settle("a", e)
	if c, e := l.Claim(&Claims{}, "a", 0, entry{}); c != Done || e.Final != Delivered {
		t.Fatalf("delivered stays delivered, got %v %v", c, e.Final)
	}
}

// A file's later line (a carry-over, or a line written twice) takes over;
// its older lines are superseded.
func TestNewerLineSupersedesOlder(t *testing.T) {
	l := NewLedger[user](10, time.Hour)
	_, e := l.Claim(&Claims{}, "f", 0, entry{})
	l.Settle("f", e)
	c, e := l.Claim(&Claims{}, "f", 40, entry{})
	if c != Owned || e.Line != 40 {
		t.Fatalf("newer line: %v %+v", c, e)
	}
	l.Settle("f", e)
	if c, _ := l.Claim(&Claims{}, "f", 0, entry{}); c != Superseded {
		t.Fatalf("older line: %v", c)
	}
}

func TestBoundedBySize(t *testing.T) {
	l := NewLedger[user](100, time.Hour)
	for i := range 1000 {
		settle(l, fmt.Sprint(i), Delivered)
	}
	if len(l.entries) > 100 {
		t.Fatalf("%d entries", len(l.entries))
	}
	if c, _ := l.Claim(&Claims{}, "999", 0, entry{}); c != Done {
		t.Fatal("the newest entries are kept")
	}
}

// A full ledger drops only what is done, never an open or busy record.
func TestOpenAndBusyEntriesAreNeverEvictedForRoom(t *testing.T) {
	l := NewLedger[user](2, time.Hour)
	l.Claim(&Claims{}, "busy", 0, entry{})
	_, e := l.Claim(&Claims{}, "open", 0, entry{User: user{LastAnswer: "3"}})
	l.Settle("open", e)
	for i := range 10 {
		settle(l, fmt.Sprint(i), Delivered)
	}
	if c, _ := l.Claim(&Claims{}, "busy", 0, entry{}); c != Busy {
		t.Fatalf("an entry being sent was evicted: %v", c)
	}
	if c, e := l.Claim(&Claims{}, "open", 0, entry{}); c != Owned || e.User.LastAnswer != "3" {
		t.Fatalf("an open entry lost its state: %v %+v", c, e)
	}
}

func TestBoundedByAge(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLedger[user](100, time.Minute)
	l.now = func() time.Time { return now }
	settle(l, "old", Delivered)
	now = now.Add(2 * time.Minute)
	l.Claim(&Claims{}, "new", 0, entry{})
	if len(l.entries) != 1 {
		t.Fatalf("old entry kept: %d entries", len(l.entries))
	}
	if c, _ := l.Claim(&Claims{}, "old", 0, entry{}); c != Owned {
		t.Fatalf("expired entry: %v", c)
	}
}

func TestForget(t *testing.T) {
	l := NewLedger[user](10, time.Hour)
	settle(l, "f", Delivered)
	l.Forget("f")
	if c, _ := l.Claim(&Claims{}, "f", 0, entry{}); c != Owned || len(l.entries) != 1 {
		t.Fatalf("a forgotten file is new again: %v", c)
	}
}

func TestConcurrentClaimsGiveOneOwner(t *testing.T) {
	l := NewLedger[user](1000, time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	owners := map[string]int{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := fmt.Sprint(i)
				if c, e := l.Claim(&Claims{}, id, 0, entry{}); c == Owned {
					mu.Lock()
					owners[id]++
					mu.Unlock()
					e.Final = Delivered
					l.Settle(id, e)
				}
			}
		}()
	}
	wg.Wait()
	for i := range 200 {
		if owners[fmt.Sprint(i)] != 1 {
			t.Fatalf("record %d owned %d times", i, owners[fmt.Sprint(i)])
		}
	}
}

// TestMemoryAtLimit prints what a full ledger costs, for docs/performance.md.
func TestMemoryAtLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("measures memory")
	}
	const n = 200_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := NewLedger[user](n, time.Hour)
	for i := range n {
		settle(l, fmt.Sprintf("file:2049:%d", 10_000_000+i), Delivered)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("%d entries: %.1f MB, %d bytes each", len(l.entries), float64(after.HeapAlloc-before.HeapAlloc)/1e6, (after.HeapAlloc-before.HeapAlloc)/n)
}

// A flush that ends without settling a claim (a panic on the way) gives it
// back as it was: the next flush owns it, and a claim taken meanwhile by
// another flush is not touched.
func TestReleaseGivesBackOnlyItsOwnUnsettledClaims(t *testing.T) {
	l := NewLedger[user](10, time.Hour)
	first, second := &Claims{}, &Claims{}
	l.Claim(first, "a", 0, entry{})
	l.Claim(first, "b", 0, entry{})
	l.Settle("b", entry{})
	if c, _ := l.Claim(second, "b", 0, entry{}); c != Owned {
		t.Fatalf("b after settle: %v, want Owned", c)
	}
	l.Release(first)
	if c, _ := l.Claim(&Claims{}, "a", 0, entry{}); c != Owned {
		t.Errorf("a after release: %v, want Owned", c)
	}
	if c, _ := l.Claim(&Claims{}, "b", 0, entry{}); c != Busy {
		t.Errorf("b, owned by another flush: %v, want Busy", c)
	}
}
