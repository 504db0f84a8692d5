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
	fh, st, err := openFile(q.h, f, unix.O_WRONLY|unix.O_APPEND)
	if err == nil {
		defer fh.Close()
		err = writeLine(fh, st.Size, line)
	}
	if err != nil {
		return fmt.Errorf("append to queue file: %w", err)
	}
	return nil
}

// Replace renames a copy holding content over f, if f is still the file at
// its path with its size; it needs only the directory's write permission.
func (q *Queue) Replace(f File, content []byte) (File, error) {
	tmp, err := copyAside(q.h, f, content, true)
	if err == nil {
		err = renameIn(q.h, tmp, f.Name, func() error { return unchanged(q.h, f) })
	}
	if err != nil {
		return File{}, err
	}
	return statName(q.h, f.Name)
}

// copyAside writes content to a new file under a hidden name without .send
// and returns the name; synced unless the caller syncs the file system.
func copyAside(h *Dir, f File, content []byte, sync bool) (string, error) {
	old, err := look(h, f)
	if err != nil {
		return "", fmt.Errorf("carry-over copy: %w", err)
	}
	tmp, err := writeHidden(h, "."+f.Name+".carry-", 0o600, content, sync, func(tmp *os.File, name string) error {
		// Whoever could read it still can; the group may append.
		if err := tmp.Chmod(os.FileMode(old.Mode)&0o664 | 0o060); err != nil {
			return err
		}
		return keepTimes(h, name, old) // the user's age counts from the mtime
	})
	if err != nil {
		return "", fmt.Errorf("carry-over copy: %w", err)
	}
	return tmp, nil
}

// unchanged checks that f is still the file at its path with its size: a
// re-queued file stays, and a line added since must not go unread.
func unchanged(h *Dir, f File) error {
	st, err := look(h, f)
	if err == nil && st.Size != f.Size {
		err = fmt.Errorf("%s: %w", quote(f.Path), ErrGrown)
	}
	return err
}

// keepTimes gives the new copy name in dir the times of the file it copies.
func keepTimes(dir *Dir, name string, of unix.Stat_t) error {
	if err := unix.UtimesNanoAt(dir.fd, name, []unix.Timespec{of.Atim, of.Mtim}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("keep the queue file's times: %w", err)
	}
	return nil
}
