package spool

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A file listed by statx is the same file to every later look that uses
// stat(2) on this machine's file systems: it is read, found current, and
// removed once delivered (a device number encoded differently would make a
// delivered file look replaced, so never removed).
func TestAListedFileIsTheSameFileToReadCurrentAndRemove(t *testing.T) {
	dirs := []string{t.TempDir()}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "spool-seam-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			dirs = append(dirs, d)
		}
	}
	for _, dir := range dirs {
		q, err := OpenQueue(dir)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "bob.send")
		if err := os.WriteFile(path, []byte("{\"username\":\"bob\"}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := q.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			t.Fatal(err)
		}
		if f.Dev != uint64(st.Dev) || f.Ino != st.Ino {
			t.Errorf("%s: statx says device %d inode %d, stat(2) device %d inode %d", dir, f.Dev, f.Ino, st.Dev, st.Ino)
		}
		if cur, err := q.Current(f); !cur || err != nil {
			t.Errorf("%s: the file just listed is not current (%v)", dir, err)
		}
		if data, err := q.Read(f); err != nil || len(data) != int(f.Size) {
			t.Errorf("%s: read %d bytes (%v), want %d", dir, len(data), err, f.Size)
		}
		if err := q.Remove(f); err != nil {
			t.Errorf("%s: remove: %v", dir, err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%s: a delivered file was never removed: %v", dir, err)
		}
		q.Close()
	}
}

// A file replaced by another under its name between the listing and the
// read is not read for it, nor removed for it: the new file's user is sent
// by its own record.
func TestAFileReplacedBetweenStatAndReadIsNeitherReadNorRemoved(t *testing.T) {
	root, _, q := setup(t)
	path := filepath.Join(root, "bob.send")
	if err := os.WriteFile(path, []byte("{\"username\":\"bob\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := q.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	carol := []byte("{\"username\":\"carol\"}\n")
	tmp := filepath.Join(root, ".new")
	if err := os.WriteFile(tmp, carol, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if data, err := q.Read(f); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read the replacing file for the listed one: %q, %v", data, err)
	}
	if err := q.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("remove: %v", err)
	}
	if data, err := os.ReadFile(path); err != nil || !bytes.Equal(data, carol) {
		t.Errorf("the replacing file was removed or changed: %q, %v", data, err)
	}
}

// An empty queue file and one of exactly a page are read as they are.
func TestReadAnEmptyFileAndOneOfAPage(t *testing.T) {
	root, _, q := setup(t)
	for _, size := range []int{0, os.Getpagesize()} {
		path := filepath.Join(root, "u.send")
		content := bytes.Repeat([]byte("y"), size)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := q.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, 0); err != nil { // shrunk after the listing
			t.Fatal(err)
		}
		if data, err := q.Read(f); err != nil || len(data) != 0 {
			t.Errorf("%d bytes listed, emptied since: got %d bytes, %v", size, len(data), err)
		}
	}
}
