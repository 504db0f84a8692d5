// Package queue touches the queue directory: it removes delivered queue
// files, moves dead ones aside and appends the dead-letter log. It only
// ever touches regular files directly inside the queue directory.
package queue

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrOutside marks a path the plugin refuses to touch.
var ErrOutside = errors.New("not a regular file directly inside Queue_Dir")

// Dir is the queue directory of one output instance.
type Dir struct {
	root string // absolute, symlinks resolved
}

// Open checks the queue directory.
func Open(root string) (*Dir, error) {
	resolved, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("queue directory: %w", err)
	}
	abs, err := filepath.Abs(resolved)
	if err != nil {
		return nil, fmt.Errorf("queue directory: %w", err)
	}
	return &Dir{root: abs}, nil
}

// Root is the queue directory, absolute, symlinks resolved: one directory
// has one root however it is named.
func (d *Dir) Root() string { return d.root }

// Writable checks that files can be created and removed in dir.
func Writable(dir string) error {
	f, err := os.CreateTemp(dir, ".umc-invite-probe-*")
	if err != nil {
		return fmt.Errorf("not writable: %w", err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// resolve maps a record's path to a queue file: the path must name an entry
// directly inside the queue directory, whatever "..", links or relative
// parts it uses, and the entry itself must not be a link. It returns
// fs.ErrNotExist, wrapped, when the file is gone.
func (d *Dir) resolve(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%q: %w", path, ErrOutside)
	}
	// The common case, the resolved root itself, needs no look-up.
	if parent := filepath.Dir(abs); parent != d.root {
		resolved, err := filepath.EvalSymlinks(parent)
		if err != nil || resolved != d.root {
			return "", fmt.Errorf("%q: %w", path, ErrOutside)
		}
	}
	name := filepath.Join(d.root, filepath.Base(abs))
	st, err := os.Lstat(name)
	if err != nil {
		return "", fmt.Errorf("queue file %s: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%q: %w", path, ErrOutside)
	}
	return name, nil
}

// File is one queue file as it was when looked at: its path and its
// identity on disk, which a later look compares against.
type File struct {
	Path     string // inside the queue directory, symlinks resolved
	Dev, Ino uint64
	Size     int64
}

// Key names the file on disk, whatever path a record reached it by.
func (f File) Key() string { return fmt.Sprintf("file:%d:%d", f.Dev, f.Ino) }

// Stat finds the queue file a record's path names. It returns
// fs.ErrNotExist, wrapped, when the file is gone, and ErrOutside for a
// path the plugin may not touch.
func (d *Dir) Stat(path string) (File, error) {
	name, err := d.resolve(path)
	if err != nil {
		return File{}, err
	}
	return statFile(name)
}

// statOf describes an open queue file.
func statOf(fh *os.File) (File, error) {
	st, err := fh.Stat()
	if err != nil {
		return File{}, fmt.Errorf("queue file: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return File{}, fmt.Errorf("%q: %w", fh.Name(), ErrOutside)
	}
	return File{Path: fh.Name(), Dev: uint64(sys.Dev), Ino: sys.Ino, Size: st.Size()}, nil
}

func statFile(name string) (File, error) {
	st, err := os.Lstat(name)
	if err != nil {
		return File{}, fmt.Errorf("queue file %s: %w", name, err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || !st.Mode().IsRegular() {
		return File{}, fmt.Errorf("%q: %w", name, ErrOutside)
	}
	return File{Path: name, Dev: uint64(sys.Dev), Ino: sys.Ino, Size: st.Size()}, nil
}

// HasLine reports whether f holds line at offset, ended by a newline (tail
// drops a carriage return before it): whether a record read from that path
// is of this file, not of one that left the queue before this one took its
// name.
func (d *Dir) HasLine(f File, offset int64, line string) (bool, error) {
	if offset < 0 || offset+int64(len(line)) >= f.Size {
		return false, nil
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("read queue file: %w", err)
	}
	defer fh.Close()
	buf := make([]byte, len(line)+2)
	n, err := fh.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read queue file: %w", err)
	}
	rest := string(buf[:n])
	if !strings.HasPrefix(rest, line) {
		return false, nil
	}
	end := rest[len(line):]
	return strings.HasPrefix(end, "\n") || strings.HasPrefix(end, "\r\n"), nil
}

// Current reports whether f is still the file at its path: not removed,
// moved or replaced by another since it was looked at.
func (d *Dir) Current(f File) (bool, error) {
	now, err := statFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return now.Dev == f.Dev && now.Ino == f.Ino, nil
}

// Append adds one line to the file in a single write and syncs it, so that
// tail reads it as a new record; a short write (full disk) is cut back off.
func (d *Dir) Append(f File, line []byte) error {
	fh, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("append to queue file: %w", err)
	}
	defer fh.Close()
	now, err := statOf(fh)
	if err != nil {
		return fmt.Errorf("append to queue file: %w", err)
	}
	if now.Dev != f.Dev || now.Ino != f.Ino {
		return fmt.Errorf("append to queue file %s: replaced by another file", f.Path)
	}
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

// Remove deletes a delivered file (Unlink) and syncs the directory so that
// a crash cannot bring it back.
func (d *Dir) Remove(f File) error {
	if err := d.Unlink(f); err != nil {
		return err
	}
	return d.Sync()
}

// Sync makes removals and renames in the queue directory survive a crash.
func (d *Dir) Sync() error { return syncDir(d.root) }

// Unlink deletes a delivered file, unless it is gone or another file has
// taken its place (a re-queue). A file that grew since f was looked at
// stays, with ErrGrown: somebody appended lines nobody has read yet.
func (d *Dir) Unlink(f File) error {
	now, err := statFile(f.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case now.Dev != f.Dev || now.Ino != f.Ino:
		return nil
	case now.Size > f.Size:
		return fmt.Errorf("%s: %w", f.Path, ErrGrown)
	}
	if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove queue file: %w", err)
	}
	return nil
}

// MoveTo moves a queue file into dir under the same name, replacing an
// older dead letter of the same name, and returns where it went. Both
// directories are synced; across file systems the copy is synced before
// the original goes.
func (d *Dir) MoveTo(f File, dir string) (string, error) {
	if same, err := d.Current(f); err != nil {
		return "", err
	} else if !same {
		return "", fmt.Errorf("queue file %s: %w", f.Path, fs.ErrNotExist)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("dead-letter directory: %w", err)
	}
	target := filepath.Join(dir, filepath.Base(f.Path))
	if err := os.Rename(f.Path, target); err != nil {
		// Another file system: copy, sync, then remove.
		if err := copyFile(f.Path, target); err != nil {
			os.Remove(target)
			return "", fmt.Errorf("move queue file to %s: %w", dir, err)
		}
		if err := syncDir(dir); err != nil {
			return "", err
		}
		if err := os.Remove(f.Path); err != nil {
			return "", fmt.Errorf("remove moved queue file: %w", err)
		}
		return target, syncDir(d.root)
	}
	if err := syncDir(dir); err != nil {
		return "", err
	}
	return target, syncDir(d.root)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// syncDir makes a rename, creation or removal in dir survive a crash.
func syncDir(dir string) error {
	fh, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer fh.Close()
	if err := fh.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
