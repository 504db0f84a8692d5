//go:build linux

// Package intake bounds how many queue files Fluent Bit's tail watches
// (about 25 KB each): producers write into an intake directory, and a
// Window admits the oldest intake files into the queue directory, keeping
// at most its size there. Files written straight into the queue directory
// count against the window. It needs Linux: renameat2 and inotify.
package intake

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"umc-invite/umc/dirhandle"
)

// MaxSize caps the window: beyond it the bound means nothing for a pod's
// memory (100,000 files are ~2.5 GB in tail).
const MaxSize = 100000

// Suffix is what tail's Path matches; only such files are moved or counted.
const Suffix = ".send"

// ErrClosed is returned by TopUp and Count after Close.
var ErrClosed = errors.New("intake window closed")

// Window admits intake files into the queue directory; its methods are
// safe for concurrent use.
type Window struct {
	adm  admitter
	size int

	// Tunables; tests shorten them.
	resync     time.Duration // background recount and relist, with inotify
	poll       time.Duration // background check without inotify
	settle     time.Duration // a directory mtime younger than this may hide a change
	backlogCap int           // intake names kept in memory, oldest first
	noWatch    bool          // poll instead of inotify

	// queued is the queue files as last counted, plus admissions, minus
	// Left; read without mu, so that a full window costs one atomic load.
	queued atomic.Int64

	mu              sync.Mutex // one mover at a time; guards what follows
	closed, started bool
	backlog         []entry // intake files, oldest first; backlog[next:] still to try
	next            int
	listedMod       int64     // the intake's mtime (ns) when last listed
	stale           bool      // the last listing may have missed files
	retryAt         time.Time // names left behind (collisions, errors) are tried again then
	skipped         error     // the last listing's first file that stays in the intake
	countedMod      [2]int64  // the queue's and the stage's mtime at the last recount
	countedSure     bool      // both were old enough that a change must alter them

	stuckMu sync.Mutex
	stuck   map[string]bool // delivered files whose removal failed: no place in the window

	kick, stop, done chan struct{}
}

// Open checks both directories and counts the queue; a missing intake is
// created with the queue's permissions (its producers must write both).
// Open moves nothing and starts nothing: another process may hold the
// queue, mid-admission. Start, once this process holds it, does.
func Open(queueDir, intakeDir string, size int) (w *Window, err error) {
	if size < 1 || size > MaxSize {
		return nil, fmt.Errorf("queue window %d: must be between 1 and %d", size, MaxSize)
	}
	var a admitter
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if a.q, err = dirhandle.Open(queueDir); err != nil {
		return nil, fmt.Errorf("queue directory: %w", err)
	}
	mode, err := a.q.Mode()
	if err != nil {
		return nil, fmt.Errorf("queue directory: %w", err)
	}
	// A child of the queue directory (the default incoming/) is refused when
	// a symlink: whoever writes the queue could point it at another tenant's.
	if a.in, err = dirhandle.OpenIn(a.q, intakeDir, true, mode); err != nil {
		return nil, fmt.Errorf("intake directory: %w", err)
	}
	if a.in.Same(a.q) {
		return nil, fmt.Errorf("intake directory %s is the queue directory", a.in.Path)
	}
	if a.linkMode, err = probe(a.q, a.in); err != nil {
		return nil, err
	}
	if a.stage, err = dirhandle.OpenIn(a.q, filepath.Join(a.q.Path, StageDir), true, mode&^(fs.ModeSetgid|fs.ModeSticky)|0o700); err != nil {
		return nil, fmt.Errorf("queue directory: %s: %w", StageDir, err)
	}
	if a.in.Same(a.stage) {
		return nil, fmt.Errorf("intake directory %s is the queue's %s, the plugin's own", a.in.Path, StageDir)
	}
	w = &Window{
		adm: a, size: size,
		resync: time.Second, poll: 100 * time.Millisecond, settle: 50 * time.Millisecond,
		backlogCap: max(4*size, 1024), stale: true,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	n, err := w.countQueue(countOnly)
	if err != nil {
		return nil, err
	}
	w.queued.Store(int64(n))
	return w, nil
}

// IntakeDir is the intake directory, its symlinks resolved at Open.
func (w *Window) IntakeDir() string { return w.adm.in.Path }

// IntakeHandle is the intake as held, to compare by identity; do not close it.
func (w *Window) IntakeHandle() *dirhandle.Dir { return w.adm.in }

// LinkMode tells whether moves are link-then-unlink, the file system
// lacking renameat2's RENAME_NOREPLACE (some NFS servers).
func (w *Window) LinkMode() bool { return w.adm.linkMode }

// Left tells the window that n queue files left the queue directory. It
// never blocks: it adjusts the count and wakes the background loop.
func (w *Window) Left(n int) {
	if n <= 0 {
		return
	}
	for old := w.queued.Load(); !w.queued.CompareAndSwap(old, max(old-int64(n), 0)); old = w.queued.Load() {
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Stuck tells the window that a queue file was delivered but stays in the
// queue directory (on), or has left it (off): it holds no place.
func (w *Window) Stuck(name string, on bool) {
	w.stuckMu.Lock()
	changed := w.stuck[name] != on
	if on {
		if w.stuck == nil {
			w.stuck = map[string]bool{}
		}
		w.stuck[name] = true
	} else {
		delete(w.stuck, name)
	}
	w.stuckMu.Unlock()
	if changed && on {
		w.Left(1)
	}
}

// TopUp moves the oldest intake files into the queue directory until it
// holds size files, and returns how many it moved. It lists the intake
// only when the names in memory are used up and the intake changed (or a
// listing was cut short, or names left behind are due again). A name
// already queued is never replaced: that intake file waits.
func (w *Window) TopUp() (moved int, err error) {
	if w.queued.Load() >= int64(w.size) {
		return 0, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, ErrClosed
	}
	var refused error // the first file that stays in the intake, to be told
	for listed := false; w.queued.Load() < int64(w.size); {
		if w.next >= len(w.backlog) {
			if listed {
				break // once per call: names left behind wait for retryAt
			}
			changed, err := w.intakeChanged()
			if err != nil {
				return moved, err
			}
			if !changed {
				break
			}
			if err := w.list(); err != nil {
				return moved, err
			}
			listed, refused = true, cmp.Or(refused, w.skipped)
			continue
		}
		e := w.backlog[w.next]
		w.next++
		switch err := w.adm.move(e.name); {
		case err == nil:
			moved++
			w.queued.Add(1)
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, errNotRegular):
			// Gone from the intake, or no plain file: nothing to admit.
		case errors.Is(err, errNotAdmitted):
			refused = cmp.Or(refused, fmt.Errorf("intake file %q: %w", e.name, err))
		default:
			w.retryAt = cmp.Or(w.retryAt, time.Now().Add(w.resync))
			if !errors.Is(err, fs.ErrExist) && !errors.Is(err, errNotYet) {
				return moved, fmt.Errorf("move %s into the queue: %w", e.name, err)
			}
		}
	}
	if w.next >= len(w.backlog) {
		w.backlog, w.next = nil, 0 // free a drained listing
	}
	return moved, refused
}

// Count returns the files waiting in the queue and in the intake, read
// from disk (a file that stays in the intake for good is not counted),
// and corrects the window's count.
func (w *Window) Count() (queue, intake int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, 0, ErrClosed
	}
	if queue, err = w.countQueue(recoverStaged); err != nil {
		return 0, 0, err
	}
	w.queued.Store(int64(queue))
	err = w.adm.in.Each(func(name string, t fs.FileMode) {
		if st, ok := pending(w.adm.in, name, t); ok && admissible(st) == nil {
			intake++
		}
	})
	if err != nil {
		return queue, 0, fmt.Errorf("count intake directory: %w", err)
	}
	return queue, intake, nil
}

// recount corrects the count from disk (files written straight into the
// queue, removals nobody reported), unless neither directory changed.
func (w *Window) recount() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	var mod [2]int64
	var err error
	for i, d := range []*dirhandle.Dir{w.adm.q, w.adm.stage} {
		if mod[i], err = d.ModTime(); err != nil {
			return fmt.Errorf("%s: %w", d.Path, err)
		}
	}
	if mod == w.countedMod && w.countedSure {
		return nil
	}
	start := time.Now()
	n, err := w.countQueue(recoverStaged)
	if err != nil {
		return err
	}
	w.queued.Store(int64(n))
	w.countedMod = mod
	w.countedSure = start.Sub(time.Unix(0, max(mod[0], mod[1]))) >= w.settle
	return nil
}

// repair says how much a count may finish of what a crash left half done:
// nothing before Start (another process may hold the queue), staged
// admissions once started, and at Start also link moves cut short.
type repair int

const (
	countOnly repair = iota
	recoverStaged
	repairAll
)

// countQueue counts the files tail reads in the queue directory, however
// they got there, and finishes what a crash left half done as r allows.
func (w *Window) countQueue(r repair) (int, error) {
	if r != countOnly && !w.started {
		r = countOnly
	}
	n := 0
	var legacy []string
	err := w.adm.q.Each(func(name string, t fs.FileMode) {
		if _, ok := legacyStaged(name); ok {
			legacy = append(legacy, name)
		} else if watched(name) && tailReads(w.adm.q, name, t) && !w.isStuck(name) {
			n++
			if r == repairAll {
				w.adm.finishLink(name)
			}
		}
	})
	if err != nil {
		return 0, fmt.Errorf("count queue directory: %w", err)
	}
	if r == countOnly {
		return n, nil
	}
	staged, err := w.adm.recoverAll(legacy)
	return n + staged, err
}

func (w *Window) isStuck(name string) bool {
	w.stuckMu.Lock()
	defer w.stuckMu.Unlock()
	return w.stuck[name]
}
