package spool

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// producerFile writes a one-line queue file as a producer that is not
// Fluent Bit's user would: mode 0644, owned by root.
func producerFile(t *testing.T, dir, name, line string) File {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	q, err := OpenQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := q.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fluentBit is the user the shipped manifests run Fluent Bit as.
const fluentBit = 65532

// fluentBitQueueDir is a queue directory as the manifests prepare it:
// owned by root, group Fluent Bit's, with mode (e.g. 0o2775). It needs
// root, to play a producer and an unprivileged Fluent Bit.
func fluentBitQueueDir(t *testing.T, mode uint32) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to play the producer and an unprivileged Fluent Bit")
	}
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 0, fluentBit); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

// asUser runs f with the file-system ids of an unprivileged user, on one
// locked thread that dies with its goroutine.
func asUser(uid int, f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread goes with the goroutine
		unix.Setfsgid(uid)
		unix.Setfsuid(uid)
		f()
	}()
	<-done
}

// A queue file Fluent Bit's user may not write (a producer's 0644) is
// carried over by a copy renamed over it: the directory is writable.
func TestCarryReplacesAFileItMayNotAppendTo(t *testing.T) {
	dir := fluentBitQueueDir(t, 0o2775)
	f := producerFile(t, dir, "alice.send", "{\"username\": \"alice\"}\n")
	q, _ := OpenQueue(dir)
	var got File
	var err error
	asUser(fluentBit, func() { got, err = q.Carry(f, []byte("{\"charged\":1,\"username\":\"alice\"}\n")) })
	if err != nil {
		t.Fatalf("carry-over into a 0644 file of another user: %v", err)
	}
	if got.Key() == f.Key() {
		t.Fatalf("the file was appended to as another user; the test proves nothing")
	}
	data, _ := os.ReadFile(f.Path)
	if want := "{\"charged\":1,\"username\":\"alice\"}\n"; string(data) != want {
		t.Fatalf("after the carry-over the file holds %q, want %q", data, want)
	}
	if st, _ := os.Stat(f.Path); st.Mode().Perm() != 0o664 {
		t.Errorf("the replacement is %v, want 0664", st.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// A file that grew after it was looked at is not removed: the lines added
// have not been read.
func TestRemoveLeavesAFileThatGrew(t *testing.T) {
	dir := t.TempDir()
	f := producerFile(t, dir, "alice.send", "alice\n")
	if err := os.WriteFile(f.Path, []byte("alice\nbob\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	q, _ := OpenQueue(dir)
	if err := q.Remove(f); !errors.Is(err, ErrGrown) {
		t.Fatalf("Remove of a file that grew: %v, want ErrGrown", err)
	}
	if _, err := os.Stat(f.Path); err != nil {
		t.Fatalf("the file that grew is gone: %v", err)
	}
	now, _ := q.Stat(f.Path)
	if err := q.Remove(now); err != nil {
		t.Fatalf("Remove as it is now: %v", err)
	}
}

// the carry-over copy is always 0664, whatever the file it
// replaces allowed: a producer's 0640 file (readable by Fluent Bit's
// group, not by others) becomes world-readable.
func TestCarryCopyKeepsTheFilesReaders(t *testing.T) {
	dir := fluentBitQueueDir(t, 0o2770)
	f := producerFile(t, dir, "alice.send", "{\"username\": \"alice\"}\n")
	if err := os.Chown(f.Path, 0, fluentBit); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f.Path, 0o640); err != nil {
		t.Fatal(err)
	}
	q, _ := OpenQueue(dir)
	var err error
	asUser(fluentBit, func() { _, err = q.Carry(f, []byte("{\"charged\":1,\"username\":\"alice\"}\n")) })
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(f.Path)
	if st.Mode().Perm()&0o007 != 0 {
		t.Fatalf("the 0640 queue file was replaced by a %v copy: others may read it now", st.Mode().Perm())
	}
}

// (the copy path for a file Fluent Bit may not write) the
// copy no longer checks that the file is as big as when it was looked at.
// A producer's 0644 file that got a line appended after the flush read it
// ("echo bob >> alice.send", the producer's own append) is replaced by a
// copy holding only alice's carried line: bob's line is destroyed. Before
// an earlier fix, replaceWith refused such a file with ErrGrown.
func TestCarryCopyRefusesAFileThatGrew(t *testing.T) {
	dir := fluentBitQueueDir(t, 0o2775)
	f := producerFile(t, dir, "alice.send", "{\"username\": \"alice\"}\n")
	// The producer appends after the flush looked at the file (same inode).
	if err := os.WriteFile(f.Path, []byte("{\"username\": \"alice\"}\nbob\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	q, _ := OpenQueue(dir)
	var err error
	asUser(fluentBit, func() { _, err = q.Carry(f, []byte("{\"charged\":1,\"username\":\"alice\"}\n")) })
	data, _ := os.ReadFile(f.Path)
	if err == nil && !strings.Contains(string(data), "bob") {
		t.Fatalf("carry-over by copy over a file that grew since it was read: no error, and bob's line is gone: %q", data)
	}
}

// (the compaction path) the same without permissions, for
// a file grown to CompactAt.
func TestCompactionRefusesAFileThatGrew(t *testing.T) {
	dir := t.TempDir()
	carry := "{\"charged\":0,\"username\":\"alice\"}\n"
	f := producerFile(t, dir, "alice.send", "{\"username\": \"alice\"}\n"+strings.Repeat(carry, CompactAt/len(carry)))
	fh, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString("bob\n")
	fh.Close()
	q, _ := OpenQueue(dir)
	_, err = q.Carry(f, []byte(carry))
	data, _ := os.ReadFile(f.Path)
	if err == nil && !strings.Contains(string(data), "bob") {
		t.Fatalf("compaction of a file that grew since it was read: no error, and bob's line is gone: %q", data)
	}
}
