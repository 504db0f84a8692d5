package invite

import (
	"time"

	"umc-invite/umc/logtext"
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
	o.applier.evictNotRegular()
	o.applier.warnUnwatched()
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
		o.log.Errorf("took over the queue %s: listing its files: %v", logtext.Quote(o.queue.Root()), err)
	}
	if len(files) > 0 || o.waited {
		o.log.Infof("took over the queue %s %s: %d queue file(s); those tail does not read are handed to it again", logtext.Quote(o.queue.Root()), from, len(files))
	}
	o.rehand.start(o, files, rehandQuiet)
}

func (o *Output) handQueueBack() {
	o.handover.Lock()
	defer o.handover.Unlock()
	n, err := o.queue.RenewExcept(func(f spool.File) bool { return o.isLeftover(o.fileKey(f)) })
	if err != nil {
		o.log.Errorf("the queue %s is back; handing its files to tail again: %v", logtext.Quote(o.queue.Root()), err)
	}
	o.log.Infof("the queue %s is back at its path: %d queue file(s) handed to tail again", logtext.Quote(o.queue.Root()), n)
}
