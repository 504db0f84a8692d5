package spool

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeSync is an fsync that records when each run began and waits to be let go.
type fakeSync struct {
	runs    atomic.Int32
	release chan error
	began   chan struct{}
}

func (f *fakeSync) fsync() error {
	f.runs.Add(1)
	f.began <- struct{}{}
	return <-f.release
}

// Removals finishing together cost one directory sync, not one each, and
// none of them returns before a sync that began after its own change.
func TestRemovalsAtTheSameTimeShareOneDirectorySync(t *testing.T) {
	var s syncer
	f := &fakeSync{release: make(chan error), began: make(chan struct{}, 16)}
	first := make(chan error, 1)
	go func() { first <- s.sync(f.fsync, 0, 0) }()
	<-f.began // a sync is running: the changes below came after it began

	const callers = 6
	var wg sync.WaitGroup
	var returned atomic.Int32
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			err := s.sync(f.fsync, 0, 0)
			returned.Add(1)
			errs <- err
		})
	}
	time.Sleep(50 * time.Millisecond) // let every caller wait
	f.release <- nil                  // the sync that began before them ends
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	<-f.began // the next sync, for all of them
	time.Sleep(20 * time.Millisecond)
	if n := returned.Load(); n != 0 {
		t.Fatalf("%d caller(s) returned before a sync that began after their change ended", n)
	}
	f.release <- nil
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.runs.Load(); n != 2 {
		t.Fatalf("%d syncs for 1 + %d callers, want 2", n, callers)
	}
}

// A failed sync is every waiting caller's failure: none of them takes its
// removal as safe.
func TestAFailedDirectorySyncFailsEveryCallerItCovered(t *testing.T) {
	var s syncer
	f := &fakeSync{release: make(chan error), began: make(chan struct{}, 16)}
	first := make(chan error, 1)
	go func() { first <- s.sync(f.fsync, 0, 0) }()
	<-f.began
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- s.sync(f.fsync, 0, 0) }()
	}
	time.Sleep(50 * time.Millisecond)
	f.release <- nil
	<-first
	<-f.began
	f.release <- errors.New("EIO")
	for range 3 {
		if err := <-errs; err == nil {
			t.Fatal("a caller covered by a failed sync got no error")
		}
	}
	// The next caller alone gets a sync of its own.
	go func() { <-f.began; f.release <- nil }()
	if err := s.sync(f.fsync, 0, 0); err != nil {
		t.Fatalf("a later sync that worked: %v", err)
	}
}

// genErr is the result of one fake sync: which one it was.
type genErr struct{ gen int64 }

func (e genErr) Error() string { return "sync" }

// However callers and syncs interleave, each caller's result is that of a
// sync that began after its call, and no two syncs run at once.
func TestEachCallerGetsTheResultOfASyncBegunAfterItsCall(t *testing.T) {
	var s syncer
	var begun, running atomic.Int64
	fsync := func() error {
		if running.Add(1) != 1 {
			t.Error("two directory syncs at once")
		}
		gen := begun.Add(1)
		time.Sleep(time.Duration(gen%3) * 100 * time.Microsecond)
		running.Add(-1)
		return genErr{gen}
	}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 20 {
				before := begun.Load()
				var got genErr
				if err := s.sync(fsync, 0, 0); !errors.As(err, &got) || got.gen <= before {
					t.Errorf("result of sync %v for a call made after sync %d had begun", err, before)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := begun.Load(); n >= 32*20 {
		t.Errorf("%d syncs for %d calls: none shared", n, 32*20)
	}
}

// Removals finishing within the linger of the first share one sync; a
// lone one is synced once the linger has passed; enough waiting start it
// at once.
func TestRemovalsWithinTheLingerShareOneSync(t *testing.T) {
	var s syncer
	var runs atomic.Int32
	fsync := func() error { runs.Add(1); return nil }
	const linger = 200 * time.Millisecond
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 3 {
		time.Sleep(time.Duration(i) * 10 * time.Millisecond)
		wg.Go(func() {
			if err := s.sync(fsync, linger, 100); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Fatalf("%d syncs for 3 removals within the linger, want 1", n)
	}
	if took := time.Since(start); took < linger {
		t.Fatalf("synced after %s, before the linger (%s) had passed", took, linger)
	}

	start = time.Now()
	for range 4 {
		wg.Go(func() { _ = s.sync(fsync, time.Minute, 4) })
	}
	wg.Wait()
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("4 removals with 4 enough waited %s, for the linger", took)
	}
	if n := runs.Load(); n != 2 {
		t.Fatalf("%d syncs in all, want 2", n)
	}
}
