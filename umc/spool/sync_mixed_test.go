package spool

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Plain syncs (no linger) and removals' syncs (a linger, one enough, as a
// flush passes its Concurrency) mixed on one syncer: every caller returns, one fsync runs at a time, and a
// caller told nil finds its change among those an fsync began after.
func TestMixedSyncsAndRemovalSyncsKeepTheirPromise(t *testing.T) {
	var s syncer
	var (
		mu       sync.Mutex
		made     = map[int]bool{} // changes made, not yet covered by a beginning fsync
		durable  = map[int]bool{}
		running  atomic.Int32
		overlaps atomic.Int32
		runs     atomic.Int32
	)
	fsync := func() error {
		if running.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer running.Add(-1)
		runs.Add(1)
		mu.Lock()
		covered := made
		made = map[int]bool{}
		mu.Unlock()
		time.Sleep(200 * time.Microsecond)
		mu.Lock()
		for c := range covered {
			durable[c] = true
		}
		mu.Unlock()
		return nil
	}
	const callers = 400
	var wg sync.WaitGroup
	var late atomic.Int32
	for i := range callers {
		wg.Go(func() {
			mu.Lock()
			made[i] = true
			mu.Unlock()
			var err error
			if i%3 == 0 {
				err = s.sync(fsync, 0, 0)
			} else {
				err = s.sync(fsync, 2*time.Millisecond, 4)
			}
			mu.Lock()
			ok := durable[i]
			mu.Unlock()
			if err != nil || !ok {
				late.Add(1)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a caller still waits")
	}
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d fsync(s) overlapped another", n)
	}
	if n := late.Load(); n != 0 {
		t.Errorf("%d caller(s) returned before an fsync that began after their change ended", n)
	}
	t.Logf("%d callers, %d fsyncs", callers, runs.Load())
}

// On a real queue, removals synced together and plain directory syncs at
// the same time all return, under -race, and the files are gone.
func TestRemovalsAndDirectorySyncsOnOneQueue(t *testing.T) {
	dir := t.TempDir()
	q, err := OpenQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		path := filepath.Join(dir, "u"+strconv.Itoa(i)+".send")
		if err := os.WriteFile(path, []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := q.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := q.RemoveUnsynced(f); err != nil {
				t.Error(err)
			}
			if i%2 == 0 {
				err = q.SyncRemovals(8)
			} else {
				err = q.h.Sync()
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if files, _ := q.Files(); len(files) != 0 {
		t.Fatalf("%d file(s) left", len(files))
	}
}

// Callers of one run that pass different "enough" values (two flushes of
// outputs configured apart, or a Concurrency changed on reload, sharing a
// queue) each get the run's result: none panics, and none is left waiting
// for the directory's syncer ever after.
func TestRemovalSyncCallersWithDifferentEnoughShareARun(t *testing.T) {
	var s syncer
	f := &fakeSync{release: make(chan error, 8), began: make(chan struct{}, 8)}
	first := make(chan error, 1)
	go func() { first <- s.sync(f.fsync, 0, 0) }()
	<-f.began // running: the callers below wait for the next run
	joined := func(k int) {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			s.mu.Lock()
			n := 0
			if s.next != nil {
				n = s.next.joined
			}
			s.mu.Unlock()
			if n >= k {
				return
			}
		}
		t.Fatalf("caller %d never joined", k)
	}
	results := make(chan any, 3)
	call := func(enough int) {
		defer func() {
			if r := recover(); r != nil {
				results <- r
			}
		}()
		results <- s.sync(f.fsync, time.Minute, enough)
	}
	go call(2)
	joined(1)
	go call(2) // the run is full
	joined(2)
	go call(3) // a third caller, who would call three enough
	time.Sleep(20 * time.Millisecond)
	f.release <- nil // the first run ends; the next begins
	f.release <- nil
	select {
	case err := <-first:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		select {
		case r := <-results:
			t.Fatalf("the running sync's caller never returns, the syncer's lock held after a joining caller got %v", r)
		default:
		}
		t.Fatal("the running sync's caller never returns: the syncer's lock is held")
	}
	for range 3 {
		select {
		case r := <-results:
			if r != nil {
				t.Errorf("a caller got %v", r)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a caller still waits for the directory sync")
		}
	}
	later := make(chan error, 1)
	go func() { later <- s.sync(func() error { return nil }, 0, 0) }()
	select {
	case <-later:
	case <-time.After(5 * time.Second):
		t.Fatal("a later sync waits forever: the syncer's lock is still held")
	}
}
