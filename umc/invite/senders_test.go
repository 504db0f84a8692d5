package invite

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umc-invite/umc"
	"umc-invite/umc/config"
)

// goroutinesSettle waits briefly for the goroutine count to fall to want.
func goroutinesSettle(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 50 && n > want; i++ {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// A panic inside the outage's one call itself (UMC's call, before its
// answer is known) gives the turn back: a later user is still called.
func TestAPanicInTheOutagesOwnCallLetsLaterCallsGo(t *testing.T) {
	fake := &fakeUMC{answer: func(user string, _ int) umc.Answer {
		switch user {
		case "bob":
			panic("inside the call")
		case "carol":
			return served()
		}
		return unavailable()
	}}
	f := newFakeFixture(t, fake, config.Map{"Flush_Timeout": "2s", "Timeout": "1s"})
	ctx := context.Background()
	f.flush(ctx, f.queueFiles(t, "alice")) // UMC unavailable: an outage
	f.advance(2 * time.Second)
	if v := f.out.Flush(ctx, f.queueFiles(t, "bob")); v != Retry {
		t.Fatalf("bob's flush answered %v, want RETRY: the panicking record stays queued", v)
	}
	if !strings.Contains(f.logs.String(), "internal error") {
		t.Fatalf("the panic was not met:\n%s", f.logs)
	}
	f.advance(2 * time.Second)
	f.out.Flush(ctx, f.queueFiles(t, "carol"))
	if n := fake.called("carol"); n != 1 {
		t.Fatalf("carol called %d times after a panic in the outage's call, want 1: the outage's turn was never given back", n)
	}
}

// A panic handling one record leaves it queued (RETRY), the others are
// delivered, and no sender outlives the flush.
func TestAPanicInOneCallKeepsItQueuedDeliversTheOthersAndLeavesNoSender(t *testing.T) {
	fake := &fakeUMC{answer: func(user string, _ int) umc.Answer {
		if user == "u003" || user == "u011" {
			panic("one user's call")
		}
		return served()
	}}
	// No intake: its goroutines start on their own time, not the flush's.
	f := newFakeFixture(t, fake, config.Map{"Concurrency": "2", "Intake_Dir": "off"})
	users := names("u", 20)
	recs := f.queueFiles(t, users...)
	before := runtime.NumGoroutine()
	if v := f.flush(context.Background(), recs); v != Retry {
		t.Fatalf("verdict %v, want RETRY", v)
	}
	if n := goroutinesSettle(before); n > before {
		t.Errorf("%d goroutines after the flush, %d before: a sender outlived its flush", n, before)
	}
	for _, u := range users {
		_, err := os.Stat(filepath.Join(f.queue, u+".send"))
		queued := err == nil
		if want := u == "u003" || u == "u011"; queued != want {
			t.Errorf("%s queued %v, want %v", u, queued, want)
		}
		if n := fake.called(u); n != 1 {
			t.Errorf("%s called %d times, want 1", u, n)
		}
	}
}

// After Flush_Timeout the flush returns with nothing of it still running.
func TestNoSenderOutlivesAFlushCutByFlushTimeout(t *testing.T) {
	fake := &fakeUMC{answer: func(string, int) umc.Answer {
		time.Sleep(150 * time.Millisecond)
		return served()
	}}
	f := newFakeFixture(t, fake, config.Map{"Concurrency": "1", "Flush_Timeout": "500ms", "Timeout": "500ms", "Intake_Dir": "off"})
	recs := f.queueFiles(t, names("u", 12)...)
	before := runtime.NumGoroutine()
	if v := f.flush(context.Background(), recs); v != Retry {
		t.Fatalf("verdict %v, want RETRY: Flush_Timeout held some back", v)
	}
	if n := goroutinesSettle(before); n > before {
		t.Errorf("%d goroutines after the flush, %d before: a sender outlived its flush", n, before)
	}
}

// A backlog keeps Concurrency calls in flight, never more.
func TestABacklogKeepsConcurrencyCallsInFlightAndNoMore(t *testing.T) {
	var calls inFlight
	fake := &fakeUMC{answer: func(string, int) umc.Answer {
		defer calls.enter()()
		time.Sleep(20 * time.Millisecond)
		return served()
	}}
	f := newFakeFixture(t, fake, config.Map{"Concurrency": "4"})
	if v := f.flush(context.Background(), f.queueFiles(t, names("u", 40)...)); v != OK {
		t.Fatalf("verdict %v, want OK", v)
	}
	if p := calls.max(); p != 4 {
		t.Fatalf("at most %d calls in flight for a backlog of 40 at Concurrency 4, want 4", p)
	}
}

// In an outage, a flush of many users makes at most one call at a time;
// when UMC answers again the others go, each once.
func TestInAnOutageOneCallAtATimeThenTheOthersGo(t *testing.T) {
	var calls inFlight
	var down atomic.Bool
	down.Store(true)
	fake := &fakeUMC{answer: func(string, int) umc.Answer {
		leave := calls.enter()
		time.Sleep(10 * time.Millisecond)
		leave()
		if down.Load() {
			return unavailable()
		}
		return served()
	}}
	f := newFakeFixture(t, fake, config.Map{"Concurrency": "4", "Chunk_Retry_Limit": "100"})
	ctx := context.Background()
	f.flush(ctx, f.queueFiles(t, "opener")) // opens the outage
	users := names("u", 30)
	calls.reset()
	for range 3 {
		f.advance(2 * time.Second)
		f.out.Flush(ctx, f.queueFiles(t, users...))
	}
	if p := calls.max(); p > 1 {
		t.Fatalf("%d calls in flight during an outage, want at most 1", p)
	}
	down.Store(false)
	for range 5 {
		f.flush(ctx, f.queueFiles(t, users...))
	}
	for _, u := range users {
		if _, err := os.Stat(filepath.Join(f.queue, u+".send")); err == nil {
			t.Errorf("%s still queued after UMC answered again", u)
		}
	}
}

// inFlight counts calls in flight and their most at once.
type inFlight struct {
	mu        sync.Mutex
	now, most int
}

func (c *inFlight) enter() (leave func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now++
	c.most = max(c.most, c.now)
	return func() { c.mu.Lock(); c.now--; c.mu.Unlock() }
}

func (c *inFlight) reset() { c.mu.Lock(); c.most = c.now; c.mu.Unlock() }

func (c *inFlight) max() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.most
}
