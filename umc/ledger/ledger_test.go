package ledger

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestClaimSettle(t *testing.T) {
	l := New(10, time.Hour)
	if st, n := l.Claim("a"); st != Open || n != 0 {
		t.Fatalf("new record: %v %d", st, n)
	}
	if st, _ := l.Claim("a"); st != Busy {
		t.Fatalf("a claimed record is busy for others, got %v", st)
	}
	if n := l.Settle("a", Open, true); n != 1 {
		t.Fatalf("failures %d", n)
	}
	if st, n := l.Claim("a"); st != Open || n != 1 {
		t.Fatalf("after one failure: %v %d", st, n)
	}
	l.Settle("a", Delivered, false)
	if st, _ := l.Claim("a"); st != Delivered {
		t.Fatalf("delivered stays delivered, got %v", st)
	}
}

func TestBoundedBySize(t *testing.T) {
	l := New(100, time.Hour)
	for i := range 1000 {
		id := fmt.Sprint(i)
		l.Claim(id)
		l.Settle(id, Delivered, false)
	}
	if l.Len() > 100 {
		t.Fatalf("%d entries", l.Len())
	}
	if st, _ := l.Claim("999"); st != Delivered {
		t.Fatal("the newest entries are kept")
	}
}

func TestBusyEntriesAreNeverEvicted(t *testing.T) {
	l := New(2, time.Hour)
	l.Claim("busy")
	for i := range 10 {
		l.Claim(fmt.Sprint(i))
		l.Settle(fmt.Sprint(i), Delivered, false)
	}
	if st, _ := l.Claim("busy"); st != Busy {
		t.Fatalf("an entry being sent was evicted: %v", st)
	}
}

func TestBoundedByAge(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(100, time.Minute)
	l.now = func() time.Time { return now }
	l.Claim("old")
	l.Settle("old", Delivered, false)
	now = now.Add(2 * time.Minute)
	l.Claim("new")
	if l.Len() != 1 {
		t.Fatalf("old entry kept: %d entries", l.Len())
	}
	if st, _ := l.Claim("old"); st != Open {
		t.Fatalf("expired entry: %v", st)
	}
}

func TestConcurrentClaimsGiveOneOwner(t *testing.T) {
	l := New(1000, time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	owners := map[string]int{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := fmt.Sprint(i)
				if st, _ := l.Claim(id); st == Open {
					mu.Lock()
					owners[id]++
					mu.Unlock()
					l.Settle(id, Delivered, false)
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
