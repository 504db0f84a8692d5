//go:build linux

package intake

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// fullDisk mounts a small tmpfs (root only) and returns a queue directory
// on it and a function that fills the rest of the file system.
func fullDisk(t *testing.T) (queue, intake string, fill func() (free func())) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounts a tmpfs")
	}
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	queue = filepath.Join(mnt, "queue")
	if err := os.Mkdir(queue, 0o755); err != nil {
		t.Fatal(err)
	}
	fill = func() func() {
		path := filepath.Join(mnt, "filler")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		block := make([]byte, 4096)
		for {
			if _, err := f.Write(block); err != nil {
				if !errors.Is(err, unix.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
		f.Close()
		return func() { os.Remove(path) }
	}
	return queue, filepath.Join(queue, "incoming"), fill
}

// A full disk while the intake admits: no user is lost or doubled, and
// once space is back the window holds no more than its size, the rest
// waiting in the intake.
func TestAFullDiskDuringAdmissionKeepsTheWindowAndEveryUserOnce(t *testing.T) {
	queue, intake, fill := fullDisk(t)
	w := open(t, queue, intake, 3)
	var users []string
	for i := range 8 {
		u := fmt.Sprintf("u%d", i)
		put(t, intake, u, i)
		users = append(users, u)
	}
	free := fill()
	w.Start(nil)
	for range 8 {
		if _, err := w.TopUp(); err == nil {
			break
		}
	}
	free()
	if _, _, err := w.Count(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.TopUp(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got := names(t, queue); len(got) > 3 {
		t.Errorf("queue holds %d files after the disk was full: %v, want at most the window's 3", len(got), got)
	}
	once(t, queue, intake, users)
}
