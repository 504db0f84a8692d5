package spool

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Where a seccomp filter older than statx(2) refuses it (ENOSYS or EPERM),
// a queue file is looked at with lstat: the same file, size and age, no
// birth time; it is read, found current and removed once delivered, and a
// symlink or FIFO is still refused unread.
func TestWithoutStatxAQueueFileIsStillReadAndRemovedAndASymlinkRefused(t *testing.T) {
	for _, refusal := range []syscall.Errno{unix.ENOSYS, unix.EPERM} {
		t.Run(refusal.Error(), func(t *testing.T) {
			dir := t.TempDir()
			q, err := OpenQueue(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			path := filepath.Join(dir, "bob.send")
			if err := os.WriteFile(path, []byte("{\"username\":\"bob\"}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			withStatx, err := q.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			calls := 0
			statx = func(int, string, int, int, *unix.Statx_t) error { calls++; return refusal }
			defer func() { statx = unix.Statx }()

			f, err := q.Stat(path)
			if err != nil || calls != 1 {
				t.Fatalf("stat without statx: %+v, %v (statx tried %d times)", f, err, calls)
			}
			if f.ID() != withStatx.ID() || f.Size != withStatx.Size || f.Modified != withStatx.Modified || f.Born != 0 {
				t.Fatalf("without statx %+v, with it %+v: want the same file, size and age, no birth time", f, withStatx)
			}
			if data, err := q.Read(f); err != nil || string(data) != "{\"username\":\"bob\"}\n" {
				t.Fatalf("read %q, %v", data, err)
			}
			if current, err := q.Current(f); !current || err != nil {
				t.Fatalf("current %v, %v", current, err)
			}
			if err := q.RemoveUnsynced(f); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("delivered file still there: %v", err)
			}

			link := filepath.Join(dir, "eve.send")
			if err := os.Symlink("/etc/passwd", link); err != nil {
				t.Fatal(err)
			}
			var notRegular *NotRegularError
			if _, err := q.Stat(link); !errors.As(err, &notRegular) {
				t.Fatalf("a symlink without statx: %v, want it refused as not regular", err)
			}
		})
	}
}
