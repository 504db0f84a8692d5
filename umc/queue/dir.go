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

// Gone reports whether a queue file no longer exists: its record was
// delivered or dead-lettered before (by an earlier run, say). A path the
// plugin may not touch is never gone.
func (d *Dir) Gone(path string) bool {
	_, err := d.resolve(path)
	return errors.Is(err, fs.ErrNotExist)
}

// Remove deletes a delivered record's queue file; a file already gone is
// no error.
func (d *Dir) Remove(path string) error {
	name, err := d.resolve(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove queue file: %w", err)
	}
	return nil
}

// MoveTo moves a queue file into dir under the same name, replacing an
// older dead letter of the same name, and returns where it went.
func (d *Dir) MoveTo(path, dir string) (string, error) {
	name, err := d.resolve(path)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("dead-letter directory: %w", err)
	}
	target := filepath.Join(dir, filepath.Base(name))
	err = os.Rename(name, target)
	if err == nil {
		return target, nil
	}
	// Another file system: copy, then remove.
	if err := copyFile(name, target); err != nil {
		return "", fmt.Errorf("move queue file to %s: %w", dir, err)
	}
	if err := os.Remove(name); err != nil {
		return "", fmt.Errorf("remove moved queue file: %w", err)
	}
	return target, nil
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
	return out.Close()
}
