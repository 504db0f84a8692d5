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

// standby reports whether another process holds the queue: a flush then
// leaves every record to the queue's holder (its files stay in the queue;
// takeOver hands them to tail again).
func (o *Output) standby() bool { return !o.active.Load() }

// takeOver runs once this output holds the queue: it removes the entries
// that are no regular file, starts the intake and, after a wait, hands
// tail the queue files again (each replaced by a copy of itself, which
// tail reads from its head as a new file): their records were left to the
// holder while this output waited. At start with the lock free at once,
// tail reads them anyway.
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
	if !o.waited {
		return
	}
	// The journal as the process that held the queue left it: its
	// delivered files whose removal failed are not handed to tail again.
	o.journal.loadLeftovers()
	n, err := o.queue.RenewExcept(func(f queue.File) bool { return o.journal.isLeftover(o.fileKey(f)) })
	if err != nil {
		o.log.Errorf("took over the queue %s; handing its files to tail again: %v", logtext.Quote(o.queue.Root()), err)
	}
	o.log.Infof("took over the queue %s from the process that held it: %d queue file(s) handed to tail again", logtext.Quote(o.queue.Root()), n)
}
