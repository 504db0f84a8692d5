//go:build linux

package spool

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// isHeld reports whether this process holds the lock now.
func isHeld(l *Lock) bool {
	if l == nil {
		return false
	}
	return l.file.Load() != nil
}

func lockDir(t *testing.T, dir string) *Dir {
	t.Helper()
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// Two holders of one queue directory (two open file descriptions: as two
// processes would have): the second waits, says so once, and takes over
// when the first lets go.
func TestTheSecondWaitsAndTakesOver(t *testing.T) {
	dir := t.TempDir()
	var taken1, waited2, taken2 atomic.Int32
	first, err := TakeLock(lockDir(t, dir), 10*time.Millisecond, func() { t.Error("the first waited") }, func() { taken1.Add(1) })
	if err != nil || !isHeld(first) || taken1.Load() != 1 {
		t.Fatalf("first: %v held %t", err, isHeld(first))
	}
	second, err := TakeLock(lockDir(t, dir), 10*time.Millisecond, func() { waited2.Add(1) }, func() { taken2.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	time.Sleep(100 * time.Millisecond)
	if isHeld(second) || taken2.Load() != 0 || waited2.Load() != 1 {
		t.Fatalf("while the first holds it: second held %t, taken %d, waited %d", isHeld(second), taken2.Load(), waited2.Load())
	}
	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !isHeld(second) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !isHeld(second) || taken2.Load() != 1 || waited2.Load() != 1 {
		t.Fatalf("after the first let go: second held %t, taken %d, waited %d", isHeld(second), taken2.Load(), waited2.Load())
	}
}

// A symlink a producer planted under the name older releases used for a
// lock file is never followed: the directory is what is locked.
func TestAPlantedLockFileIsNeverFollowed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(target, []byte("x"), 0o600)
	if err := os.Symlink(target, filepath.Join(dir, ".umc-invite.lock")); err != nil {
		t.Fatal(err)
	}
	l, err := TakeLock(lockDir(t, dir), 10*time.Millisecond, func() { t.Error("waited") }, func() {})
	if err != nil || !isHeld(l) {
		t.Fatalf("%t %v", isHeld(l), err)
	}
	other, err := TakeLock(lockDir(t, dir), 10*time.Millisecond, func() {}, func() {})
	if err != nil {
		t.Fatal(err)
	}
	if isHeld(other) {
		t.Fatal("two holders")
	}
	other.Close()
	l.Close()
	if data, _ := os.ReadFile(target); string(data) != "x" {
		t.Fatal("the symlink's target changed")
	}
}

// A writer of the queue may remove any file in it: with the directory
// locked, removing files makes no second holder.
func TestRemovingFilesMakesNoSecondHolder(t *testing.T) {
	dir := t.TempDir()
	first, err := TakeLock(lockDir(t, dir), 10*time.Millisecond, func() {}, func() {})
	if err != nil || !isHeld(first) {
		t.Fatal(err)
	}
	defer first.Close()
	os.Remove(filepath.Join(dir, ".umc-invite.lock"))
	second, err := TakeLock(lockDir(t, dir), 10*time.Millisecond, func() {}, func() {})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	time.Sleep(50 * time.Millisecond)
	if isHeld(second) {
		t.Fatal("two holders")
	}
}

// A lock is released when its process dies (kill -9): the kernel drops it.
func TestALockDiesWithItsProcess(t *testing.T) {
	if os.Getenv("QLOCK_CHILD") != "" {
		if _, err := TakeLock(lockDir(t, os.Getenv("QLOCK_CHILD")), time.Second, func() { os.Exit(3) }, func() {}); err != nil {
			os.Exit(4)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Minute)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=TestALockDiesWithItsProcess")
	cmd.Env = append(os.Environ(), "QLOCK_CHILD="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("child: %q %v", buf, err)
	}
	var waited atomic.Int32
	l, err := TakeLock(lockDir(t, dir), 10*time.Millisecond, func() { waited.Add(1) }, func() {})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if isHeld(l) || waited.Load() != 1 {
		t.Fatal("took the lock a live process holds")
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for !isHeld(l) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !isHeld(l) {
		t.Fatal("no takeover after the holder was killed")
	}
}

// A takeover that fails with a panic leaves the process running: the
// waiter's goroutine is the last guard before Fluent Bit itself.
func TestAPanickingTakeoverDoesNotEndTheProcess(t *testing.T) {
	dir := t.TempDir()
	first, err := TakeLock(lockDir(t, dir), 10*time.Millisecond, func() {}, func() {})
	if err != nil {
		t.Fatal(err)
	}
	second, err := TakeLock(lockDir(t, dir), 10*time.Millisecond, func() {}, func() { panic("takeover broke") })
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !isHeld(second) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	second.Close() // returns: the goroutine ended
	if isHeld(second) {
		t.Fatal("still held after Close")
	}
}

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
		l, err := TakeLock(lockDir(t, dir), 10*time.Millisecond, func() { t.Error("waited") }, func() { t.Error("took the lock") })
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
