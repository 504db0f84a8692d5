//go:build linux

package spool

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The queue lock makes one process the queue directory's sender: an
// exclusive flock on the directory itself, held for the output's life; who
// starts second polls and takes over when the holder is gone (the kernel
// drops a dead process's lock). Not a lock file: a writer of the queue
// could remove it and let a third process send too, while the directory
// cannot be removed or replaced by one. Linux locks directories on ext4,
// xfs, btrfs, tmpfs, overlayfs (on an NFS or SMB client, for that node
// only), and passes the lock to CephFS, GFS2, OCFS2.

// flock is flock(2); tests stand in a file system that refuses it.
var flock = unix.Flock

// ErrNoDirectoryLock is a queue directory whose file system refuses flock
// on a directory.
var ErrNoDirectoryLock = errors.New("the file system refuses a lock (flock) on the directory, so one sender per queue cannot be guaranteed there (a lock file any writer of the queue could remove would let a second process send too): put Queue_Dir on a file system that locks directories (ext4, xfs, btrfs, tmpfs, overlayfs, an NFS or SMB mount used by one node)")

// Lock is the queue directory's lock, held or waited for.
type Lock struct {
	dir  *Dir
	held atomic.Bool

	mu   sync.Mutex
	file *os.File // the locked directory while held
	stop chan struct{}
	done chan struct{}
}

// TakeLock locks the queue directory dir. When it is free, taken runs
// before TakeLock returns; else waiting runs once and a goroutine polls
// every interval until the lock is free (then runs taken) or Close. An
// error is a directory that cannot be locked at all (ErrNoDirectoryLock).
func TakeLock(dir *Dir, interval time.Duration, waiting func(), taken func()) (*Lock, error) {
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
	// taken reports its own failures; a panic must not take Fluent Bit down.
	defer func() {
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
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.stop:
		return false, nil
	default:
	}
	// A descriptor of its own: a lock belongs to an open file description.
	fd, err := unix.Openat(l.dir.FD(), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("queue lock on %s: %w", quote(l.dir.Path), err)
	}
	err = flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		l.file = os.NewFile(uintptr(fd), l.dir.Path)
		l.held.Store(true)
		return true, nil
	}
	unix.Close(fd)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return false, fmt.Errorf("queue lock on %s: %w (%v)", quote(l.dir.Path), ErrNoDirectoryLock, err)
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
