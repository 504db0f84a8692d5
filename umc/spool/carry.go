//go:build linux

package spool

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// MaxFileSize caps what Read takes of a queue file: one user's line and a
// few carried-over lines are far below it.
const MaxFileSize = 64 << 10

// CompactAt is the size from which a carry-over replaces the file instead
// of appending to it: the file must stay one small user's file.
const CompactAt = 4 << 10

// ErrGrown marks a queue file that grew after it was looked at: removing
// it would take somebody's appended lines along unread.
var ErrGrown = errors.New("queue file grew since it was read")

// ErrTooBig marks a queue file over MaxFileSize: no one user's file.
var ErrTooBig = errors.New("queue file is too big to be one user's")

// Read returns the file's contents, at most MaxFileSize bytes, as long as
// f is still the file at its path (opened by name, fstat'ed first).
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

// Carry carries a record over into line, so that tail reads it as a new
// record, and returns the file that now holds it. It appends the line in
// one synced write; where the file is not writable for this process (a
// producer's 0644 file) or has grown to CompactAt, it replaces the file by
// a copy holding only line (Replace), which needs only the directory's
// write permission: tail reads the copy as a new file.
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

// Append adds line to f in a single write and syncs it, so that tail reads
// it as a new record; a short write (full disk) is cut back off.
func (q *Queue) Append(f File, line []byte) error {
	fh, now, err := openFile(q.h, f, unix.O_WRONLY|unix.O_APPEND)
	if err != nil {
		return fmt.Errorf("append to queue file: %w", err)
	}
	defer fh.Close()
	if n, err := fh.Write(line); err != nil {
		if n > 0 {
			_ = fh.Truncate(now.Size)
		}
		return fmt.Errorf("append to queue file: %w", err)
	}
	if err := fh.Sync(); err != nil {
		return fmt.Errorf("sync queue file: %w", err)
	}
	return nil
}

// Replace writes content under a hidden name and renames it over f, as long
// as f is still the file at its path with the size it had.
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

// copyAside writes content to a new file under a hidden name without
// .send (tail and the plugin pass it by) and returns the name; synced
// unless the caller syncs the file system itself.
func copyAside(h *Dir, f File, content []byte, sync bool) (string, error) {
	old, err := h.Lstat(f.name())
	if err != nil {
		return "", fmt.Errorf("carry-over copy: %w", err)
	}
	tmpName := hiddenName("." + f.name() + ".carry-")
	tmp, err := h.OpenFile(tmpName, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("carry-over copy: %w", err)
	}
	_, err = tmp.Write(content)
	if err == nil {
		// Whoever could read the file still can, nobody else; Fluent Bit's
		// group may write it, for the next carry-over's append.
		err = tmp.Chmod(os.FileMode(old.Mode)&0o664 | 0o060)
	}
	if err == nil && f.same(uint64(old.Dev), old.Ino) {
		// The same user's file keeps its mtime, where its age counts from.
		err = keepTimes(h, tmpName, old)
	}
	if err == nil && sync {
		err = tmp.Sync()
	}
	if err = cmp.Or(err, tmp.Close()); err != nil {
		unix.Unlinkat(h.FD(), tmpName, 0)
		return "", fmt.Errorf("carry-over copy: %w", err)
	}
	return tmpName, nil
}

// swapIn renames the copy tmpName over f, only over the file as it was
// read: a re-queued file that took its place stays, and a line added since
// would go with the old file unread.
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

// keepTimes gives the copy name in dir, just created (O_EXCL), the access
// and modification times of the file it copies.
func keepTimes(dir *Dir, name string, of unix.Stat_t) error {
	if err := unix.UtimesNanoAt(dir.FD(), name, []unix.Timespec{of.Atim, of.Mtim}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("keep the queue file's times: %w", err)
	}
	return nil
}
