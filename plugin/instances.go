package main

import (
	"sync"

	"umc-invite/umc/invite"
)

// registry maps the context Fluent Bit hands back to each [OUTPUT]
// section's Output; Fluent Bit's workers read it concurrently.
type registry struct {
	mu       sync.RWMutex
	nextFree int // Fluent Bit numbers its instances from 0 too
	byID     map[int]*invite.Output
}

var instances = &registry{byID: map[int]*invite.Output{}}

func (r *registry) nextID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := r.nextFree
	r.nextFree++
	return id
}

func (r *registry) add(id int, o *invite.Output) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byID[id] = o
}

func (r *registry) get(id int) *invite.Output {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byID[id]
}

func (r *registry) remove(id int) *invite.Output {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.byID[id]
	delete(r.byID, id)
	return o
}
