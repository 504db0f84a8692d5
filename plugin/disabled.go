package main

import (
	"sync/atomic"
	"time"

	"umc-invite/umc/invite"
)

// disabledOutput is an [OUTPUT] whose start failed for a reason of its own
// (its directories, its CA file, its metrics port): in the DaemonSet one
// tenant's bad directory must disable that tenant's output only, never
// Fluent Bit and every other tenant with it. It answers every flush with a
// retry, so that tail's records (and the files, which stay in the queue)
// wait for a restart with the directory fixed, and Fluent Bit's retry
// counters and health show that the output does not deliver. The reason
// is logged at start and again at most once a minute.
type disabledOutput struct {
	log    *invite.Logger
	reason error
	logged atomic.Int64 // Unix nanoseconds of the last log line
}

func newDisabledOutput(log *invite.Logger, reason error, now time.Time) *disabledOutput {
	d := &disabledOutput{log: log, reason: reason}
	d.logged.Store(now.UnixNano())
	d.log.Errorf("disabled: %v; this output sends nothing and its records wait until its directories are fixed and Fluent Bit restarts; the other outputs run", reason)
	return d
}

// flush says once a minute why nothing is sent, and asks Fluent Bit to retry.
func (d *disabledOutput) flush(now time.Time) invite.Verdict {
	last := d.logged.Load()
	if now.Sub(time.Unix(0, last)) >= time.Minute && d.logged.CompareAndSwap(last, now.UnixNano()) {
		d.log.Errorf("disabled since start: %v; records wait", d.reason)
	}
	return invite.Retry
}
