package invite

import (
	"fmt"

	"umc-invite/umc/logtext"
	"umc-invite/umc/metrics"
	"umc-invite/umc/spool"
)

func (o applier) evictNotRegular() {
	entries, err := o.queue.NotRegular()
	if err != nil {
		o.log.Warnf("queue %s: looking for entries that are no regular file: %v", logtext.Quote(o.queue.Root()), err)
	}
	for _, e := range entries {
		o.evict("", e)
	}
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
