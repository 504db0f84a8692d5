package main

import (
	"sync/atomic"
	"time"

	"umc-invite/umc/config"
	"umc-invite/umc/invite"
	"umc-invite/umc/metrics"
)

// disabledOutput is an [OUTPUT] whose start failed for a reason of its own
// (its directories, CA file, metrics port), which must not stop Fluent Bit
// and the other tenants. Every flush is retried, so that Fluent Bit's
// counters and health show it, and its files wait for a start with the
// fault fixed; the reason is logged at start, then at most once a minute,
// and shown as umc_invite_output_disabled 1.
type disabledOutput struct {
	log     *invite.Logger
	reason  error
	metrics *metrics.Output // nil without an endpoint
	logged  atomic.Int64    // Unix nanoseconds of the last log line
}

func newDisabledOutput(log *invite.Logger, cfg *config.Config, reason error, now time.Time) *disabledOutput {
	d := &disabledOutput{log: log, reason: reason}
	d.logged.Store(now.UnixNano())
	d.log.Errorf("disabled: %v; this output sends nothing and its records wait until its directories are fixed and Fluent Bit restarts; the other outputs run", reason)
	if cfg.MetricsListen != "" {
		m, err := metrics.Attach(log.Name(), cfg.MetricsListen, nil)
		if err != nil {
			d.log.Errorf("disabled, and not shown in metrics (Metrics_Listen: %v): this log is the only sign", err)
			return d
		}
		m.Disable()
		d.metrics = m
	}
	return d
}

// close takes the output off its metrics endpoint, as an exit does.
func (d *disabledOutput) close() { d.metrics.Detach() }

// flush says once a minute why nothing is sent, and asks Fluent Bit to retry.
func (d *disabledOutput) flush(now time.Time) invite.Verdict {
	last := d.logged.Load()
	if now.Sub(time.Unix(0, last)) >= time.Minute && d.logged.CompareAndSwap(last, now.UnixNano()) {
		d.log.Errorf("disabled since start: %v; records wait", d.reason)
	}
	return invite.Retry
}
