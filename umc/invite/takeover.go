package invite

import (
	"sync"
	"sync/atomic"
	"time"

	"umc-invite/umc/logtext"
	"umc-invite/umc/spool"
)

const lockPoll = 250 * time.Millisecond

// takeOver runs once this output holds the queue: the queue, not Fluent Bit's buffer, says who waits.
func (o *Output) takeOver() {
	// No flush meanwhile: a call for a file being copied would send twice.
	o.handover.Lock()
	defer o.handover.Unlock()
	defer o.active.Store(true)
	root := logtext.Quote(o.queue.Root())
	entries, err := o.queue.NotRegular()
	if err != nil {
		o.log.Warnf("queue %s: looking for entries that are no regular file: %v", root, err)
	}
	for _, e := range entries {
		o.applier.evict("", e)
	}
	// Tail does not watch a name with a control character (Exclude_Path).
	names, err := o.queue.Unwatched()
	if err != nil {
		o.log.Warnf("queue %s: looking for names tail does not watch: %v", root, err)
	}
	if len(names) > 0 {
		for i, name := range names {
			names[i] = logtext.Quote(name)
		}
		o.log.Warnf("queue %s: %d file(s) whose name holds a control character (a newline), which tail does not watch (Exclude_Path), so they are never sent: %s; a user's file is named <uid>.send",
			root, len(names), shortList(names))
	}
	if o.window != nil {
		o.window.Start(func(err error) { o.log.Warnf("intake: %v", err) })
	}
	from := "at start"
	if o.waited {
		from = "from the process that held it"
		o.loadLeftovers()
	}
	files, err := o.queue.Files()
	if err != nil {
		o.log.Errorf("took over the queue %s: listing its files: %v", root, err)
	}
	if len(files) > 0 || o.waited {
		o.log.Infof("took over the queue %s %s: %d queue file(s); those tail does not read are handed to it again", root, from, len(files))
	}
	o.rehand.start(o, files, rehandQuiet)
}

var rehandQuiet = 5 * time.Second // how long tail may bring no file before the rest are handed again

// rehand hands tail again, once it had its chance, the files it did not bring after a start (its DB
// may hold an offset Fluent Bit no longer holds); renewing all would have tail read each user twice.
type rehand struct {
	mu      sync.Mutex
	pending map[spool.FileID]bool // files queued at the start, not brought yet
	brought bool                  // a flush brought a file since the last look
	flushes atomic.Int32          // flushes running: their records count as brought
	loop    atomic.Pointer[ticker]
}

// start notes the files queued now; those not brought are handed back once no flush brought any for quiet.
func (r *rehand) start(o *Output, files []spool.File, quiet time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = make(map[spool.FileID]bool, len(files))
	for _, f := range files {
		r.pending[f.ID()] = true
	}
	r.loop.Store(startTicker(o.log, "handing queue files to tail again", quiet, func() bool {
		due := r.due()
		if due {
			o.handBack("not read by tail since the start", func(f spool.File) bool { return !r.pending[f.ID()] })
		}
		return due
	}))
}

// due says whether tail had its chance: since the last look no flush brought a file nor runs.
func (r *rehand) due() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	quiet := !r.brought && r.flushes.Load() == 0
	r.brought = false
	return len(r.pending) == 0 || quiet
}

// saw notes that a flush brought f.
func (r *rehand) saw(f spool.File) {
	r.mu.Lock()
	if r.pending[f.ID()] {
		delete(r.pending, f.ID())
		r.brought = true
	}
	r.mu.Unlock()
}

func (r *rehand) close() { r.loop.Load().close() }

// handBack renews the queue files but those skipped and delivered ones whose removal failed (never sent again).
func (o *Output) handBack(which string, skip func(spool.File) bool) {
	o.handover.Lock() // no flush meanwhile: none brings a file, none is copied under it
	defer o.handover.Unlock()
	if !o.active.Load() {
		return // another process holds the queue: its files are its tail's
	}
	n, err := o.queue.RenewExcept(func(f spool.File) bool { return skip(f) || o.isLeftover(o.fileKey(f)) })
	if err != nil {
		o.log.Errorf("queue %s: handing tail again the files %s: %v", logtext.Quote(o.queue.Root()), which, err)
	}
	if n > 0 {
		o.log.Infof("queue %s: %d file(s) %s handed to tail again", logtext.Quote(o.queue.Root()), n, which)
	}
}

// ticker calls f each period until f says done or close; after a panic, logged, the next tick tries again.
type ticker struct {
	stop, done chan struct{}
	once       sync.Once
}

func startTicker(log *Logger, what string, period time.Duration, f func() bool) *ticker {
	t := &ticker{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-tick.C:
			}
			if func() bool { defer logPanic(log, what); return f() }() {
				return
			}
		}
	}()
	return t
}

func (t *ticker) close() {
	if t != nil {
		t.once.Do(func() { close(t.stop) })
		<-t.done
	}
}

func logPanic(log *Logger, what string) {
	if p := recover(); p != nil {
		log.Errorf("%s: internal error, recovered: %v", what, p)
	}
}
