package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"umc-invite/umc/config"
	"umc-invite/umc/invite"
	"umc-invite/umc/metrics"
)

// registry maps the context Fluent Bit hands back to each [OUTPUT]'s output,
// read by Fluent Bit's workers concurrently. A handle is never reused (a late
// flush for an exited instance finds nothing); default names count from 0
// again once all have exited, so that a hot reload gives each output its name
// again (log lines, the `output` label), as Fluent Bit numbers umc_invite.0.
type registry struct {
	mu         sync.RWMutex
	nextHandle int
	nextNumber int
	starting   int // inits under way
	byID       map[int]instance
	claims     *invite.Claims // the live outputs' directories: a second claimant is disabled
}

// instance is a started output, or one disabled by a failure of its own.
type instance struct {
	out      *invite.Output
	disabled *disabledOutput
}

var instances = &registry{byID: map[int]instance{}, claims: invite.NewClaims()}

// begin hands out a handle and a default name for an init; end it with end.
func (r *registry) begin() (handle int, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	handle, name = r.nextHandle, fmt.Sprintf("%s.%d", pluginName, r.nextNumber)
	r.nextHandle, r.nextNumber, r.starting = r.nextHandle+1, r.nextNumber+1, r.starting+1
	return handle, name
}

// end ends an init: with the instance it started, or with none when it
// failed (its number stays taken, as Fluent Bit's instance number does).
func (r *registry) end(handle int, in instance) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if in != (instance{}) {
		r.byID[handle] = in
	}
	r.starting--
}

func (r *registry) get(handle int) instance {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byID[handle]
}

// remove takes an instance out; once the last has exited, names are
// numbered from 0 again.
func (r *registry) remove(handle int) instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	in := r.byID[handle]
	delete(r.byID, handle)
	if len(r.byID) == 0 && r.starting == 0 {
		r.nextNumber = 0
	}
	return in
}

// disabledOutput is an [OUTPUT] whose start failed for a reason of its own
// (directories, CA file, metrics port): Fluent Bit and the other tenants run.
// Every flush is retried, so that Fluent Bit's counters and health show it and
// its files wait; the reason is logged at start, then at most once a minute.
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
		var err error
		if d.metrics, err = metrics.Attach(log.Name(), cfg.MetricsListen, nil); err != nil {
			d.log.Errorf("disabled, and not shown in metrics (Metrics_Listen: %v): this log is the only sign", err)
		}
		d.metrics.Disable() // umc_invite_output_disabled 1; nil: no metrics
	}
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
