//go:build linux

// Package qlock makes one process the queue directory's sender: an
// exclusive flock on the queue directory itself, held for the output's
// life. Whoever starts second waits, polling, and takes over when the
// holder is gone (it exited, or was killed: the kernel drops its lock).
//
// The directory, not a lock file in it: a writer of the queue can remove
// a lock file (the queue directory is not sticky), and a third process
// would then lock a new file while the first still sends. The directory
// cannot be removed or replaced by a writer of the queue. Where the file
// system refuses flock on a directory (NFS emulates flock with POSIX
// locks, which want a file open for writing), the lock file Name is
// locked instead.
package qlock

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/umc/dirhandle"
	"umc-invite/umc/logtext"
)

// Name is the fallback lock file in the queue directory: hidden and
// without the .send suffix, so tail's Path (*.send) never reads it and the
// intake never counts it.
const Name = ".umc-invite.lock"

// Lock is the queue directory's lock, held or waited for.
type Lock struct {
	dir  *dirhandle.Dir
	held atomic.Bool

	mu       sync.Mutex
	file     *os.File // the locked directory (or file) while held
	fallback bool     // the file system refuses flock on a directory: lock Name
	stop     chan struct{}
	done     chan struct{}
}

// Take locks the queue directory dir. When another process holds it, Take
// calls waiting once and polls every interval in a goroutine of its own
// until the lock is free (then taken runs, once, in that goroutine) or
// Close. When the lock is free at once, taken runs before Take returns.
// An error is a lock file that cannot be opened at all.
func Take(dir *dirhandle.Dir, interval time.Duration, waiting func(), taken func()) (*Lock, error) {
	l := &Lock{dir: dir, stop: make(chan struct{}), done: make(chan struct{})}
	ok, err := l.try()
	if err != nil {
		return nil, err
	}
	if ok {
		close(l.done)
		taken()
		return l, nil
	}
	waiting()
	go l.wait(interval, taken)
	return l, nil
}

// Held reports whether this process holds the lock now.
func (l *Lock) Held() bool { return l != nil && l.held.Load() }

func (l *Lock) wait(interval time.Duration, taken func()) {
	defer close(l.done)
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

// try takes the lock if it is free. The lock file is opened by name in the
// held directory, never through a symlink nor waiting on a FIFO; an entry
// of that name that is no regular file is removed (the name is the
// plugin's). A lock on a file that is no longer the one at the name (a
// producer removed or replaced it) is no lock: it is dropped and tried
// again next time.
func (l *Lock) try() (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.stop:
		return false, nil
	default:
	}
	if !l.fallback {
		// A descriptor of its own: a lock belongs to an open file
		// description, and the queue's and the intake's are others.
		fd, err := unix.Openat(l.dir.FD(), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return false, fmt.Errorf("queue lock on %s: %w", logtext.Quote(l.dir.Path), err)
		}
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			l.file = os.NewFile(uintptr(fd), l.dir.Path)
			l.held.Store(true)
			return true, nil
		case errors.Is(err, unix.EWOULDBLOCK):
			unix.Close(fd)
			return false, nil
		}
		unix.Close(fd)
		l.fallback = true
	}
	return l.tryFile()
}

// tryFile locks the fallback lock file.
func (l *Lock) tryFile() (bool, error) {
	f, err := l.dir.OpenFile(Name, unix.O_RDWR|unix.O_CREAT, 0o600)
	if errors.Is(err, unix.EACCES) {
		f, err = l.dir.OpenFile(Name, unix.O_RDONLY, 0)
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENXIO) || errors.Is(err, unix.EISDIR) {
		l.removeOdd()
		f, err = l.dir.OpenFile(Name, unix.O_RDWR|unix.O_CREAT, 0o600)
	}
	if err != nil {
		return false, fmt.Errorf("queue lock %s: %w", logtext.Quote(l.path()), err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		l.removeOdd()
		return false, nil
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return false, nil
		}
		return false, fmt.Errorf("queue lock %s: %w", logtext.Quote(l.path()), err)
	}
	// The name must still lead to the file locked.
	var byName, locked unix.Stat_t
	if unix.Fstat(int(f.Fd()), &locked) != nil || unix.Fstatat(l.dir.FD(), Name, &byName, unix.AT_SYMLINK_NOFOLLOW) != nil ||
		byName.Dev != locked.Dev || byName.Ino != locked.Ino {
		f.Close()
		return false, nil
	}
	l.file = f
	l.held.Store(true)
	return true, nil
}

// removeOdd removes an entry named Name that is no regular file.
func (l *Lock) removeOdd() {
	st, err := l.dir.Lstat(Name)
	if err != nil || st.Mode&unix.S_IFMT == unix.S_IFREG {
		return
	}
	flags := 0
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		flags = unix.AT_REMOVEDIR
	}
	_ = unix.Unlinkat(l.dir.FD(), Name, flags)
}

func (l *Lock) path() string { return l.dir.Path + "/" + Name }

// Close stops waiting, waits for the poller, and releases the lock. The
// lock file stays: removing it could let a third process lock a new file
// while a second still holds the old one.
func (l *Lock) Close() {
	if l == nil {
		return
	}
	l.mu.Lock()
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.mu.Unlock()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		l.held.Store(false)
		l.file.Close() // closing the last descriptor drops the flock
		l.file = nil
	}
}
