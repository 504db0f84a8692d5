//go:build linux

package intake

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
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

// DefaultSize is the default window: about 25 MB of tail buffers at ~25 KB
// per watched file, and several seconds of work at the measured peak rate.
const DefaultSize = 1000

// MaxSize caps the window; beyond it the bound stops meaning anything for a
// pod's memory (100,000 files are ~2.5 GB in tail).
const MaxSize = 100000

// Suffix is what tail's Path matches; only such files are moved or counted.
const Suffix = ".send"

// ErrClosed is returned by TopUp after Close.
var ErrClosed = errors.New("intake window closed")

// errNotRegular marks an intake name that turned into something other than a
// regular file after it was listed: it is skipped, never moved.
var errNotRegular = errors.New("not a regular file")

// Window admits intake files into the queue directory. TopUp, Left, Count
// and Close are safe for concurrent use.
type Window struct {
	queueDir, intakeDir string     // absolute, symlinks resolved at start: for messages
	q, in               *spool.Dir // held open; every file is reached through them
	stage               *spool.Dir // StageDir in the queue directory
	size                int
	linkMode            bool // the file system lacks RENAME_NOREPLACE: link, then unlink

	// Tunables; tests shorten them.
	resync     time.Duration // background recount and relist, with inotify
	poll       time.Duration // background check without inotify
	backlogCap int           // intake names kept in memory, oldest first
	settle     time.Duration // a directory mtime younger than this may hide a change
	noWatch    bool          // poll instead of inotify

	// queued is the number of *.send files in the queue directory as last
	// counted, plus admissions, minus Left. It is read without the lock so
	// that a full window costs one atomic load.
	queued atomic.Int64

	mu        sync.Mutex // one mover at a time; guards what follows
	closed    bool
	started   bool
	backlog   []entry // intake files, oldest first; backlog[next:] are still to try
	next      int
	listedMod int64     // the intake directory's mtime (ns) when last listed
	stale     bool      // the last listing may have missed files: list again when exhausted
	retryAt   time.Time // names left behind (collisions, errors) are looked at again then
	skipped   error     // the last listing's first file that stays in the intake (errNotAdmitted)

	countedMod      int64 // the queue directory's mtime (ns) at the last recount
	countedStageMod int64 // and StageDir's
	countedSure     bool  // and both were old enough that a later change must alter them

	stuck stuckFiles // delivered files that could not be removed: no place in the window

	kick chan struct{} // Left and inotify wake the background loop
	stop chan struct{}
	done chan struct{}
}

type entry struct {
	name string
	mod  int64 // mtime in ns
}

// older orders by modification time, then by name, so that the first
// created users are invited first and the order is total.
func older(a, b entry) bool {
	if a.mod != b.mod {
		return a.mod < b.mod
	}
	return a.name < b.name
}

// Open checks both directories and counts the queue. The intake directory
// is created when missing, with the queue directory's permissions (the
// producer that writes the queue must be able to write the intake). Both
// must be on the same file system (the move must be an atomic rename) and
// writable. Open moves nothing and starts no goroutine: another process
// may hold the queue (and be mid-admission). Start, once this process
// holds it, finishes what a crash left half done, then admits.
func Open(queueDir, intakeDir string, size int) (w *Window, err error) {
	if size < 1 || size > MaxSize {
		return nil, fmt.Errorf("queue window %d: must be between 1 and %d", size, MaxSize)
	}
	q, err := spool.OpenDir(queueDir)
	if err != nil {
		return nil, fmt.Errorf("queue directory: %w", err)
	}
	defer func() {
		if err != nil {
			q.Close()
		}
	}()
	mode, err := q.Mode()
	if err != nil {
		return nil, fmt.Errorf("queue directory: %w", err)
	}
	// A direct child of the queue directory (the default incoming/) is
	// opened relative to it and refused when it is a symlink: whoever
	// writes the queue could point it at another tenant's queue.
	in, err := spool.OpenDirIn(q, intakeDir, true, mode)
	if err != nil {
		return nil, fmt.Errorf("intake directory: %w", err)
	}
	defer func() {
		if err != nil {
			in.Close()
		}
	}()
	if in.Same(q) {
		return nil, fmt.Errorf("intake directory %s is the queue directory", in.Path)
	}
	linkMode, err := probe(q, in)
	if err != nil {
		return nil, err
	}
	// Relative to the queue directory, never through a symlink a producer
	// planted: anything else there than a directory is refused.
	stage, err := spool.OpenDirIn(q, filepath.Join(q.Path, StageDir), true, mode&^(fs.ModeSetgid|fs.ModeSticky)|0o700)
	if err != nil {
		return nil, fmt.Errorf("queue directory: %s: %w", StageDir, err)
	}
	defer func() {
		if err != nil {
			stage.Close()
		}
	}()
	if in.Same(stage) {
		return nil, fmt.Errorf("intake directory %s is the queue's %s, the plugin's own", in.Path, StageDir)
	}
	w = &Window{
		queueDir: q.Path, intakeDir: in.Path, q: q, in: in, stage: stage, size: size, linkMode: linkMode,
		resync: time.Second, poll: 100 * time.Millisecond,
		backlogCap: max(4*size, 1024), settle: 50 * time.Millisecond,
		stale: true,
		kick:  make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	n, err := w.countQueue(countOnly)
	if err != nil {
		return nil, err
	}
	w.queued.Store(int64(n))
	return w, nil
}

// QueueDir and IntakeDir are the resolved directories.
func (w *Window) QueueDir() string  { return w.queueDir }
func (w *Window) IntakeDir() string { return w.intakeDir }

// Size is the window.
func (w *Window) Size() int { return w.size }

// LinkMode tells whether moves are link-then-unlink because the file
// system refuses renameat2's RENAME_NOREPLACE (some NFS servers).
func (w *Window) LinkMode() bool { return w.linkMode }

// probe moves a hidden file from the intake to the queue directory the way
// TopUp will, which checks both are writable and on one mount (rename
// across mounts fails with EXDEV even on the same device).
func probe(q, in *spool.Dir) (linkMode bool, err error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := ".umc-invite-probe-" + hex.EncodeToString(b[:])
	f, err := in.OpenFile(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		return false, fmt.Errorf("intake directory not writable: %w", err)
	}
	f.Close()
	defer unix.Unlinkat(in.FD(), name, 0)
	err = unix.Renameat2(in.FD(), name, q.FD(), name, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return false, removeProbe(q, name)
	case errors.Is(err, unix.EXDEV):
		return false, fmt.Errorf("intake %s and queue %s are on different file systems (or mounts): the move must be an atomic rename", in.Path, q.Path)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		// No RENAME_NOREPLACE here: link(2) also refuses to replace.
	default:
		return false, fmt.Errorf("queue directory %s: cannot move files into it: %w", q.Path, err)
	}
	if err := unix.Linkat(in.FD(), name, q.FD(), name, 0); err != nil {
		if errors.Is(err, unix.EXDEV) {
			return false, fmt.Errorf("intake %s and queue %s are on different file systems (or mounts): the move must be an atomic rename", in.Path, q.Path)
		}
		return false, fmt.Errorf("queue directory %s: neither renameat2 nor link works: %w", q.Path, err)
	}
	return true, removeProbe(q, name)
}

func removeProbe(q *spool.Dir, name string) error {
	if err := unix.Unlinkat(q.FD(), name, 0); err != nil {
		return fmt.Errorf("queue directory: remove probe file: %w", err)
	}
	return nil
}

// candidate tells whether a name is a queue file: hidden names are
// producers' temporary files and never move.
func candidate(name string) bool {
	return strings.HasSuffix(name, Suffix) && len(name) > len(Suffix) && name[0] != '.' && printable(name)
}

// watched tells whether tail watches a name in the queue directory: its
// Path <Queue_Dir>/*.send (glob's * matches no leading dot) less the
// shipped configs' Exclude_Path *[[:cntrl:]]* (an ASCII control byte).
// Every such file is in tail's memory, however it got there, so each holds
// a place in the window, also a name the intake would never admit (invalid
// UTF-8, say). An excluded name is never read nor removed: counted, it
// would hold its place for ever.
func watched(name string) bool {
	return strings.HasSuffix(name, Suffix) && len(name) > len(Suffix) && name[0] != '.' &&
		!strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// printable reports a name of valid UTF-8 without control characters. A
// name with a newline or invalid UTF-8 is no user's (UDM's uid syntax has
// neither) and stays in the intake: Fluent Bit's tail writes the names of
// the files it watches into its log as they are, so such a name in the
// queue directory would forge a line of Fluent Bit's log.
func printable(name string) bool {
	if !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == 0x2028 || r == 0x2029 {
			return false
		}
	}
	return true
}

// repair says how much a count of the queue directory may finish of what
// a crash left half done: nothing before Start (another process may hold
// the queue), staged admissions once started, and at Start also the moves
// a crash cut short in link mode.
type repair int

const (
	countOnly repair = iota
	recoverStaged
	repairAll
)

// repairNow is what a count may repair now; the caller holds mu.
func (w *Window) repairNow() repair {
	if w.started {
		return recoverStaged
	}
	return countOnly
}

// countQueue counts the files tail reads in the queue directory (watched
// names, regular or linked to a regular file), however they got there.
// From recoverStaged on it finishes admissions a crash left staged
// (recoverStage); with repairAll also moves a crash cut short in link
// mode: the same inode in both directories is still pending once.
func (w *Window) countQueue(r repair) (int, error) {
	n := 0
	var legacy []string
	err := w.q.Each(func(name string, t fs.FileMode) {
		if _, ok := legacyStaged(name); ok {
			legacy = append(legacy, name)
			return
		}
		if !watched(name) || !w.tailReads(name, t) || w.isStuck(name) {
			return
		}
		n++
		if r == repairAll {
			w.finishLink(name)
		}
	})
	if err != nil {
		return 0, fmt.Errorf("count queue directory: %w", err)
	}
	if r == countOnly {
		return n, nil
	}
	// Admissions a crash cut short between the intake and the queue name.
	var staged []string
	var copies []string
	err = w.stage.Each(func(name string, _ fs.FileMode) {
		switch {
		case candidate(name):
			staged = append(staged, name)
		case name == ownTemp:
			copies = append(copies, name)
		}
	})
	for _, name := range copies {
		_ = unix.Unlinkat(w.stage.FD(), name, 0) // a copy a crash cut short; its original is still staged
	}
	if err != nil {
		return n, fmt.Errorf("list %s: %w", StageDir, err)
	}
	for _, name := range staged {
		if w.recoverStage(w.stage.FD(), name, name) {
			n++
		}
	}
	for _, stage := range legacy {
		if name, _ := legacyStaged(stage); w.recoverStage(w.q.FD(), stage, name) {
			n++
		}
	}
	return n, nil
}

// tailReads tells whether tail would watch the queue directory's entry
// name of type t: a regular file, or a symlink to one (tail follows it).
// The symlink is only looked at, never opened.
func (w *Window) tailReads(name string, t fs.FileMode) bool {
	if t.IsRegular() {
		return true
	}
	if t&fs.ModeSymlink == 0 {
		return false
	}
	var st unix.Stat_t
	return unix.Fstatat(w.q.FD(), name, &st, 0) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// finishLink removes the intake's name for a file that is also in the
// queue directory under the same name: a link-then-unlink move that was
// interrupted. Only the same inode counts; a different file stays.
func (w *Window) finishLink(name string) bool {
	var a, b unix.Stat_t
	if unix.Fstatat(w.in.FD(), name, &a, unix.AT_SYMLINK_NOFOLLOW) != nil || unix.Fstatat(w.q.FD(), name, &b, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return false
	}
	if a.Dev != b.Dev || a.Ino != b.Ino {
		return false
	}
	return unix.Unlinkat(w.in.FD(), name, 0) == nil
}

// Left tells the window that n queue files left the queue directory
// (delivered and removed, or moved to the dead letters). It is cheap and
// never blocks: it adjusts the count and wakes the background loop, which
// refills the window.
func (w *Window) Left(n int) {
	if n <= 0 {
		return
	}
	for {
		old := w.queued.Load()
		if w.queued.CompareAndSwap(old, max(old-int64(n), 0)) {
			break
		}
	}
	w.poke()
}

func (w *Window) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// TopUp moves the oldest intake files into the queue directory until it
// holds Size queue files, and returns how many it moved. A full window
// costs one atomic load; with room and nothing new in the intake, one stat
// of the intake directory. The intake is listed only when the names kept
// in memory are used up and the directory changed (or a listing was cut
// short, or names were left behind and their retry time came).
//
// A name already present in the queue directory is not replaced: the intake
// file stays and is tried again later. Every moment, each file is in
// exactly one place: the intake, its stage name (move), or the queue.
func (w *Window) TopUp() (moved int, err error) {
	var refused error // the first file that stays in the intake, to be told
	if w.queued.Load() >= int64(w.size) {
		return 0, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, ErrClosed
	}
	listed := false
	for w.queued.Load() < int64(w.size) {
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
			listed = true
			if refused == nil {
				refused = w.skipped
			}
			continue
		}
		e := w.backlog[w.next]
		w.next++
		err := w.move(e.name)
		switch {
		case err == nil:
			moved++
			w.queued.Add(1)
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, errNotRegular):
			// Gone from the intake (an operator, or a finished link move),
			// or no longer a plain file: nothing to admit.
		case errors.Is(err, fs.ErrExist), errors.Is(err, errNotYet):
			// Already queued under this name: admitting it now would replace
			// (or duplicate) that file. Look again later.
			w.leaveBehind()
		case errors.Is(err, errNotAdmitted):
			// Told (once a minute), and the others go on.
			if refused == nil {
				refused = fmt.Errorf("intake file %q: %w", e.name, err)
			}
		default:
			w.leaveBehind()
			return moved, fmt.Errorf("move %s into the queue: %w", e.name, err)
		}
	}
	if w.next >= len(w.backlog) && w.backlog != nil {
		w.backlog, w.next = nil, 0 // free the memory of a drained listing
	}
	return moved, refused
}

func (w *Window) leaveBehind() {
	if w.retryAt.IsZero() {
		w.retryAt = time.Now().Add(w.resync)
	}
}

// intakeChanged tells whether listing the intake could find something new.
func (w *Window) intakeChanged() (bool, error) {
	if w.stale {
		return true, nil
	}
	if !w.retryAt.IsZero() && !time.Now().Before(w.retryAt) {
		return true, nil
	}
	mod, err := w.in.ModTime()
	if err != nil {
		return false, fmt.Errorf("intake directory: %w", err)
	}
	return mod != w.listedMod, nil
}

// list reads the intake and keeps the backlogCap oldest queue files,
// oldest first. Memory stays bounded however large the intake grows; a
// listing that had more is marked stale, so the rest is read when these
// are used up.
func (w *Window) list() error {
	mod, err := w.in.ModTime()
	if err != nil {
		return fmt.Errorf("intake directory: %w", err)
	}
	start := time.Now()
	h := keepOldest{max: w.backlogCap}
	var st unix.Stat_t
	var skipped error
	err = w.in.Each(func(name string, t fs.FileMode) {
		if !candidate(name) || !t.IsRegular() {
			return
		}
		if unix.Fstatat(w.in.FD(), name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			return
		}
		if st.Nlink > 1 && w.finishLink(name) {
			return // a link move a crash cut short: it is in the queue already
		}
		if err := admissible(st); err != nil {
			// Told once per listing (the intake changed), never moved.
			if skipped == nil {
				skipped = fmt.Errorf("intake file %q: %w", name, err)
			}
			return
		}
		h.add(entry{name: name, mod: st.Mtim.Nano()})
	})
	if err != nil {
		return fmt.Errorf("list intake directory: %w", err)
	}
	w.backlog, w.next = h.sorted(), 0
	w.listedMod = mod
	w.retryAt = time.Time{}
	// A change within the timestamp granularity of the listing may leave
	// the directory's mtime as it was: list again next time.
	w.stale = h.dropped || start.Sub(time.Unix(0, mod)) < w.settle
	w.skipped = skipped
	return nil
}

// Count returns the queue files waiting in the queue and in the intake
// directory, read from disk (a directory listing each, and a stat of each
// intake file: one over maxFileSize never leaves the intake and is not
// counted). It also corrects the window's count.
func (w *Window) Count() (queue, intake int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, 0, ErrClosed
	}
	queue, err = w.countQueue(w.repairNow())
	if err != nil {
		return 0, 0, err
	}
	w.queued.Store(int64(queue))
	var st unix.Stat_t
	err = w.in.Each(func(name string, t fs.FileMode) {
		// A file that stays in the intake for good is nobody waiting.
		if candidate(name) && t.IsRegular() &&
			unix.Fstatat(w.in.FD(), name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && admissible(st) == nil {
			intake++
		}
	})
	if err != nil {
		return queue, 0, fmt.Errorf("count intake directory: %w", err)
	}
	return queue, intake, nil
}

// recount corrects the in-memory count from disk: files written straight
// into the queue directory, and removals nobody reported with Left. An
// unchanged directory (same mtime, old enough to be trusted) is not read.
func (w *Window) recount() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	mod, err := w.q.ModTime()
	if err != nil {
		return fmt.Errorf("queue directory: %w", err)
	}
	smod, err := w.stage.ModTime()
	if err != nil {
		return fmt.Errorf("queue directory: %s: %w", StageDir, err)
	}
	if mod == w.countedMod && smod == w.countedStageMod && w.countedSure {
		return nil
	}
	start := time.Now()
	n, err := w.countQueue(w.repairNow())
	if err != nil {
		return err
	}
	w.queued.Store(int64(n))
	w.countedMod, w.countedStageMod = mod, smod
	w.countedSure = start.Sub(time.Unix(0, max(mod, smod))) >= w.settle
	return nil
}

// Queued is the window's current count of queue files (no disk access).
func (w *Window) Queued() int { return int(w.queued.Load()) }

// keepOldest is a max-heap of the oldest entries seen, at most max of them.
type keepOldest struct {
	max     int
	h       []entry
	dropped bool
}

func (k *keepOldest) add(e entry) {
	if len(k.h) < k.max {
		k.h = append(k.h, e)
		for i := len(k.h) - 1; i > 0; {
			p := (i - 1) / 2
			if !older(k.h[p], k.h[i]) {
				break
			}
			k.h[p], k.h[i] = k.h[i], k.h[p]
			i = p
		}
		return
	}
	k.dropped = true
	if !older(e, k.h[0]) {
		return
	}
	k.h[0] = e
	for i := 0; ; {
		l, r, big := 2*i+1, 2*i+2, i
		if l < len(k.h) && older(k.h[big], k.h[l]) {
			big = l
		}
		if r < len(k.h) && older(k.h[big], k.h[r]) {
			big = r
		}
		if big == i {
			break
		}
		k.h[i], k.h[big] = k.h[big], k.h[i]
		i = big
	}
}

func (k *keepOldest) sorted() []entry {
	slices.SortFunc(k.h, func(a, b entry) int {
		switch {
		case older(a, b):
			return -1
		case older(b, a):
			return 1
		}
		return 0
	})
	return k.h
}
