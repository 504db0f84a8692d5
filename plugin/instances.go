package main

import (
	"fmt"
	"sync"

	"umc-invite/umc/invite"
)

// registry maps the context Fluent Bit hands back to each [OUTPUT]
// section's Output; Fluent Bit's workers read it concurrently.
//
// Two numbers per instance: a handle, the context, never reused in the
// process (a late flush for an exited instance finds nothing instead of
// another instance); and a number for its default name, counted from 0
// in each generation of outputs. Fluent Bit's hot reload exits every
// instance and starts them again in the same process, in config order:
// counting again from 0 once all have exited gives each output the name
// it had before the reload, which its log lines and the `output` label of
// its metrics keep. Fluent Bit numbers its own instances per config the
// same way (umc_invite.0 in fluentbit_output_* metrics).
type registry struct {
	mu         sync.RWMutex
	nextHandle int
	nextNumber int
	starting   int // inits under way
	byID       map[int]*invite.Output
	disabled   map[int]*disabledOutput
	// claims are the directories the live outputs hold: an output whose
	// directory another one holds is disabled, the other runs on.
	claims *invite.Claims
}

var instances = &registry{byID: map[int]*invite.Output{}, disabled: map[int]*disabledOutput{}, claims: invite.NewClaims()}

// begin hands out a handle and a default name for an init; end it with
// add or abandon.
func (r *registry) begin() (handle int, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	handle, name = r.nextHandle, fmt.Sprintf("%s.%d", pluginName, r.nextNumber)
	r.nextHandle++
	r.nextNumber++
	r.starting++
	return handle, name
}

func (r *registry) add(handle int, o *invite.Output) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byID[handle] = o
	r.starting--
}

// addDisabled ends an init whose output could not start: it keeps its
// handle and name, and answers flushes as disabled.
func (r *registry) addDisabled(handle int, d *disabledOutput) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.disabled[handle] = d
	r.starting--
}

func (r *registry) getDisabled(handle int) *disabledOutput {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.disabled[handle]
}

// abandon ends a failed init. Its number stays taken, as Fluent Bit's
// instance number does: the next output of the config is the next number.
func (r *registry) abandon() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starting--
}

func (r *registry) get(handle int) *invite.Output {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byID[handle]
}

func (r *registry) remove(handle int) *invite.Output {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.byID[handle]
	delete(r.byID, handle)
	delete(r.disabled, handle)
	r.newGenerationIfIdle()
	return o
}

// newGenerationIfIdle numbers from 0 again once the last instance has
// exited. Called with mu held.
func (r *registry) newGenerationIfIdle() {
	if len(r.byID) == 0 && len(r.disabled) == 0 && r.starting == 0 {
		r.nextNumber = 0
	}
}
