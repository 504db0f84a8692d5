//go:build linux

// Package queue touches the queue directory: it removes delivered queue
// files, moves dead ones aside and appends the dead-letter log. It only
// ever touches regular files directly inside the queue directory, reached
// through the directory's descriptor, held from start (dirhandle): never a
// path twice, never through a symlink, never waiting on a FIFO.
package queue

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"umc-invite/umc/dirhandle"
	"umc-invite/umc/logtext"
)

// ErrOutside marks a path the plugin refuses to touch.
var ErrOutside = errors.New("not a regular file directly inside Queue_Dir")

// NotRegularError is a queue entry that is no regular file: a symlink, a
// FIFO, a socket, a device or a directory. It is never opened or read;
// the message names the entry (quoted) and its type, nothing of what it
// points at.
type NotRegularError struct {
	Name     string // the entry's name in the queue directory
	Path     string // the queue directory joined with Name, for messages
	Type     string // "symlink", "FIFO", ...
	Dev, Ino uint64 // the entry itself (not followed)
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("queue entry %s is a %s, not a regular file", logtext.Quote(e.Path), e.Type)
}

// Dir is the queue directory of one output instance, held open.
type Dir struct {
	h    *dirhandle.Dir
	dead *DeadLetters // where MoveTo moves by descriptor; see OpenDeadLetters

	mu      sync.Mutex
	evicted map[[2]uint64]bool // non-regular entries reported once
}

// Open opens the queue directory once, its path resolved now, and checks
// that files can be created and removed in it.
func Open(root string) (*Dir, error) {
	h, err := dirhandle.Open(root)
	if err != nil {
		return nil, fmt.Errorf("queue directory: %w", err)
	}
	d := &Dir{h: h, evicted: map[[2]uint64]bool{}}
	if err := writable(h); err != nil {
		h.Close()
		return nil, err
	}
	return d, nil
}

// Root is the queue directory, absolute, symlinks resolved at start: one
// directory has one root however it is named.
func (d *Dir) Root() string { return d.h.Path }

// Handle is the held directory (for the queue lock and the intake).
func (d *Dir) Handle() *dirhandle.Dir { return d.h }

// Close gives the directory's descriptor back (and the dead letters'
// opened with OpenDeadLetters).
func (d *Dir) Close() error {
	if d == nil {
		return nil
	}
	if d.dead != nil {
		d.dead.Close()
	}
	return d.h.Close()
}

// writable checks that files can be created and removed in a held
// directory, by its descriptor.
func writable(h *dirhandle.Dir) error {
	name := hiddenName(".umc-invite-probe-")
	f, err := h.OpenFile(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("not writable: %w", err)
	}
	f.Close()
	if err := unix.Unlinkat(h.FD(), name, 0); err != nil {
		return fmt.Errorf("not writable: remove probe file: %w", err)
	}
	return nil
}

func hiddenName(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// IsQueueName reports whether tail reads the entry name as a queue file:
// "<user>.send", not hidden.
func IsQueueName(name string) bool {
	return strings.HasSuffix(name, ".send") && !strings.HasPrefix(name, ".")
}

// File is one queue file as it was when looked at: its name and its
// identity on disk, which a later look compares against.
type File struct {
	Path     string // the queue directory (resolved) joined with Name, for messages
	Name     string // the entry's name in the queue directory
	Dev, Ino uint64
	Size     int64
}

// Key names the file on disk, whatever path a record reached it by.
func (f File) Key() string { return fmt.Sprintf("file:%d:%d", f.Dev, f.Ino) }

// name is the entry a File stands for: its Name, or for a File built by
// hand the base of its Path.
func (f File) name() string {
	if f.Name != "" {
		return f.Name
	}
	return filepath.Base(f.Path)
}

// Stat finds the queue file a record's path names: a direct child of the
// queue directory by name, looked at without following it. It returns
// fs.ErrNotExist, wrapped, when the file is gone, ErrOutside for a path
// that is not directly inside the queue directory, and a
// *NotRegularError for an entry that is no regular file.
func (d *Dir) Stat(path string) (File, error) {
	name, ok := d.h.Child(path)
	if !ok {
		return File{}, fmt.Errorf("%s: %w", logtext.Quote(path), ErrOutside)
	}
	return d.statName(name)
}

func (d *Dir) statName(name string) (File, error) {
	st, err := d.h.Lstat(name)
	path := filepath.Join(d.h.Path, name)
	if err != nil {
		return File{}, fmt.Errorf("queue file %s: %w", logtext.Quote(path), err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return File{}, &NotRegularError{Name: name, Path: path, Type: dirhandle.TypeName(st.Mode), Dev: uint64(st.Dev), Ino: st.Ino}
	}
	return File{Path: path, Name: name, Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size}, nil
}

// statFile looks at f's entry again.
func (d *Dir) statFile(f File) (File, error) { return d.statName(f.name()) }

// open opens f's entry without following a symlink or waiting on a FIFO,
// and checks that what it opened is f: a regular file, the same inode.
func (d *Dir) open(f File, flags int) (*os.File, File, error) {
	fh, err := d.h.OpenFile(f.name(), flags, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, File{}, fmt.Errorf("queue file %s was replaced by a symlink: %w", logtext.Quote(f.Path), fs.ErrNotExist)
		}
		return nil, File{}, err
	}
	now, err := statOf(fh)
	if err != nil {
		fh.Close()
		return nil, File{}, err
	}
	if now.Dev != f.Dev || now.Ino != f.Ino {
		fh.Close()
		return nil, File{}, fmt.Errorf("queue file %s was replaced by another: %w", logtext.Quote(f.Path), fs.ErrNotExist)
	}
	now.Name, now.Path = f.name(), f.Path
	return fh, now, nil
}

// statOf describes an open queue file; anything but a regular file is
// refused.
func statOf(fh *os.File) (File, error) {
	st, err := fh.Stat()
	if err != nil {
		return File{}, fmt.Errorf("queue file: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || !st.Mode().IsRegular() {
		return File{}, fmt.Errorf("%s: %w", logtext.Quote(fh.Name()), ErrOutside)
	}
	return File{Path: fh.Name(), Dev: uint64(sys.Dev), Ino: sys.Ino, Size: st.Size()}, nil
}

// HasLine reports whether f holds line at offset, ended by a newline (tail
// drops a carriage return before it): whether a record read from that path
// is of this file, not of one that left the queue before this one took its
// name.
func (d *Dir) HasLine(f File, offset int64, line string) (bool, error) {
	if offset < 0 || offset+int64(len(line)) >= f.Size {
		return false, nil
	}
	fh, _, err := d.open(f, unix.O_RDONLY)
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
	now, err := d.statFile(f)
	var notRegular *NotRegularError
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.As(err, &notRegular):
		return false, nil
	case err != nil:
		return false, err
	}
	return now.Dev == f.Dev && now.Ino == f.Ino, nil
}

// Append adds one line to the file in a single write and syncs it, so that
// tail reads it as a new record; a short write (full disk) is cut back off.
func (d *Dir) Append(f File, line []byte) error {
	fh, now, err := d.open(f, unix.O_WRONLY|unix.O_APPEND)
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

// Remove deletes a delivered file (Unlink) and syncs the directory so that
// a crash cannot bring it back.
func (d *Dir) Remove(f File) error {
	if err := d.Unlink(f); err != nil {
		return err
	}
	return d.Sync()
}

// Sync makes removals and renames in the queue directory survive a crash.
func (d *Dir) Sync() error { return d.h.Sync() }

// Unlink deletes a delivered file, unless it is gone or another file has
// taken its place (a re-queue). A file that grew since f was looked at
// stays, with ErrGrown: somebody appended lines nobody has read yet.
func (d *Dir) Unlink(f File) error {
	now, err := d.statFile(f)
	var notRegular *NotRegularError
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.As(err, &notRegular):
		return nil
	case err != nil:
		return err
	case now.Dev != f.Dev || now.Ino != f.Ino:
		return nil
	case now.Size > f.Size:
		return fmt.Errorf("%s: %w", logtext.Quote(f.Path), ErrGrown)
	}
	if err := unix.Unlinkat(d.h.FD(), f.name(), 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove queue file %s: %w", logtext.Quote(f.Path), err)
	}
	return nil
}

// Evict removes a queue entry that is no regular file, as long as it is
// still that entry, and syncs the directory. A directory goes only when
// empty (unlinkat AT_REMOVEDIR). first tells whether this call is the
// first to report the entry: its dead letter is written once.
func (d *Dir) Evict(e *NotRegularError) (first bool, err error) {
	key := [2]uint64{e.Dev, e.Ino}
	d.mu.Lock()
	first = !d.evicted[key]
	d.evicted[key] = true
	d.mu.Unlock()
	st, err := d.h.Lstat(e.Name)
	switch {
	case errors.Is(err, unix.ENOENT):
		return first, nil
	case err != nil:
		return first, fmt.Errorf("queue entry %s: %w", logtext.Quote(e.Path), err)
	case uint64(st.Dev) != e.Dev || st.Ino != e.Ino:
		return first, nil // replaced meanwhile: not this entry
	}
	flags := 0
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		flags = unix.AT_REMOVEDIR
	}
	if err := unix.Unlinkat(d.h.FD(), e.Name, flags); err != nil && !errors.Is(err, unix.ENOENT) {
		return first, fmt.Errorf("remove queue entry %s: %w", logtext.Quote(e.Path), err)
	}
	return first, d.Sync()
}

// NotRegular lists the entries of the queue directory that tail would
// look at (*.send, not hidden) and are no regular file.
func (d *Dir) NotRegular() ([]*NotRegularError, error) {
	var names []string
	err := d.h.Each(func(name string, t fs.FileMode) {
		if IsQueueName(name) && !t.IsRegular() {
			names = append(names, name)
		}
	})
	var out []*NotRegularError
	for _, name := range names {
		var notRegular *NotRegularError
		if _, err := d.statName(name); errors.As(err, &notRegular) {
			out = append(out, notRegular)
		}
	}
	return out, err
}

// Unwatched lists the queue files whose name holds a control character
// (a byte below 0x20, or 0x7f): the shipped configs give tail
// `Exclude_Path *[[:cntrl:]]*`, since tail logs the names it watches as
// they are, so such a file is never read nor sent.
func (d *Dir) Unwatched() ([]string, error) {
	var names []string
	err := d.h.Each(func(name string, t fs.FileMode) {
		if IsQueueName(name) && strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			names = append(names, name)
		}
	})
	return names, err
}

// MoveTo moves a queue file into dir under the same name, replacing an
// older dead letter of the same name, and returns where it went. dir is
// reached by the descriptor of the dead letters opened with
// OpenDeadLetters when it is theirs. Both directories are synced; across
// file systems the copy is synced before the original goes.
func (d *Dir) MoveTo(f File, dir string) (string, error) {
	if same, err := d.Current(f); err != nil {
		return "", err
	} else if !same {
		return "", fmt.Errorf("queue file %s: %w", logtext.Quote(f.Path), fs.ErrNotExist)
	}
	var target *dirhandle.Dir
	if d.dead != nil && (dir == d.dead.dir || dir == d.dead.h.Path) {
		target = d.dead.h
	} else {
		h, err := dirhandle.OpenIn(d.h, dir, true, 0o750)
		if err != nil {
			return "", fmt.Errorf("dead-letter directory: %w", err)
		}
		defer h.Close()
		target = h
	}
	name := f.name()
	to := filepath.Join(target.Path, name)
	if err := unix.Renameat(d.h.FD(), name, target.FD(), name); err != nil {
		if !errors.Is(err, unix.EXDEV) {
			return "", fmt.Errorf("move queue file to %s: %w", logtext.Quote(target.Path), err)
		}
		// Another file system: copy, sync, then remove.
		if err := d.copyTo(f, target); err != nil {
			_ = unix.Unlinkat(target.FD(), name, 0)
			return "", fmt.Errorf("move queue file to %s: %w", logtext.Quote(target.Path), err)
		}
		if err := target.Sync(); err != nil {
			return "", err
		}
		if err := unix.Unlinkat(d.h.FD(), name, 0); err != nil {
			return "", fmt.Errorf("remove moved queue file: %w", err)
		}
		return to, d.Sync()
	}
	if err := target.Sync(); err != nil {
		return "", err
	}
	return to, d.Sync()
}

func (d *Dir) copyTo(f File, target *dirhandle.Dir) error {
	in, _, err := d.open(f, unix.O_RDONLY)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := target.OpenFile(f.name(), unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := statOf(out); err != nil {
		out.Close()
		return err
	}
	if _, err := io.Copy(out, io.LimitReader(in, MaxFileSize)); err != nil {
		out.Close()
		return err
	}
	// The set-aside copy keeps the time its user was queued.
	var st unix.Stat_t
	if err := unix.Fstat(int(in.Fd()), &st); err == nil {
		if err := keepTimes(target, f.name(), st); err != nil {
			out.Close()
			return err
		}
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// RenewExcept replaces every queue file (regular, *.send, not hidden, at
// most MaxFileSize) but those skip says to leave (delivered files whose
// removal failed: a copy would be a new file, sent again) by a copy of
// itself, which tail reads from its head as a new file, and returns how
// many it replaced. Every start of an output uses it: tail's DB holds the
// offsets of files whose records Fluent Bit no longer holds. The copies
// are synced by one sync of the file system and the directory once, not
// each on its own: a start hands tail a whole window of files.
func (d *Dir) RenewExcept(skip func(File) bool) (int, error) {
	var names []string
	err := d.h.Each(func(name string, t fs.FileMode) {
		if IsQueueName(name) && t.IsRegular() {
			names = append(names, name)
		}
	})
	type copied struct {
		f   File
		tmp string
	}
	var copies []copied
	defer func() {
		for _, c := range copies {
			unix.Unlinkat(d.h.FD(), c.tmp, 0) // after the rename, a no-op
		}
	}()
	for _, name := range names {
		f, serr := d.statName(name)
		if serr != nil || f.Size > MaxFileSize || (skip != nil && skip(f)) {
			continue
		}
		data, rerr := d.Read(f)
		if rerr != nil || int64(len(data)) != f.Size {
			continue
		}
		tmp, cerr := d.copyAside(f, data, false)
		if cerr != nil {
			err = cmp.Or(err, cerr)
			continue
		}
		copies = append(copies, copied{f, tmp})
	}
	if len(copies) == 0 {
		return 0, err
	}
	// The copies' contents on disk before any takes its file's place.
	if serr := unix.Syncfs(d.h.FD()); serr != nil {
		return 0, cmp.Or(err, fmt.Errorf("renew queue files: sync: %w", serr))
	}
	n := 0
	for _, c := range copies {
		if rerr := d.swapIn(c.f, c.tmp); rerr != nil {
			err = cmp.Or(err, rerr)
			continue
		}
		n++
	}
	if n > 0 {
		err = cmp.Or(err, d.Sync())
	}
	return n, err
}
