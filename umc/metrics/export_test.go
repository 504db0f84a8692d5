package metrics

import "time"

// setGrace shortens the grace period for a test.
func setGrace(d time.Duration) (restore func()) {
	state.mu.Lock()
	defer state.mu.Unlock()
	old := grace
	grace = d
	return func() {
		state.mu.Lock()
		defer state.mu.Unlock()
		grace = old
	}
}

// listening reports whether the process holds a listener for addr.
func listening(addr string) bool {
	state.mu.Lock()
	defer state.mu.Unlock()
	return state.listeners[addr] != nil
}
