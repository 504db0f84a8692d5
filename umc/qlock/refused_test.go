//go:build linux

package qlock

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Where the file system refuses flock on a directory, no lock can hold
// against a writer of the queue (a lock file can be removed, and a second
// process would lock a new one and send too): the output refuses to run,
// saying why and what to do, and leaves no lock file behind that anyone
// could take for one.
func TestAFileSystemThatRefusesDirectoryLocksRefusesToRun(t *testing.T) {
	refuse := func(fd, how int) error {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return unix.EINVAL
		}
		return unix.Flock(fd, how)
	}
	old := flock
	flock = refuse
	defer func() { flock = old }()

	dir := t.TempDir()
	for range 2 { // a second process would be refused alike: no second holder
		l, err := Take(open(t, dir), 10*time.Millisecond, func() { t.Error("waited") }, func() { t.Error("took the lock") })
		if err == nil {
			l.Close()
			t.Fatal("ran without a lock that holds")
		}
		if !errors.Is(err, ErrNoDirectoryLock) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "one sender per queue") {
			t.Fatalf("error %q: want it to name the directory and the reason", err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left %d entries in the queue directory, want none", len(ents))
	}
}
