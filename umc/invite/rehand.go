package invite

import (
	"sync"
	"sync/atomic"
	"time"

	"umc-invite/umc/logtext"
	"umc-invite/umc/spool"
)

// rehandQuiet is how long no flush may bring a queued file before the files
// tail did not bring since the start are handed to it again.
var rehandQuiet = 5 * time.Second // a variable for tests

// rehand hands tail again, once it has had its chance, the queue files it
// did not bring after a start: its DB may hold the offset of a record Fluent
// Bit no longer holds. Renewing every file at once had tail read each user
// twice and log that it could not register the files it was opening.
type rehand struct {
	mu      sync.Mutex
	pending map[string]bool // file keys queued at the start, not brought yet
	brought bool            // a flush brought a file since the last look
	flushes int             // flushes running: their records count as brought
	over    atomic.Bool     // handed or stopped: nothing pending any more
	stop    chan struct{}
	done    chan struct{}
}

// start notes the files queued now and hands tail those it has not brought
// once no flush brought any for quiet; close stops it.
func (r *rehand) start(o *Output, files []spool.File, quiet time.Duration) {
	r.mu.Lock()
	r.pending = make(map[string]bool, len(files))
	for _, f := range files {
		r.pending[f.Key()] = true
	}
	// The goroutine keeps its own channels: close clears r.stop before it may first look.
	stop, done := make(chan struct{}), make(chan struct{})
	r.stop, r.done = stop, done
	r.mu.Unlock()
	go func() {
		defer close(done)
		defer r.over.Store(true)
		defer func() {
			if p := recover(); p != nil {
				o.log.Errorf("handing queue files to tail again: internal error, recovered: %v", p)
			}
		}()
		tick := time.NewTicker(quiet)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if r.due() {
				o.handUnbrought(r)
				return
			}
		}
	}()
}

// due says whether tail had its chance: files wait, and since the last
// look no flush brought one nor runs.
func (r *rehand) due() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	quiet := !r.brought && r.flushes == 0
	r.brought = false
	return len(r.pending) == 0 || quiet
}

// flushing counts a flush in or out (delta ±1).
func (r *rehand) flushing(delta int) {
	r.mu.Lock()
	r.flushes += delta
	r.mu.Unlock()
}

// saw notes that a flush brought f.
func (r *rehand) saw(f spool.File) {
	if r.over.Load() {
		return
	}
	r.mu.Lock()
	if r.pending[f.Key()] {
		delete(r.pending, f.Key())
		r.brought = true
	}
	r.mu.Unlock()
}

func (r *rehand) close() {
	r.mu.Lock()
	stop, done := r.stop, r.done
	r.stop = nil
	r.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// handUnbrought renews the files queued at the start that no flush brought,
// but for delivered files whose removal failed: those are never sent again.
func (o *Output) handUnbrought(r *rehand) {
	o.handover.Lock()
	defer o.handover.Unlock()
	r.mu.Lock()
	pending := r.pending
	r.mu.Unlock()
	n, err := o.queue.RenewExcept(func(f spool.File) bool { return !pending[f.Key()] || o.isLeftover(o.fileKey(f)) })
	if err != nil {
		o.log.Errorf("handing tail the queue files it did not read since the start: %v", err)
	}
	if n > 0 {
		o.log.Infof("%d queue file(s) in %s not read by tail since the start handed to it again", n, logtext.Quote(o.queue.Root()))
	}
}
