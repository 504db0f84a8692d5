package invite

import (
	"time"

	"umc-invite/umc/logtext"
	"umc-invite/umc/qlock"
	"umc-invite/umc/queue"
)

// lockPoll is how often an output whose queue another process holds looks
// whether it is free.
const lockPoll = 250 * time.Millisecond

// lockQueue makes this output the queue directory's one sender across
// processes (a second Fluent Bit on the same queue: a rollout's surge, an
// operator's second instance). When another process holds the queue, the
// output sends nothing, says so once, and takes over when it is gone.
func (o *Output) lockQueue() error {
	var err error
	o.lock, err = qlock.Take(o.queue.Handle(), lockPoll, func() {
		o.waited = true
		o.log.Warnf("another process holds the queue lock on %s (a second Fluent Bit on this queue): this output sends nothing and admits nothing until it is gone, then takes over",
			logtext.Quote(o.queue.Root()))
	}, o.takeOver)
	return err
}

// takeOver runs once this output holds the queue: it removes the entries
// that are no regular file, starts the intake and hands tail the queue
// files again (each replaced by a copy of itself, which tail reads from
// its head as a new file). The queue directory, not Fluent Bit's buffer,
// is what says who waits: tail's database remembers a file as read once
// its line is in a chunk, and a chunk can end without its user leaving
// the queue (Fluent Bit gave it up while this output was disabled, its
// carry-over failed, a restart lost it from memory, another process held
// the queue). Delivered files whose removal failed (the journal) are not
// handed again; a record of a file that is also in a chunk still is one
// user (the ledger keys the file, not the record).
func (o *Output) takeOver() {
	// No flush runs meanwhile: a call in flight for a file being replaced
	// by its copy would leave the copy queued and send it again.
	o.handover.Lock()
	defer o.handover.Unlock()
	defer o.active.Store(true)
	o.applier.evictNotRegular()
	o.applier.warnUnwatched()
	if o.window != nil {
		o.window.Start(func(err error) { o.log.Warnf("intake: %v", err) })
	}
	from := "at start"
	if o.waited {
		from = "from the process that held it"
		// The journal as the process that held the queue left it.
		o.journal.loadLeftovers()
	}
	n, err := o.renewQueue()
	if err != nil {
		o.log.Errorf("took over the queue %s; handing its files to tail again: %v", logtext.Quote(o.queue.Root()), err)
	}
	if n > 0 || o.waited {
		o.log.Infof("took over the queue %s %s: %d queue file(s) handed to tail again", logtext.Quote(o.queue.Root()), from, n)
	}
}

// handQueueBack hands tail the queue's files again once the queue is back
// at its path: records tail read meanwhile were answered "retry" and may
// have been given up by Fluent Bit, their files still queued. As at a
// takeover, no flush runs meanwhile, and delivered files whose removal
// failed are not handed again.
func (o *Output) handQueueBack() {
	o.handover.Lock()
	defer o.handover.Unlock()
	n, err := o.renewQueue()
	if err != nil {
		o.log.Errorf("the queue %s is back; handing its files to tail again: %v", logtext.Quote(o.queue.Root()), err)
	}
	o.log.Infof("the queue %s is back at its path: %d queue file(s) handed to tail again", logtext.Quote(o.queue.Root()), n)
}

// renewQueue hands tail every queued file again as a new file, but for
// delivered files whose removal failed (the journal): those are never
// sent again.
func (o *Output) renewQueue() (int, error) {
	return o.queue.RenewExcept(func(f queue.File) bool { return o.journal.isLeftover(o.fileKey(f)) })
}
