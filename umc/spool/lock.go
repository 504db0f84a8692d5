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
	return false, wrap(err, "queue lock on "+quote(l.dir.Path))
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
