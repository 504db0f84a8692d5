package queue

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"umc-invite/umc/dirhandle"
	"umc-invite/umc/logtext"
)

// MaxFileSize caps what Read takes of a queue file: one user's line and a
// few carried-over lines are far below it.
const MaxFileSize = 64 << 10

// ErrGrown marks a queue file that grew after it was looked at: somebody
// appended to it, and removing it would take their lines along unread.
var ErrGrown = errors.New("queue file grew since it was read")

// ErrTooBig marks a queue file over MaxFileSize: no one user's file.
var ErrTooBig = errors.New("queue file is too big to be one user's")

// Read returns the file's contents, at most MaxFileSize bytes, as long as
// f is still the file at its path: opened by name in the queue directory,
// never through a symlink nor waiting on a FIFO, and fstat'ed (a regular
// file, f's inode) before a byte is read.
func (d *Dir) Read(f File) ([]byte, error) {
	fh, _, err := d.open(f, unix.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("read queue file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read queue file: %w", err)
	}
	if len(data) > MaxFileSize {
		return data[:MaxFileSize], fmt.Errorf("%s is over %d bytes: %w", logtext.Quote(f.Path), MaxFileSize, ErrTooBig)
	}
	return data, nil
}

// CompactAt is the size from which a carry-over replaces the file instead
// of appending to it: a long outage carries a user over about once a
// minute, and the file must stay one small user's file.
const CompactAt = 4 << 10

// Carry carries a record over into line, so that tail reads it as a new
// record, and returns the file that now holds it. It appends the line
// (Append). When the file is not writable for this process (a producer
// wrote it 0644 as another user), or has grown to CompactAt, it replaces
// the file instead with a copy holding only line, written under a hidden
// name and renamed over it, which needs only the directory's write
// permission: tail reads the copy as a new file from its head, and the
// lines before, superseded by line, are gone with the old file.
func (d *Dir) Carry(f File, line []byte) (File, error) {
	if f.Size+int64(len(line)) > CompactAt {
		return d.Replace(f, line)
	}
	err := d.Append(f, line)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return f, err
	}
	replaced, rerr := d.Replace(f, line)
	if rerr != nil {
		return f, fmt.Errorf("%w; replacing it: %w", err, rerr)
	}
	return replaced, nil
}

// Replace writes content under a hidden name and renames it over f, as long
// as f is still the file at its path with the size it had (see Carry).
func (d *Dir) Replace(f File, content []byte) (File, error) {
	tmpName, err := d.copyAside(f, content, true)
	if err != nil {
		return File{}, err
	}
	defer unix.Unlinkat(d.h.FD(), tmpName, 0) // after the rename, a no-op
	if err := d.swapIn(f, tmpName); err != nil {
		return File{}, err
	}
	if err := d.Sync(); err != nil {
		return File{}, err
	}
	return d.statFile(f)
}

// copyAside writes content to a new file under a hidden name and returns
// the name; synced unless the caller syncs the file system itself.
func (d *Dir) copyAside(f File, content []byte, sync bool) (string, error) {
	old, err := d.h.Lstat(f.name())
	if err != nil {
		return "", fmt.Errorf("carry-over copy: %w", err)
	}
	// A hidden name without .send: tail and the plugin pass it by.
	tmpName := hiddenName("." + f.name() + ".carry-")
	tmp, err := d.h.OpenFile(tmpName, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("carry-over copy: %w", err)
	}
	_, err = tmp.Write(content)
	if err == nil {
		// Whoever could read the file still can, nobody else; Fluent
		// Bit's group may write it, for the next carry-over's append.
		err = tmp.Chmod(os.FileMode(old.Mode)&0o664 | 0o060)
	}
	if err == nil && old.Dev == f.Dev && old.Ino == f.Ino {
		// The copy is the same user's file: it keeps its modification
		// time, where the user's age counts from when no carried-over line
		// says otherwise (a takeover's Renew copies files that hold none).
		err = keepTimes(d.h, tmpName, old)
	}
	if err == nil && sync {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		unix.Unlinkat(d.h.FD(), tmpName, 0)
		return "", fmt.Errorf("carry-over copy: %w", err)
	}
	return tmpName, nil
}

// swapIn renames the copy tmpName over f, only over the file that was
// read, as it was read: a re-queued file took its place otherwise, and it
// stays; a line added since (another user's, say) would go with the old
// file unread.
func (d *Dir) swapIn(f File, tmpName string) error {
	now, err := d.statFile(f)
	switch {
	case err != nil:
		return err
	case now.Dev != f.Dev || now.Ino != f.Ino:
		return fmt.Errorf("%s was replaced meanwhile: %w", logtext.Quote(f.Path), fs.ErrNotExist)
	case now.Size != f.Size:
		return fmt.Errorf("%s: %w", logtext.Quote(f.Path), ErrGrown)
	}
	if err := unix.Renameat(d.h.FD(), tmpName, d.h.FD(), f.name()); err != nil {
		return fmt.Errorf("carry-over copy: %w", err)
	}
	return nil
}

// keepTimes gives the copy name in dir, which the caller has just created
// (O_EXCL), the access and modification times of the file it copies.
func keepTimes(dir *dirhandle.Dir, name string, of unix.Stat_t) error {
	ts := []unix.Timespec{of.Atim, of.Mtim}
	if err := unix.UtimesNanoAt(dir.FD(), name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("keep the queue file's times: %w", err)
	}
	return nil
}
