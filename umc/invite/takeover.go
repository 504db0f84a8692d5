package invite

import (
	"fmt"
	"sync"
	"time"

	"umc-invite/umc/logtext"
	"umc-invite/umc/metrics"
	"umc-invite/umc/spool"
)

const lockPoll = 250 * time.Millisecond

// lockQueue makes this output the queue's one sender across processes;
// while another holds it, this one sends nothing and takes over later.
func (o *Output) lockQueue() error {
	var err error
	o.lock, err = spool.TakeLock(o.queue.Handle(), lockPoll, func() {
		o.waited = true
		o.log.Warnf("another process holds the queue lock on %s (a second Fluent Bit on this queue): this output sends nothing and admits nothing until it is gone, then takes over",
			logtext.Quote(o.queue.Root()))
	}, o.takeOver)
	return err
}

// takeOver runs once this output holds the queue: the queue, not Fluent
// Bit's buffer, says who waits, so tail gets again, once it has had its
// chance, the files it does not read (rehand).
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

// evict removes a queue entry that is no regular file, never sent, as one
// bad_input dead letter, counting against no one's health.
func (o applier) evict(tag string, e *spool.NotRegularError) {
	first, err := o.queue.Evict(e)
	if !first {
		return
	}
	outcome := "removed from the queue"
	if err != nil {
		outcome = fmt.Sprintf("left in the queue, removing it failed: %v", err)
	}
	reason := fmt.Sprintf("queue entry %s is a %s, not a regular file: never read nor sent, and nothing read through it kept; %s",
		logtext.Quote(e.Name), e.Type, outcome)
	l := &spool.DeadLetter{Time: o.now().UTC(), Kind: spool.KindBadInput, Reason: reason, Tag: tag,
		Record: map[string]any{o.cfg.PathKey: e.Path}}
	o.metrics.Invitation(metrics.DeadLetter)
	if _, err := o.writeDeadLetter(l, &job{}); err != nil {
		o.log.Errorf("%s; its dead letter could not be written: %v", reason, err)
	} else if o.dead != nil {
		o.log.Errorf("%s; dead letter written to %s", reason, logtext.Quote(o.where()))
	}
}

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
	loop    *ticker
}

// start notes the files queued now and hands tail those it has not brought
// once no flush brought any for quiet; close stops it.
func (r *rehand) start(o *Output, files []spool.File, quiet time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = make(map[string]bool, len(files))
	for _, f := range files {
		r.pending[f.Key()] = true
	}
	r.loop = startTicker(o.log, "handing queue files to tail again", quiet, func() bool {
		due := r.due()
		if due {
			o.handBack("not read by tail since the start", func(f spool.File) bool { return !r.pending[f.Key()] })
		}
		return due
	})
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
	r.mu.Lock()
	if r.pending[f.Key()] {
		delete(r.pending, f.Key())
		r.brought = true
	}
	r.mu.Unlock()
}

func (r *rehand) close() {
	r.mu.Lock()
	loop := r.loop
	r.mu.Unlock()
	loop.close()
}

// handBack renews the queue files but those skip names and the delivered
// ones whose removal failed: those are never sent again.
func (o *Output) handBack(which string, skip func(spool.File) bool) {
	o.handover.Lock() // no flush meanwhile: none brings a file, none is copied under it
	defer o.handover.Unlock()
	n, err := o.queue.RenewExcept(func(f spool.File) bool { return skip(f) || o.isLeftover(o.fileKey(f)) })
	if err != nil {
		o.log.Errorf("queue %s: handing tail again the files %s: %v", logtext.Quote(o.queue.Root()), which, err)
	}
	if n > 0 {
		o.log.Infof("queue %s: %d file(s) %s handed to tail again", logtext.Quote(o.queue.Root()), n, which)
	}
}

// ticker calls f each period until f says it is done or close; a panic in
// f is logged and the next tick calls it again.
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
