//go:build linux

// Package dirhandle holds the plugin's directories open for its life: each
// is opened once, at start, and every file in it is then reached relative
// to the descriptor (openat, renameat2, unlinkat), so that nobody who can
// write a directory can send the plugin elsewhere by swapping a path.
package dirhandle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is one directory held open.
type Dir struct {
	fd int
	// Path is the directory as opened: the configured path with its
	// symlinks resolved once, at start. It names the directory in
	// messages; nothing is reached through it.
	Path string
	// Configured is the path as configured, made absolute and clean:
	// Fluent Bit's tail names files by it.
	Configured string
	dev, ino   uint64
}

const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// Open resolves a configured directory once and opens it. Its symlinks
// are the operator's choice, resolved now; Path says where it led.
func Open(path string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(resolved, dirFlags, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open directory", Path: resolved, Err: err}
	}
	return held(fd, resolved, abs)
}

func held(fd int, path, configured string) (*Dir, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "stat directory", Path: path, Err: err}
	}
	return &Dir{fd: fd, Path: path, Configured: configured, dev: uint64(st.Dev), ino: st.Ino}, nil
}

// ErrSymlink marks a directory inside another held directory that is a
// symlink (or no directory): whoever writes the outer one could point it
// anywhere.
var ErrSymlink = errors.New("is a symlink or not a directory: refused, whoever writes its parent could point it anywhere")

// Child reports whether path is a direct child of d (by its resolved or
// its configured name), and returns the child's name.
func (d *Dir) Child(path string) (string, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false
	}
	parent, name := filepath.Dir(abs), filepath.Base(abs)
	if (parent != d.Path && parent != d.Configured) || !ValidName(name) {
		return "", false
	}
	return name, true
}

// below returns the names leading from d to path, when path lies below d
// (by its resolved or its configured name).
func (d *Dir) below(path string) ([]string, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, false
	}
	for _, root := range []string{d.Path, d.Configured} {
		rel, err := filepath.Rel(root, abs)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		return strings.Split(rel, string(filepath.Separator)), true
	}
	return nil, false
}

// ValidName reports whether name can only name an entry directly in a
// directory: not empty, ".", "..", and without a slash or NUL.
func ValidName(name string) bool {
	if name == "" || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return false
		}
	}
	return true
}

// OpenIn opens path: a path below d is opened step by step relative to d,
// never through a symlink (ErrSymlink), each missing step created with
// perm when create is set (then chmod'ed to perm, whatever the umask); any
// other path is resolved once (Open) and created first with MkdirAll when
// create is set.
func OpenIn(d *Dir, path string, create bool, perm fs.FileMode) (*Dir, error) {
	if d != nil {
		if names, ok := d.below(path); ok {
			// Each step relative to the one before, never through a
			// symlink: whoever writes d could point any of them elsewhere.
			cur := d
			for _, name := range names {
				next, err := cur.openChild(name, create, perm)
				if cur != d {
					cur.Close()
				}
				if err != nil {
					return nil, err
				}
				cur = next
			}
			return cur, nil
		}
	}
	if create {
		if err := os.MkdirAll(path, perm.Perm()); err != nil {
			return nil, err
		}
	}
	return Open(path)
}

func (d *Dir) openChild(name string, create bool, perm fs.FileMode) (*Dir, error) {
	path := filepath.Join(d.Path, name)
	fd, err := unix.Openat(d.fd, name, dirFlags, 0)
	if errors.Is(err, unix.ENOENT) && create {
		if err := unix.Mkdirat(d.fd, name, uint32(perm.Perm())); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, &fs.PathError{Op: "create directory", Path: path, Err: err}
		}
		fd, err = unix.Openat(d.fd, name, dirFlags, 0)
		if err == nil {
			mode := uint32(perm.Perm())
			if perm&fs.ModeSetgid != 0 {
				mode |= unix.S_ISGID
			}
			if perm&fs.ModeSticky != 0 {
				mode |= unix.S_ISVTX
			}
			_ = unix.Fchmod(fd, mode)
		}
	}
	switch {
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
		return nil, fmt.Errorf("%s %w", path, ErrSymlink)
	case err != nil:
		return nil, &fs.PathError{Op: "open directory", Path: path, Err: err}
	}
	return held(fd, path, filepath.Join(d.Configured, name))
}

// FD is the descriptor; it stays d's: do not close it.
func (d *Dir) FD() int { return d.fd }

// Same reports whether two held directories are one.
func (d *Dir) Same(o *Dir) bool { return d.dev == o.dev && d.ino == o.ino }

// Mode is the directory's permission bits, with set-group-ID and sticky.
func (d *Dir) Mode() (fs.FileMode, error) {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return 0, err
	}
	m := fs.FileMode(st.Mode & 0o777)
	if st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m, nil
}

// ModTime is the directory's mtime in nanoseconds.
func (d *Dir) ModTime() (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return 0, err
	}
	return st.Mtim.Nano(), nil
}

// Sync makes creations, renames and removals in d survive a crash.
func (d *Dir) Sync() error {
	if err := unix.Fsync(d.fd); err != nil {
		return &fs.PathError{Op: "sync directory", Path: d.Path, Err: err}
	}
	return nil
}

// Lstat describes the entry name without following it.
func (d *Dir) Lstat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	return st, err
}

// OpenFile opens the entry name, never through a symlink and never waiting
// on a FIFO or a device (O_NONBLOCK): what it opened is for the caller to
// fstat.
func (d *Dir) OpenFile(name string, flags int, perm uint32) (*os.File, error) {
	fd, err := unix.Openat(d.fd, name, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, perm)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: filepath.Join(d.Path, name), Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(d.Path, name)), nil
}

// Each lists d in batches, giving each entry's name and type (from the
// directory entry; no stat where the file system reports it).
func (d *Dir) Each(fn func(name string, t fs.FileMode)) error {
	fd, err := unix.Openat(d.fd, ".", dirFlags, 0)
	if err != nil {
		return &fs.PathError{Op: "list directory", Path: d.Path, Err: err}
	}
	f := os.NewFile(uintptr(fd), d.Path)
	defer f.Close()
	for {
		ents, err := f.ReadDir(1024)
		for _, e := range ents {
			fn(e.Name(), e.Type())
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Close gives the descriptor back.
func (d *Dir) Close() error {
	if d == nil || d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// TypeName names an entry's type for a message: "symlink", "FIFO", ...
func TypeName(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFDIR:
		return "directory"
	}
	return "file of unknown type"
}
