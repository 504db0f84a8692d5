package main

import (
	"fmt"
	"sync"

	"umc-invite/umc/invite"
)

// registry maps the context Fluent Bit hands back to each [OUTPUT]
// section's output; Fluent Bit's workers read it concurrently.
//
// Two numbers per instance: a handle, the context, never reused in the
// process (a late flush for an exited instance finds nothing instead of
// another instance); and a number for its default name, counted from 0
// in each generation of outputs. Fluent Bit's hot reload exits every
// instance and starts them again in the same process, in config order:
// counting again from 0 once all have exited gives each output the name
// it had before the reload (its log lines, its metrics' `output` label),
// as Fluent Bit numbers its own instances (umc_invite.0).
type registry struct {
	mu         sync.RWMutex
	nextHandle int
	nextNumber int
	starting   int // inits under way
	byID       map[int]instance
	// claims are the directories the live outputs hold: an output whose
	// directory another one holds is disabled, the other runs on.
	claims *invite.Claims
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
	r.nextHandle++
	r.nextNumber++
	r.starting++
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
