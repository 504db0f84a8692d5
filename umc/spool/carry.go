//go:build linux

package spool

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// MaxFileSize caps what Read takes of a queue file: far over one user's.
const MaxFileSize = 64 << 10

// CompactAt is the size from which a carry-over replaces the file instead
// of appending to it.
const CompactAt = 4 << 10

// ErrGrown marks a queue file that grew after it was looked at.
var ErrGrown = errors.New("queue file grew since it was read")

// ErrTooBig marks a queue file over MaxFileSize.
var ErrTooBig = errors.New("queue file is too big to be one user's")

// Read returns f's contents, at most MaxFileSize bytes, if f is still the
// file at its path.
func (q *Queue) Read(f File) ([]byte, error) {
	fh, _, err := openFile(q.h, f, unix.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("read queue file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read queue file: %w", err)
	}
	if len(data) > MaxFileSize {
		return data[:MaxFileSize], fmt.Errorf("%s is over %d bytes: %w", quote(f.Path), MaxFileSize, ErrTooBig)
	}
	return data, nil
}

// Carry carries a record over into line, for tail to read as a new record,
// and returns the file now holding it: appended, or where the file is not
// writable for this process (a producer's 0644 file) or has grown to
// CompactAt, replaced by a copy holding only line (tail reads it anew).
func (q *Queue) Carry(f File, line []byte) (File, error) {
	if f.Size+int64(len(line)) > CompactAt {
		return q.Replace(f, line)
	}
	err := q.Append(f, line)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return f, err
	}
	replaced, rerr := q.Replace(f, line)
	if rerr != nil {
		return f, fmt.Errorf("%w; replacing it: %w", err, rerr)
	}
	return replaced, nil
}

// Append adds line to f in one synced write; a short one is cut back off.
func (q *Queue) Append(f File, line []byte) error {
	fh, now, err := openFile(q.h, f, unix.O_WRONLY|unix.O_APPEND)
	if err != nil {
		return fmt.Errorf("append to queue file: %w", err)
	}
	defer fh.Close()
	if err := writeLine(fh, now.Size, line); err != nil {
		return fmt.Errorf("append to queue file: %w", err)
	}
	return nil
}

// Replace renames a copy holding content over f, if f is still the file at
// its path with its size; it needs only the directory's write permission.
func (q *Queue) Replace(f File, content []byte) (File, error) {
	tmpName, err := copyAside(q.h, f, content, true)
	if err != nil {
		return File{}, err
	}
	defer unix.Unlinkat(q.h.FD(), tmpName, 0) // after the rename, a no-op
	if err := swapIn(q.h, f, tmpName); err != nil {
		return File{}, err
	}
	if err := q.h.Sync(); err != nil {
		return File{}, err
	}
	return statName(q.h, f.name())
}

// copyAside writes content to a new file under a hidden name without .send
// and returns the name; synced unless the caller syncs the file system.
func copyAside(h *Dir, f File, content []byte, sync bool) (string, error) {
	old, err := h.Lstat(f.name())
	if err != nil {
		return "", fmt.Errorf("carry-over copy: %w", err)
	}
	tmpName, err := writeHidden(h, "."+f.name()+".carry-", 0o600, content, sync, func(tmp *os.File, name string) error {
		// Whoever could read it still can; the group may append.
		err := tmp.Chmod(os.FileMode(old.Mode)&0o664 | 0o060)
		if err == nil && f.same(uint64(old.Dev), old.Ino) {
			err = keepTimes(h, name, old) // the user's age counts from the mtime
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("carry-over copy: %w", err)
	}
	return tmpName, nil
}

// swapIn renames tmpName over f, only over f as it was read: a re-queued
// file stays, and a line added since must not go unread.
func swapIn(h *Dir, f File, tmpName string) error {
	now, err := statName(h, f.name())
	switch {
	case err != nil:
		return err
	case !f.same(now.Dev, now.Ino):
		return fmt.Errorf("%s was replaced meanwhile: %w", quote(f.Path), fs.ErrNotExist)
	case now.Size != f.Size:
		return fmt.Errorf("%s: %w", quote(f.Path), ErrGrown)
	}
	if err := unix.Renameat(h.FD(), tmpName, h.FD(), f.name()); err != nil {
		return fmt.Errorf("carry-over copy: %w", err)
	}
	return nil
}

// keepTimes gives the new copy name in dir the times of the file it copies.
func keepTimes(dir *Dir, name string, of unix.Stat_t) error {
	if err := unix.UtimesNanoAt(dir.FD(), name, []unix.Timespec{of.Atim, of.Mtim}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("keep the queue file's times: %w", err)
	}
	return nil
}
