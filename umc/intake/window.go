// Package intake bounds how many queue files tail watches (~25 KB each): a
// Window admits the oldest intake files while the queue holds fewer than its size.
package intake

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
	"umc-invite/umc/spool"
)

// Window admits intake files into the queue; safe for concurrent use.
type Window struct {
	adm        admitter
	size       int
	resync     time.Duration // recount (and retry) period; tests shorten it
	backlogCap int           // intake names kept in memory
	noWatch    bool

	queued atomic.Int64 // last count + admissions - Left: a full window costs one load
	stuck  sync.Map     // delivered files whose removal failed hold no place

	mu              sync.Mutex // one mover at a time; guards what follows
	closed, started bool
	backlog         []entry // oldest first; backlog[next:] still to try
	next            int
	listedMod       int64     // the intake's mtime when last listed
	stale           bool      // the last listing may have missed files
	retryAt         time.Time // when names left behind are tried again
	countedMod      [2]int64  // the queue's and the stage's mtime when counted
	countedSure     bool      // both so old that a change must alter them

	kick, stop, done chan struct{}
}

// Open checks both directories (a missing intake gets the queue's mode) and counts; moving waits for Start (the lock).
func Open(queueDir, intakeDir string, size int) (w *Window, err error) {
	var a admitter
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if a.q, err = spool.OpenDir(queueDir); err != nil {
		return nil, fmt.Errorf("queue directory: %w", err)
	}
	mode, err := a.q.Mode()
	if err != nil {
		return nil, fmt.Errorf("queue directory: %w", err)
	}
	// incoming/ as a symlink could point at another tenant's queue.
	if a.in, err = spool.OpenDirIn(a.q, intakeDir, true, mode); err != nil {
		return nil, fmt.Errorf("intake directory: %w", err)
	}
	if a.stage, err = spool.OpenDirIn(a.q, filepath.Join(a.q.Path, StageDir), true, mode&^(unix.S_ISGID|unix.S_ISVTX)|0o700); err != nil {
		return nil, fmt.Errorf("queue directory: %s: %w", StageDir, err)
	}
	if a.in.ID() == a.q.ID() || a.in.ID() == a.stage.ID() {
		return nil, fmt.Errorf("intake directory %s is the queue directory or its %s, the plugin's own", a.in.Path, StageDir)
	}
	if a.linkMode, err = probe(a.q, a.in); err != nil {
		return nil, err
	}
	w = &Window{
		adm: a, size: size,
		resync: time.Second, backlogCap: max(4*size, 1024), stale: true,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if _, err := w.countQueue(false); err != nil {
		return nil, err
	}
	return w, nil
}

// IntakeHandle is the intake as held, to compare by identity; do not close it.
func (w *Window) IntakeHandle() *spool.Dir { return w.adm.in }

// LinkMode tells whether moves are link-then-unlink (no RENAME_NOREPLACE).
func (w *Window) LinkMode() bool { return w.adm.linkMode }

// Left tells the window that n queue files left the queue; it never blocks.
func (w *Window) Left(n int) {
	for old := w.queued.Load(); !w.queued.CompareAndSwap(old, max(old-int64(max(n, 0)), 0)); old = w.queued.Load() {
	}
	wake(w.kick)
}

func wake(kick chan struct{}) {
	select {
	case kick <- struct{}{}:
	default:
	}
}

// Stuck tells that a delivered queue file stays (on) or has left (off): it holds no place.
func (w *Window) Stuck(name string, on bool) {
	if !on {
		w.stuck.Delete(name)
	} else if _, was := w.stuck.LoadOrStore(name, true); !was {
		w.Left(1)
	}
}

// TopUp admits the oldest intake files until size are queued; a name queued already waits.
func (w *Window) TopUp() (moved int, err error) {
	if w.queued.Load() >= int64(w.size) {
		return 0, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, nil
	}
	var refused error // the first file that stays in the intake, to be told
	for listed := false; w.queued.Load() < int64(w.size); {
		if w.next >= len(w.backlog) {
			if listed {
				break // once per call: names left behind wait for retryAt
			}
			var skipped error
			if listed, skipped, err = w.list(); err != nil {
				return moved, err
			}
			if refused = cmp.Or(refused, skipped); !listed {
				break
			}
			continue
		}
		e := w.backlog[w.next]
		w.next++
		switch err := w.adm.move(e.name); {
		case err == nil:
			moved++
			w.queued.Add(1)
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, errNotRegular): // nothing to admit
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

// Count returns the files waiting in the queue and the intake, from disk, correcting the count.
func (w *Window) Count() (queue, intake int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, 0, errors.New("intake window closed")
	}
	if queue, err = w.countQueue(false); err != nil {
		return 0, 0, err
	}
	err = w.adm.in.Each(func(name string, t fs.FileMode) {
		if st, ok := pending(w.adm.in, name, t); ok && admissible(st.Size) == nil {
			intake++
		}
	})
	if err != nil {
		return queue, 0, fmt.Errorf("count intake directory: %w", err)
	}
	return queue, intake, nil
}

// recount corrects the count from disk (direct writes, untold removals) unless nothing changed.
func (w *Window) recount() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	qSt, err := w.adm.q.Lstat(".")
	stageSt, serr := w.adm.stage.Lstat(".")
	if err = cmp.Or(err, serr); err != nil {
		return fmt.Errorf("queue directory: %w", err)
	}
	mod := [2]int64{qSt.Mtim.Nano(), stageSt.Mtim.Nano()}
	if mod == w.countedMod && w.countedSure {
		return nil
	}
	start := time.Now()
	if _, err := w.countQueue(false); err != nil {
		return err
	}
	w.countedMod, w.countedSure = mod, start.Sub(time.Unix(0, max(mod[0], mod[1]))) >= mtimeSlack
	return nil
}

// countQueue counts the files tail reads; once started, it finishes admissions a crash cut short (links: at Start).
func (w *Window) countQueue(links bool) (int, error) {
	n := 0
	err := w.adm.q.Each(func(name string, t fs.FileMode) {
		if _, stuck := w.stuck.Load(name); !stuck && watched(name) && tailReads(w.adm.q, name, t) {
			n++
			if links {
				w.adm.finishLink(name)
			}
		}
	})
	if err != nil {
		return 0, fmt.Errorf("count queue directory: %w", err)
	}
	if w.started {
		staged, err := w.adm.recoverAll()
		if err != nil {
			return 0, err
		}
		n += staged
	}
	w.queued.Store(int64(n))
	return n, nil
}

// entry is an intake file; the oldest (mtime in ns, then name) is admitted first.
type entry struct {
	mod  int64
	name string
}

// watched: tail's Path *.send less Exclude_Path *[[:cntrl:]]*; such a name holds a place.
func watched(name string) bool {
	return spool.IsQueueName(name) && !strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// candidate: an admissible name; tail logs names as they are (a newline would forge a line).
func candidate(name string) bool {
	return watched(name) && utf8.ValidString(name) &&
		!strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || r == 0x2028 || r == 0x2029 })
}

// tailReads: a regular file, or a symlink to one (looked at, never opened).
func tailReads(q *spool.Dir, name string, t fs.FileMode) bool {
	var st unix.Stat_t
	return t.IsRegular() || t&fs.ModeSymlink != 0 &&
		unix.Fstatat(q.FD(), name, &st, 0) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// pending describes an intake entry that may be a user on the way in.
func pending(in *spool.Dir, name string, t fs.FileMode) (unix.Stat_t, bool) {
	if !candidate(name) || !t.IsRegular() {
		return unix.Stat_t{}, false
	}
	st, err := in.Lstat(name)
	return st, err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// list reads the intake if it may hold something new, keeping the backlogCap oldest.
func (w *Window) list() (listed bool, skipped, err error) {
	st, err := w.adm.in.Lstat(".")
	mod := st.Mtim.Nano()
	if err != nil {
		return false, nil, fmt.Errorf("intake directory: %w", err)
	}
	if due := !w.retryAt.IsZero() && !time.Now().Before(w.retryAt); !w.stale && !due && mod == w.listedMod {
		return false, nil, nil
	}
	start := time.Now()
	var kept []entry
	dropped := false
	keep := func() {
		slices.SortFunc(kept, func(a, b entry) int { return cmp.Or(cmp.Compare(a.mod, b.mod), strings.Compare(a.name, b.name)) })
		if len(kept) > w.backlogCap {
			kept, dropped = kept[:w.backlogCap], true
		}
	}
	err = w.adm.in.Each(func(name string, t fs.FileMode) {
		st, ok := pending(w.adm.in, name, t)
		if !ok || st.Nlink > 1 && w.adm.finishLink(name) { // a link move a crash cut short: queued already
			return
		}
		if err := admissible(st.Size); err != nil {
			skipped = cmp.Or(skipped, fmt.Errorf("intake file %q: %w", name, err))
			return
		}
		if kept = append(kept, entry{st.Mtim.Nano(), name}); len(kept) >= 2*w.backlogCap {
			keep()
		}
	})
	if err != nil {
		return false, nil, fmt.Errorf("list intake directory: %w", err)
	}
	keep()
	w.backlog, w.next, w.listedMod, w.retryAt = kept, 0, mod, time.Time{}
	// A change within the mtime's granularity may leave it as it was.
	w.stale = dropped || start.Sub(time.Unix(0, mod)) < mtimeSlack
	return true, skipped, nil
}

// Start finishes what a crash left half done, then tops up until Close; report (may be nil) hears each error.
func (w *Window) Start(report func(error)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.started {
		return
	}
	w.started = true
	rep := limit(report)
	if _, err := w.countQueue(true); err != nil {
		rep(err)
	}
	go w.run(rep)
}

// Close stops the background loop and waits for it; files stay put.
func (w *Window) Close() {
	w.mu.Lock()
	closed, started := w.closed, w.started
	w.closed, w.backlog = true, nil
	w.mu.Unlock()
	if closed {
		return
	}
	close(w.stop)
	if started {
		<-w.done
	}
	w.adm.close() // every other user holds mu and checks closed
}

// run tops up when woken (inotify, Left, polling) and recounts every resync.
func (w *Window) run(rep func(error)) {
	defer close(w.done)
	tick := time.NewTicker(w.resync)
	defer tick.Stop()
	stopWatch, err := func() {}, errors.New("disabled")
	if !w.noWatch {
		stopWatch, err = watch(fmt.Sprintf("/proc/self/fd/%d", w.adm.in.FD()), w.kick, rep)
	}
	defer stopWatch()
	var poll <-chan time.Time // nil: inotify wakes the loop
	if err != nil {
		rep(fmt.Errorf("intake %s: no inotify, checking every %v: %w", w.adm.in.Path, pollEvery, err))
		p := time.NewTicker(pollEvery)
		defer p.Stop()
		poll = p.C
	}
	wake(w.kick) // the first top-up at once
	for {
		recount := false
		select {
		case <-w.stop:
			return
		case <-w.kick:
		case <-poll:
		case <-tick.C:
			recount = true
		}
		w.step(rep, recount)
	}
}

// step is one top-up; a panic is reported, never fatal to Fluent Bit.
func (w *Window) step(rep func(error), recount bool) {
	defer func() {
		if p := recover(); p != nil {
			rep(fmt.Errorf("intake top-up panicked: %v", p))
		}
	}()
	if recount {
		if err := w.recount(); err != nil {
			rep(err)
		}
	}
	if _, err := w.TopUp(); err != nil {
		rep(err)
	}
}

// watch wakes kick when a name appears in dir: IN_CREATE (link, write in place), IN_MOVED_TO.
func watch(dir string, kick chan struct{}, rep func(error)) (stop func(), err error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return func() {}, err
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_ONLYDIR); err != nil {
		unix.Close(fd)
		return func() {}, err
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: Close wakes a Read
	var wg sync.WaitGroup
	wg.Go(func() {
		defer func() {
			if p := recover(); p != nil {
				rep(fmt.Errorf("intake watch panicked: %v", p))
			}
		}()
		buf := make([]byte, 16*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
		for {
			if _, err := f.Read(buf); err != nil {
				if !errors.Is(err, os.ErrClosed) {
					rep(fmt.Errorf("intake watch stopped, the 1 s backstop remains: %w", err))
				}
				return
			}
			wake(kick)
		}
	})
	return func() { f.Close(); wg.Wait() }, nil
}

// limit passes on each distinct error at most once a minute: a full disk must not flood the log.
func limit(report func(error)) func(error) {
	var mu sync.Mutex
	var last string
	var at time.Time
	return func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if report == nil || err.Error() == last && time.Since(at) < time.Minute {
			return
		}
		last, at = err.Error(), time.Now()
		report(err)
	}
}
