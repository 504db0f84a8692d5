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
// system refuses flock on a directory, there is no lock a writer of the
// queue cannot break: Take refuses, and the output does not start. Linux
// takes a directory's flock itself (ext4, xfs, btrfs, tmpfs, overlayfs;
// on an NFS or SMB client it is a lock of that node only), or passes it to
// a cluster file system that implements it (CephFS, GFS2, OCFS2).
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

// flock is flock(2); tests stand in a file system that refuses it.
var flock = unix.Flock

// ErrNoDirectoryLock is a queue directory whose file system refuses flock
// on a directory.
var ErrNoDirectoryLock = errors.New("the file system refuses a lock (flock) on the directory, so one sender per queue cannot be guaranteed there (a lock file any writer of the queue could remove would let a second process send too): put Queue_Dir on a file system that locks directories (ext4, xfs, btrfs, tmpfs, overlayfs, an NFS or SMB mount used by one node)")

// Lock is the queue directory's lock, held or waited for.
type Lock struct {
	dir  *dirhandle.Dir
	held atomic.Bool

	mu   sync.Mutex
	file *os.File // the locked directory while held
	stop chan struct{}
	done chan struct{}
}

// Take locks the queue directory dir. When another process holds it, Take
// calls waiting once and polls every interval in a goroutine of its own
// until the lock is free (then taken runs, once, in that goroutine) or
// Close. When the lock is free at once, taken runs before Take returns.
// An error is a directory that cannot be opened or locked at all
// (ErrNoDirectoryLock).
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
	// A panic in taken must not take Fluent Bit and every other output
	// down; taken reports its own failures, this is the last guard.
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "[error] queue lock on %s: taking over: internal error, recovered: %v\n", logtext.Quote(l.dir.Path), p)
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
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.stop:
		return false, nil
	default:
	}
	// A descriptor of its own: a lock belongs to an open file
	// description, and the queue's and the intake's are others.
	fd, err := unix.Openat(l.dir.FD(), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("queue lock on %s: %w", logtext.Quote(l.dir.Path), err)
	}
	err = flock(fd, unix.LOCK_EX|unix.LOCK_NB)
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
	return false, fmt.Errorf("queue lock on %s: %w (%v)", logtext.Quote(l.dir.Path), ErrNoDirectoryLock, err)
}

// Close stops waiting, waits for the poller, and releases the lock.
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
