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
	go func() { first <- s.sync(f.fsync) }()
	<-f.began // a sync is running: the changes below came after it began

	const callers = 6
	var wg sync.WaitGroup
	var returned atomic.Int32
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			err := s.sync(f.fsync)
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
	go func() { first <- s.sync(f.fsync) }()
	<-f.began
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- s.sync(f.fsync) }()
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
	if err := s.sync(f.fsync); err != nil {
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
				if err := s.sync(fsync); !errors.As(err, &got) || got.gen <= before {
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
