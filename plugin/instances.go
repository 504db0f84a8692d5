package main

import (
	"fmt"
	"sync"

	"umc-invite/umc/invite"
)

// registry maps the context Fluent Bit hands back to each [OUTPUT]
// section's output; Fluent Bit's workers read it concurrently. A handle
// is never reused (a late flush for an exited instance finds nothing); the
// number of a default name counts from 0 again once all have exited, so
// that a hot reload, which starts them again in config order, gives each
// output its name again (log lines, the metrics' `output` label), as Fluent
// Bit numbers its own instances (umc_invite.0).
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
