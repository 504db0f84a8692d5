package invite

import (
	"errors"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"umc-invite/umc/logtext"
	"umc-invite/umc/spool"
)

const leftoverRetry = 10 * time.Second

// leftovers are delivered files whose removal failed, journaled for a restart: never sent again, out of the window.
type leftovers struct {
	mu    sync.Mutex
	files map[string]leftover // by ledger key (device, inode, birth time)
	dirty atomic.Bool         // the journal holds lines of files gone
	tried time.Time
}

type leftover struct {
	file spool.File
	line spool.Leftover
}

func (o *parts) isLeftover(key string) bool {
	o.leftovers.mu.Lock()
	defer o.leftovers.mu.Unlock()
	_, ok := o.leftovers.files[key]
	return ok
}

// remember keeps a leftover out of the window and counts it; true if new.
func (o *parts) remember(key string, l leftover) bool {
	o.leftovers.mu.Lock()
	defer o.leftovers.mu.Unlock()
	_, known := o.leftovers.files[key]
	o.leftovers.files[key] = l
	if !known && o.window != nil {
		o.window.Stuck(filepath.Base(l.file.Path), true)
	}
	if !known {
		o.metrics.RemoveFailed()
	}
	return !known
}

func (o applier) stuck(key, username string, f spool.File, err error) {
	line := spool.Leftover{Time: o.now().UTC(), Key: key, Name: filepath.Base(f.Path), Username: username}
	if now, err := o.queue.Look(f); err == nil { // as it is now: touched during its call, it is still this file
		line.Modified = now.Modified
	}
	if !o.remember(key, leftover{file: f, line: line}) {
		return
	}
	o.log.Errorf("delivered queue file left in place (%v): it is not sent again, its removal is tried again every %s, and it holds no place in the window; "+
		"the queue directory must let Fluent Bit's user remove files (no sticky bit for files of another user, not read-only)", err, leftoverRetry)
	if jerr := o.dead.AppendLeftover(line); jerr != nil { // a queue has a dead-letter directory
		o.log.Errorf("delivered queue file %s could not be recorded in %s (%v): if Fluent Bit restarts before the file is removed, %q may be invited again",
			logtext.Quote(f.Path), spool.LeftoverLog, jerr, username)
	}
}

// loadLeftovers reads the journal; lines of files gone drop at the next retry.
func (o *Output) loadLeftovers() {
	if o.queue == nil {
		return
	}
	lines, err := o.dead.Leftovers()
	if err != nil {
		o.log.Errorf("delivered queue files whose removal failed before: %v; such a file still in the queue may be invited again", err)
		return
	}
	for _, l := range lines {
		f, err := o.queue.Stat(filepath.Join(o.queue.Root(), l.Name))
		if err == nil && l.Modified != 0 && f.Modified != l.Modified {
			err = fs.ErrNotExist
		}
		if err != nil || o.fileKey(f) != l.Key {
			o.leftovers.dirty.Store(true) // gone, or a new file under its name
			continue
		}
		if o.remember(l.Key, leftover{file: f, line: l}) {
			o.log.Errorf("delivered queue file %s was left in place before this start (%s): it is not sent again, its removal is tried again every %s, and it holds no place in the window",
				logtext.Quote(f.Path), spool.LeftoverLog, leftoverRetry)
		}
	}
}

func (o *Output) retryLeftovers(now time.Time) {
	l := &o.leftovers
	l.mu.Lock()
	defer l.mu.Unlock()
	if (len(l.files) == 0 && !l.dirty.Load()) || now.Sub(l.tried) < leftoverRetry {
		return
	}
	l.tried = now
	gone := 0
	for key, lo := range l.files {
		err := o.queue.Remove(lo.file)
		current, cerr := o.queue.Current(lo.file)
		if err != nil && (cerr != nil || current) && !errors.Is(err, fs.ErrNotExist) {
			continue // still there: next time
		}
		gone++
		delete(l.files, key)
		o.ledger.Forget(key)
		if o.window != nil {
			o.window.Stuck(filepath.Base(lo.file.Path), false)
		}
		o.log.Infof("delivered queue file %s removed at last", logtext.Quote(lo.file.Path))
	}
	if gone == 0 && !l.dirty.Load() {
		return
	}
	keep := make([]spool.Leftover, 0, len(l.files))
	for _, lo := range l.files {
		keep = append(keep, lo.line)
	}
	if err := o.dead.KeepLeftovers(keep); err != nil {
		o.log.Warnf("%s: %v", spool.LeftoverLog, err)
		return
	}
	l.dirty.Store(false)
}
