package intake

import "sync"

// stuckFiles are queue files that were delivered but could not be removed
// (a sticky queue directory, a read-only remount): they are no one's to
// send any more and must not hold a place in the window for ever.
type stuckFiles struct {
	mu    sync.Mutex
	names map[string]bool
}

// Stuck tells the window that the queue file name was delivered but stays
// in the queue directory (on), or has left it (off): a stuck file takes no
// place in the window. It is cheap and never blocks.
func (w *Window) Stuck(name string, on bool) {
	w.stuck.mu.Lock()
	changed := w.stuck.names[name] != on
	if on {
		if w.stuck.names == nil {
			w.stuck.names = map[string]bool{}
		}
		w.stuck.names[name] = true
	} else {
		delete(w.stuck.names, name)
	}
	w.stuck.mu.Unlock()
	if changed && on {
		w.Left(1)
	}
}

func (w *Window) isStuck(name string) bool {
	w.stuck.mu.Lock()
	defer w.stuck.mu.Unlock()
	return w.stuck.names[name]
}
