package invite

import (
	"errors"
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	"umc-invite/umc/queue"
)

// leftoverRetry is how often the removal of delivered files that could
// not be removed is tried again.
const leftoverRetry = 10 * time.Second

// leftovers are delivered queue files whose removal failed (a sticky queue
// directory, a read-only remount). Each is tried again every leftoverRetry
// from the flushes, counted once in the metrics, logged once, and takes no
// place in the intake's window meanwhile. Its ledger entry stays
// "delivered" under the file's identity (inode and birth time), so a
// record of it is not sent again and a new file on its inode is new.
type leftovers struct {
	mu    sync.Mutex
	files map[string]queue.File // by ledger key
	tried time.Time
}

// stuck records a delivered file that could not be removed.
func (o *Output) stuck(key string, f queue.File, err error) {
	o.leftovers.mu.Lock()
	if o.leftovers.files == nil {
		o.leftovers.files = map[string]queue.File{}
	}
	_, known := o.leftovers.files[key]
	o.leftovers.files[key] = f
	o.leftovers.mu.Unlock()
	if known {
		return
	}
	o.metrics.RemoveFailed()
	o.log.Errorf("delivered queue file left in place (%v): it is not sent again, its removal is tried again every %s, and it holds no place in the window; "+
		"the queue directory must let Fluent Bit's user remove files (no sticky bit for files of another user, not read-only)", err, leftoverRetry)
	if o.window != nil {
		o.window.Stuck(filepath.Base(f.Path), true)
	}
}

// retryLeftovers tries to remove the leftovers again, at most every
// leftoverRetry.
func (o *Output) retryLeftovers(now time.Time) {
	o.leftovers.mu.Lock()
	if len(o.leftovers.files) == 0 || now.Sub(o.leftovers.tried) < leftoverRetry {
		o.leftovers.mu.Unlock()
		return
	}
	o.leftovers.tried = now
	files := make(map[string]queue.File, len(o.leftovers.files))
	for k, f := range o.leftovers.files {
		files[k] = f
	}
	o.leftovers.mu.Unlock()
	for key, f := range files {
		err := o.queue.Remove(f)
		current, cerr := o.queue.Current(f)
		if err != nil && (cerr != nil || current) && !errors.Is(err, fs.ErrNotExist) {
			continue // still there: next time
		}
		o.leftovers.mu.Lock()
		delete(o.leftovers.files, key)
		o.leftovers.mu.Unlock()
		o.ledger.Forget(key)
		if o.window != nil {
			o.window.Stuck(filepath.Base(f.Path), false)
		}
		o.log.Infof("delivered queue file %s removed at last", f.Path)
	}
}
