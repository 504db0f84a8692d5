//go:build linux

// Package spool is the plugin's files, each reached through a directory held open (never a path twice nor a symlink):
// the queue, its lock, the ledger and the journals.
package spool

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Dir is one directory held open.
type Dir struct {
	fd         int
	Path       string // as opened, symlinks resolved at start: for messages only
	Configured string // as configured, absolute and clean: tail names files by it
	id         DirID
	syncs      syncer
}

const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// OpenDir resolves a configured directory once (its symlinks are the operator's choice) and opens it.
func OpenDir(path string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	resolved, rerr := filepath.EvalSymlinks(abs)
	if err = cmp.Or(err, rerr); err != nil {
		return nil, err
	}
	fd, err := unix.Open(resolved, dirFlags, 0)
	return held(fd, err, resolved, abs)
}

// wrap is err after context; nil stays nil.
func wrap(err error, context string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", context, err)
}

// wrapPath is wrap with the context "what <quoted path>", spelled out
// only for an error: most calls end well.
func wrapPath(err error, what, path string) error {
	if err == nil {
		return nil
	}
	if what == "" {
		return wrap(err, quote(path))
	}
	return wrap(err, what+" "+quote(path))
}

// held keeps the directory fd, opened at path unless err.
func held(fd int, err error, path, configured string) (*Dir, error) {
	var st unix.Stat_t
	if err == nil {
		if err = unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		return nil, wrap(err, "open directory "+path)
	}
	return &Dir{fd: fd, Path: path, Configured: configured, id: DirID{uint64(st.Dev), st.Ino}}, nil
}

// ErrSymlink marks a directory inside a held one that is a symlink.
var ErrSymlink = errors.New("is a symlink or not a directory: refused, whoever writes its parent could point it anywhere")

// OpenDirIn opens path below d step by step, never through a symlink (ErrSymlink), creating missing steps with
// perm (chmod(2) bits, whatever the umask) when create; any other path by OpenDir, after MkdirAll when create.
func OpenDirIn(d *Dir, path string, create bool, perm uint32) (*Dir, error) {
	if d != nil {
		if names, ok := d.below(path); ok {
			cur := d
			for _, name := range names {
				next, err := cur.openChild(name, create, perm)
				if cur != d {
					cur.Close()
				}
				if err != nil {
					return nil, err
				}
				cur = next
			}
			return cur, nil
		}
	}
	if create {
		if err := os.MkdirAll(path, fs.FileMode(perm&0o777)); err != nil {
			return nil, err
		}
	}
	return OpenDir(path)
}

// below is the names leading from d to path, when path lies below d.
func (d *Dir) below(path string) ([]string, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, false
	}
	for _, root := range []string{d.Path, d.Configured} {
		rel, err := filepath.Rel(root, abs)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		return strings.Split(rel, string(filepath.Separator)), true
	}
	return nil, false
}

func (d *Dir) openChild(name string, create bool, perm uint32) (*Dir, error) {
	path := filepath.Join(d.Path, name)
	fd, err := unix.Openat(d.fd, name, dirFlags, 0)
	if errors.Is(err, unix.ENOENT) && create {
		if err := unix.Mkdirat(d.fd, name, perm&0o777); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, wrap(err, "create directory "+path)
		}
		if fd, err = unix.Openat(d.fd, name, dirFlags, 0); err == nil {
			_ = unix.Fchmod(fd, perm)
		}
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return nil, fmt.Errorf("%s %w", path, ErrSymlink)
	}
	return held(fd, err, path, filepath.Join(d.Configured, name))
}

// FD is the descriptor; it stays d's: do not close it.
func (d *Dir) FD() int { return d.fd }

// Mode is the directory's chmod(2) bits: permissions, set-group-ID and sticky.
func (d *Dir) Mode() (uint32, error) {
	st, err := d.Lstat(".")
	return st.Mode & (0o777 | unix.S_ISGID | unix.S_ISVTX), err
}

// Sync makes creations, renames and removals in d survive a crash. Callers
// at the same time share one fsync: any that began after a change covers it.
func (d *Dir) Sync() error { return d.syncs.sync(d.fsync, 0, 0) }

func (d *Dir) fsync() error { return wrap(unix.Fsync(d.fd), "sync directory "+d.Path) }

// syncer runs one fsync at a time. Callers join the next run, which begins
// when the running one has ended and, with a linger, once that much time has
// passed since its first caller or as many callers as the first asked for
// wait: each caller gets the result of a sync that began after its call.
type syncer struct {
	mu            sync.Mutex
	running, next *syncRun // nil: none
}

type syncRun struct {
	done           chan struct{} // closed when err is set
	err            error
	joined, enough int           // enough: its first caller's
	full           chan struct{} // closed when enough callers joined
}

func (s *syncer) sync(fsync func() error, linger time.Duration, enough int) error {
	s.mu.Lock()
	r, prev, lead := s.next, s.running, s.next == nil
	if lead {
		r = &syncRun{done: make(chan struct{}), full: make(chan struct{}), enough: enough}
		s.next = r
	}
	if r.joined++; r.joined == r.enough {
		close(r.full)
	}
	s.mu.Unlock()
	if !lead {
		<-r.done
		return r.err
	}
	if linger > 0 {
		wait := time.NewTimer(linger)
		select {
		case <-wait.C:
		case <-r.full:
		}
		wait.Stop()
	}
	if prev != nil {
		<-prev.done
	}
	s.mu.Lock()
	s.running, s.next = r, nil // callers from now on wait for the run after r
	s.mu.Unlock()
	r.err = fsync()
	s.mu.Lock()
	if s.running == r {
		s.running = nil
	}
	s.mu.Unlock()
	close(r.done)
	return r.err
}

// Lstat describes the entry name without following it.
func (d *Dir) Lstat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	return st, err
}

// OpenFile opens the entry name, never through a symlink nor waiting on a FIFO: the caller fstats what it opened.
func (d *Dir) OpenFile(name string, flags int, perm uint32) (*os.File, error) {
	path := filepath.Join(d.Path, name)
	fd, err := unix.Openat(d.fd, name, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, perm)
	if err != nil {
		return nil, wrap(err, "open "+path)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Each lists d's entries with their type from the directory (no stat).
func (d *Dir) Each(fn func(name string, t fs.FileMode)) error {
	fd, err := unix.Openat(d.fd, ".", dirFlags, 0)
	if err != nil {
		return wrap(err, "list directory "+d.Path)
	}
	f := os.NewFile(uintptr(fd), d.Path)
	defer f.Close()
	for {
		ents, err := f.ReadDir(1024)
		for _, e := range ents {
			fn(e.Name(), e.Type())
		}
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// Close gives the descriptor back.
func (d *Dir) Close() error {
	if d == nil || d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// DirID is a directory's identity on disk, however it is named.
type DirID struct{ Dev, Ino uint64 }

func (id DirID) String() string { return fmt.Sprintf("device %d inode %d", id.Dev, id.Ino) }

// ID is the held directory's identity, as opened.
func (d *Dir) ID() DirID { return d.id }

// Above lists the directories holding d now, parent first, up to the root or the first that cannot be looked at.
func (d *Dir) Above() []DirID {
	var ids []DirID
	cur, up := d.ID(), ".."
	for range 256 {
		var st unix.Stat_t
		err := unix.Fstatat(d.fd, up, &st, 0)
		id := DirID{uint64(st.Dev), st.Ino}
		if err != nil || id == cur { // the root is its own parent
			return ids
		}
		ids, cur, up = append(ids, id), id, up+"/.."
	}
	return ids
}

// AtPath is the identity of the directory at d's configured path now (symlinks followed, as tail does).
func (d *Dir) AtPath() (DirID, error) {
	var st unix.Stat_t
	err := unix.Stat(d.Configured, &st)
	if err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		err = unix.ENOTDIR
	}
	return DirID{uint64(st.Dev), st.Ino}, err
}

var flock = unix.Flock // a test refuses it

// ErrNoDirectoryLock: the file system refuses flock on a directory.
var ErrNoDirectoryLock = errors.New("the file system refuses a lock (flock) on the directory, so one sender per queue cannot be guaranteed there (a lock file any writer of the queue could remove would let a second process send too): put Queue_Dir on a file system that locks directories (ext4, xfs, btrfs, tmpfs, overlayfs, an NFS or SMB mount used by one node)")

// Lock makes one process the queue's sender: a flock on the directory, which a writer cannot remove as it could a file.
type Lock struct {
	dir  *Dir
	file atomic.Pointer[os.File] // the locked directory while held
	stop chan struct{}
	once sync.Once
	done chan struct{}
}

// TakeLock locks dir and runs taken; when another holds it, waiting, then polls every interval to take over until Close.
func TakeLock(dir *Dir, interval time.Duration, waiting func(), taken func()) (*Lock, error) {
	l := &Lock{dir: dir, stop: make(chan struct{}), done: make(chan struct{})}
	if ok, err := l.try(); err != nil {
		return nil, err
	} else if ok {
		close(l.done)
		taken()
		return l, nil
	}
	waiting()
	go l.wait(interval, taken)
	return l, nil
}

func (l *Lock) wait(interval time.Duration, taken func()) {
	defer close(l.done)
	defer func() { // a panic in taken must not take Fluent Bit down
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "[error] queue lock on %s: taking over: internal error, recovered: %v\n", quote(l.dir.Path), p)
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		if ok, _ := l.try(); ok {
			taken()
			return
		}
	}
}

// try takes the lock if it is free.
func (l *Lock) try() (bool, error) {
	fd, err := unix.Openat(l.dir.fd, ".", dirFlags, 0)
	if err == nil {
		if err = flock(fd, unix.LOCK_EX|unix.LOCK_NB); err == nil {
			l.file.Store(os.NewFile(uintptr(fd), l.dir.Path))
			return true, nil
		}
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return false, nil
		}
		err = fmt.Errorf("%w (%v)", ErrNoDirectoryLock, err)
	}
	return false, wrapPath(err, "queue lock on", l.dir.Path)
}

// Close stops waiting, waits for the poller, and releases the lock.
func (l *Lock) Close() {
	if l == nil {
		return
	}
	l.once.Do(func() { close(l.stop) })
	<-l.done
	if f := l.file.Swap(nil); f != nil {
		f.Close() // closing the last descriptor drops the flock
	}
}
