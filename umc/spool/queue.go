//go:build linux

package spool

import (
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

const (
	MaxFileSize = 64 << 10 // what Read takes of a queue file: far over one user's
	CompactAt   = 4 << 10  // from this size a carry-over replaces the file, not appends
	QueueSuffix = ".send"  // ends every queue file's name
)

var (
	ErrOutside = errors.New("not a regular file directly inside Queue_Dir") // a path the plugin refuses to touch
	ErrGrown   = errors.New("queue file grew since it was read")
	ErrTooBig  = errors.New("queue file is too big to be one user's") // over MaxFileSize
)

// IsQueueName: tail's glob * matches no leading dot.
func IsQueueName(name string) bool {
	return strings.HasSuffix(name, QueueSuffix) && !strings.HasPrefix(name, ".")
}

// NotRegularError is a queue entry that is no regular file, never opened.
type NotRegularError struct {
	File        // the entry itself, not followed
	Type string // "symlink", "FIFO", ...
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("queue entry %s is a %s, not a regular file", quote(e.Path), e.Type)
}

// Queue is one output's queue directory, held open: it touches only regular files directly inside it.
type Queue struct {
	h        *Dir
	evicted  sync.Map // [2]uint64{dev, ino} of the non-regular entries reported
	removals syncer   // SyncRemovals'
}

// RemovalLinger is how long a delivered file's removal may wait to share
// its directory's sync with removals finishing after it: about one sync
// for each answer of Concurrency calls in flight, not one per user.
const RemovalLinger = 10 * time.Millisecond

// OpenQueue opens the queue directory and checks it is writable.
func OpenQueue(root string) (*Queue, error) {
	h, err := OpenDir(root)
	if err != nil {
		return nil, wrap(err, "queue directory")
	}
	if err := writable(h); err != nil {
		h.Close()
		return nil, err
	}
	return &Queue{h: h}, nil
}

// Root is the queue directory, symlinks resolved at start.
func (q *Queue) Root() string { return q.h.Path }

// Handle is the held directory (for the queue lock and the intake).
func (q *Queue) Handle() *Dir { return q.h }

// Close gives the directory's descriptor back.
func (q *Queue) Close() error {
	if q == nil {
		return nil
	}
	return q.h.Close()
}

// writable checks that files can be created and removed in h.
func writable(h *Dir) error {
	name, err := WriteHidden(h, ".umc-invite-probe-", 0o600, nil, false, nil)
	if err == nil {
		err = unix.Unlinkat(h.fd, name, 0)
	}
	return wrap(err, "not writable")
}

// WriteHidden writes content to a new file in h named prefix+random, readied by prep, and returns its name; removed again on error.
func WriteHidden(h *Dir, prefix string, perm uint32, content []byte, sync bool, prep func(f *os.File, name string) error) (string, error) {
	name := prefix + rand.Text()[:16] // as short as before: a long queue name still fits
	f, err := h.OpenFile(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, perm)
	if err != nil {
		return "", err
	}
	_, err = f.Write(content)
	if err == nil && prep != nil {
		err = prep(f, name)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if err = cmp.Or(err, f.Close()); err != nil {
		unix.Unlinkat(h.fd, name, 0)
		return "", err
	}
	return name, nil
}

// renameIn renames the hidden file tmp over name in h unless refused (tmp is removed then), and syncs h.
func renameIn(h *Dir, tmp, name string, refused error) error {
	defer unix.Unlinkat(h.fd, tmp, 0) // after the rename, a no-op
	if refused != nil {
		return refused
	}
	if err := unix.Renameat(h.fd, tmp, h.fd, name); err != nil {
		return err
	}
	return h.Sync()
}

// writeLine appends line to f of size bytes in one synced write; a short one (full disk) is cut back off.
func writeLine(f *os.File, size int64, line []byte) error {
	if n, err := f.Write(line); err != nil {
		if n > 0 {
			_ = f.Truncate(size)
		}
		return err
	}
	return f.Sync()
}

// File is one queue file as it was when looked at.
type File struct {
	Path, Name string // Path: the queue directory joined with Name, for messages
	Dev, Ino   uint64
	Size       int64
	Modified   int64 // mtime in ns: without a carried-over line, when it was queued
	Born       int64 // birth time in ns where the file system keeps one, else 0: tells f from a later file on its inode
}

// Key names the file on disk, whatever path a record reached it by.
func (f File) Key() string {
	return "file:" + strconv.FormatUint(f.Dev, 10) + ":" + strconv.FormatUint(f.Ino, 10)
}

// FileID is a file's identity on disk, as a map key.
type FileID struct{ Dev, Ino uint64 }

// ID is f's identity on disk.
func (f File) ID() FileID { return FileID{f.Dev, f.Ino} }

// is checks that st, looked up for f (err), is f: fs.ErrNotExist if another.
func (f File) is(st unix.Stat_t, err error) error {
	if err == nil && (f.Dev != uint64(st.Dev) || f.Ino != st.Ino) {
		err = fmt.Errorf("was replaced by another: %w", fs.ErrNotExist)
	}
	if err == nil {
		return nil
	}
	return wrapPath(err, "queue file", f.Path)
}

// Stat looks at the queue file at path unfollowed: fs.ErrNotExist, ErrOutside (not directly inside), *NotRegularError.
func (q *Queue) Stat(path string) (File, error) {
	names, ok := q.h.below(path)
	if !ok || len(names) != 1 || strings.ContainsRune(names[0], 0) {
		return File{}, fmt.Errorf("%s: %w", quote(path), ErrOutside)
	}
	return statName(q.h, names[0])
}

// statx is unix.Statx; a test refuses it as a seccomp filter older than statx(2) does.
var statx = unix.Statx

// statName looks at name in h, not following it, with one statx(2).
func statName(h *Dir, name string) (File, error) {
	var st unix.Statx_t
	err := statx(h.fd, name, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &st)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) { // a seccomp filter older than statx
		var old unix.Stat_t
		old, err = h.Lstat(name)
		st = unix.Statx_t{Mode: uint16(old.Mode), Ino: old.Ino, Size: uint64(old.Size), Dev_major: unix.Major(old.Dev), Dev_minor: unix.Minor(old.Dev),
			Mtime: unix.StatxTimestamp{Sec: old.Mtim.Sec, Nsec: uint32(old.Mtim.Nsec)}}
	}
	f := File{Path: filepath.Join(h.Path, name), Name: name, Dev: unix.Mkdev(st.Dev_major, st.Dev_minor), Ino: st.Ino, Size: int64(st.Size),
		Modified: st.Mtime.Sec*1e9 + int64(st.Mtime.Nsec)}
	if st.Mask&unix.STATX_BTIME != 0 {
		f.Born = st.Btime.Sec*1e9 + int64(st.Btime.Nsec)
	}
	if err != nil {
		return File{}, wrapPath(err, "queue file", f.Path)
	}
	if mode := uint32(st.Mode) & unix.S_IFMT; mode != unix.S_IFREG {
		return File{}, &NotRegularError{f, cmp.Or(typeNames[mode], "file of unknown type")}
	}
	return f, nil
}

var typeNames = map[uint32]string{unix.S_IFLNK: "symlink", unix.S_IFIFO: "FIFO", unix.S_IFSOCK: "socket",
	unix.S_IFCHR: "character device", unix.S_IFBLK: "block device", unix.S_IFDIR: "directory"}

// look describes f's entry in h, not following it: fs.ErrNotExist when gone or no longer f.
func look(h *Dir, f File) (unix.Stat_t, error) {
	st, err := h.Lstat(f.Name)
	return st, f.is(st, err)
}

// openFile opens f's entry in h and checks that it opened f.
func openFile(h *Dir, f File, flags int) (*os.File, unix.Stat_t, error) {
	fh, err := h.OpenFile(f.Name, flags, 0)
	if errors.Is(err, unix.ELOOP) {
		err = fmt.Errorf("queue file %s was replaced by a symlink: %w", quote(f.Path), fs.ErrNotExist)
	}
	if err != nil {
		return nil, unix.Stat_t{}, err
	}
	st, err := regular(fh)
	if err = cmp.Or(err, f.is(st, nil)); err != nil {
		fh.Close()
		return nil, st, err
	}
	return fh, st, nil
}

// regular describes an open file, refused unless a regular one.
func regular(fh *os.File) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstat(int(fh.Fd()), &st)
	if err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
		err = errors.New("not a regular file")
	}
	return st, wrapPath(err, "", fh.Name())
}

// HasLine reports whether f holds line at offset, newline-ended (tail drops a CR): the record is f's, not a namesake's.
func (q *Queue) HasLine(f File, offset int64, line string) (bool, error) {
	if offset < 0 || offset+int64(len(line)) >= f.Size {
		return false, nil
	}
	fh, _, err := openFile(q.h, f, unix.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	buf, n := make([]byte, len(line)+2), 0
	if err == nil {
		defer fh.Close()
		n, err = fh.ReadAt(buf, offset)
	}
	if err != nil && err != io.EOF {
		return false, wrap(err, "read queue file")
	}
	end, ok := strings.CutPrefix(string(buf[:n]), line)
	return ok && (strings.HasPrefix(end, "\n") || strings.HasPrefix(end, "\r\n")), nil
}

// Look is f as it is now (its size and times), fs.ErrNotExist if gone or no longer f.
func (q *Queue) Look(f File) (File, error) {
	now, err := statName(q.h, f.Name)
	if err == nil && (now.Dev != f.Dev || now.Ino != f.Ino) {
		err = fmt.Errorf("queue file %s was replaced by another: %w", quote(f.Path), fs.ErrNotExist)
	}
	return now, err
}

// Current reports whether f is still the file at its path.
func (q *Queue) Current(f File) (bool, error) {
	_, err := look(q.h, f)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Remove deletes a delivered file unless replaced (a re-queue) or grown (ErrGrown: lines unread), and syncs.
func (q *Queue) Remove(f File) error {
	if err := q.RemoveUnsynced(f); err != nil {
		return err
	}
	return q.h.Sync()
}

// RemoveUnsynced is Remove without the sync: SyncRemovals makes it survive a crash.
func (q *Queue) RemoveUnsynced(f File) error {
	st, err := look(q.h, f)
	if err == nil && st.Size > f.Size {
		return fmt.Errorf("%s: %w", quote(f.Path), ErrGrown)
	}
	if err == nil {
		err = wrapPath(unix.Unlinkat(q.h.fd, f.Name, 0), "remove queue file", f.Path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// SyncRemovals syncs the queue directory for the removals made before the
// call, in one fsync with those made up to RemovalLinger later, begun as
// soon as enough callers wait (the first caller's count; 1: at once).
func (q *Queue) SyncRemovals(enough int) error {
	return q.removals.sync(q.h.fsync, RemovalLinger, enough)
}

// unlink removes name from h unless err (fs.ErrNotExist: nothing to do), and syncs h.
func unlink(h *Dir, name string, flags int, what string, err error) error {
	if err == nil {
		err = wrap(unix.Unlinkat(h.fd, name, flags), what)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return h.Sync()
}

// Evict removes a non-regular entry if still it (a directory only when empty); first: write its dead letter.
func (q *Queue) Evict(e *NotRegularError) (first bool, err error) {
	_, reported := q.evicted.LoadOrStore([2]uint64{e.Dev, e.Ino}, true)
	st, err := look(q.h, e.File)
	flags := 0
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		flags = unix.AT_REMOVEDIR
	}
	return !reported, unlink(q.h, e.Name, flags, "remove queue entry "+quote(e.Path), err)
}

// queueNames lists h's queue names for which keep holds.
func queueNames(h *Dir, keep func(name string, t fs.FileMode) bool) ([]string, error) {
	var names []string
	err := h.Each(func(name string, t fs.FileMode) {
		if IsQueueName(name) && keep(name, t) {
			names = append(names, name)
		}
	})
	return names, err
}

// NotRegular lists the queue names that are no regular file.
func (q *Queue) NotRegular() ([]*NotRegularError, error) {
	_, entries, err := queueEntries(q.h, false)
	return entries, err
}

// Files lists the regular queue files, as they are now.
func (q *Queue) Files() ([]File, error) {
	files, _, err := queueEntries(q.h, true)
	return files, err
}

// queueEntries looks at h's queue entries that are regular files, or those that are not.
func queueEntries(h *Dir, regular bool) (files []File, notRegular []*NotRegularError, err error) {
	names, err := queueNames(h, func(_ string, t fs.FileMode) bool { return t.IsRegular() == regular })
	for _, name := range names {
		var e *NotRegularError
		if f, serr := statName(h, name); serr == nil {
			files = append(files, f)
		} else if errors.As(serr, &e) {
			notRegular = append(notRegular, e)
		}
	}
	return files, notRegular, err
}

// Unwatched lists the queue names with a control character, which the shipped configs' tail leaves unread.
func (q *Queue) Unwatched() ([]string, error) {
	return queueNames(q.h, func(name string, _ fs.FileMode) bool {
		return strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f })
	})
}

// MoveTo moves f over any namesake into the dead letters' directory, both synced; across file systems the copy lands first.
func (q *Queue) MoveTo(f File, dead *DeadLetters) (string, error) {
	if _, err := look(q.h, f); err != nil {
		return "", err
	}
	target, name := dead.h, f.Name
	err := unix.Renameat(q.h.fd, name, target.fd, name)
	if errors.Is(err, unix.EXDEV) { // another file system
		if err = copyTo(q.h, f, target); err == nil {
			err = unix.Unlinkat(q.h.fd, name, 0)
		}
	}
	if err = cmp.Or(wrapPath(err, "move queue file to", target.Path), target.Sync()); err != nil {
		return "", err
	}
	return filepath.Join(target.Path, name), q.h.Sync()
}

// copyTo puts a synced copy of f, with its times (when its user was queued), in target under f's name.
func copyTo(h *Dir, f File, target *Dir) error {
	in, st, err := openFile(h, f, unix.O_RDONLY)
	if err != nil {
		return err
	}
	defer in.Close()
	data, err := io.ReadAll(io.LimitReader(in, MaxFileSize))
	tmp := ""
	if err == nil {
		tmp, err = WriteHidden(target, ".dead-letter.", 0o640, data, true, func(_ *os.File, tmp string) error { return keepTimes(target, tmp, st) })
	}
	return renameIn(target, tmp, f.Name, err)
}

// RenewExcept replaces and counts the queue files not skipped by copies tail reads from the head: its DB's offsets are stale.
func (q *Queue) RenewExcept(skip func(File) bool) (int, error) {
	files, err := q.Files()
	copies := map[string]File{} // hidden copy: the file it replaces
	defer func() {
		for tmp := range copies {
			unix.Unlinkat(q.h.fd, tmp, 0) // after the rename, a no-op
		}
	}()
	for _, f := range files {
		if data, rerr := q.Read(f); rerr == nil && int64(len(data)) == f.Size && !skip(f) {
			tmp, cerr := copyAside(q.h, f, data, false)
			if err = cmp.Or(err, cerr); cerr == nil {
				copies[tmp] = f
			}
		}
	}
	if len(copies) == 0 {
		return 0, err
	}
	// The copies' contents on disk before any takes its file's place.
	if serr := unix.Syncfs(q.h.fd); serr != nil {
		return 0, cmp.Or(err, wrap(serr, "renew queue files: sync"))
	}
	n := 0
	for tmp, f := range copies {
		rerr := unchanged(q.h, f)
		if rerr == nil {
			rerr = unix.Renameat(q.h.fd, tmp, q.h.fd, f.Name)
		}
		if err = cmp.Or(err, rerr); rerr == nil {
			n++
		}
	}
	return n, cmp.Or(err, q.h.Sync())
}

// Read returns f's contents, at most MaxFileSize bytes, if f is still the file at its path.
func (q *Queue) Read(f File) ([]byte, error) {
	fh, st, err := openFile(q.h, f, unix.O_RDONLY)
	var data []byte
	if err == nil {
		defer fh.Close()
		// Sized by what was opened (a queue file is a few bytes); a file grown since is read on.
		data = make([]byte, min(max(st.Size, 0), MaxFileSize)+1)
		var n int
		if n, err = io.ReadFull(fh, data); err == nil {
			var rest []byte
			rest, err = io.ReadAll(io.LimitReader(fh, MaxFileSize+1-int64(n)))
			data = append(data, rest...)
		} else if err == io.ErrUnexpectedEOF || err == io.EOF {
			data, err = data[:n], nil
		}
	}
	if err != nil {
		return nil, wrap(err, "read queue file")
	}
	if len(data) > MaxFileSize {
		return data[:MaxFileSize], fmt.Errorf("%s is over %d bytes: %w", quote(f.Path), MaxFileSize, ErrTooBig)
	}
	return data, nil
}

// Carry appends line for tail to read anew or, from CompactAt or where not ours to write, replaces f by it: returns the file.
func (q *Queue) Carry(f File, line []byte) (File, error) {
	var err error
	if f.Size+int64(len(line)) <= CompactAt {
		if err = q.Append(f, line); err == nil || !errors.Is(err, fs.ErrPermission) {
			return f, err
		}
	}
	replaced, rerr := q.Replace(f, line)
	if err != nil && rerr != nil {
		rerr = fmt.Errorf("%w; replacing it: %w", err, rerr)
	}
	return replaced, rerr
}

// Append adds line to f in one synced write; a short one is cut back off.
func (q *Queue) Append(f File, line []byte) error {
	fh, st, err := openFile(q.h, f, unix.O_WRONLY|unix.O_APPEND)
	if err == nil {
		defer fh.Close()
		err = writeLine(fh, st.Size, line)
	}
	return wrap(err, "append to queue file")
}

// Replace renames a copy holding content over f if unchanged; it needs only the directory's write permission.
func (q *Queue) Replace(f File, content []byte) (File, error) {
	tmp, err := copyAside(q.h, f, content, true)
	if err == nil {
		err = renameIn(q.h, tmp, f.Name, unchanged(q.h, f))
	}
	if err != nil {
		return File{}, err
	}
	return statName(q.h, f.Name)
}

// copyAside writes content to a hidden copy of f, without .send; synced unless the caller syncs the file system.
func copyAside(h *Dir, f File, content []byte, sync bool) (string, error) {
	old, err := look(h, f)
	tmp := ""
	if err == nil {
		tmp, err = WriteHidden(h, "."+f.Name+".carry-", 0o600, content, sync, func(tmp *os.File, name string) error {
			// Whoever could read it still can; the group may append; the age counts from the mtime.
			return cmp.Or(tmp.Chmod(os.FileMode(old.Mode)&0o664|0o060), keepTimes(h, name, old))
		})
	}
	return tmp, wrap(err, "carry-over copy")
}

// unchanged checks f is still at its path with its size: a re-queued file stays, an added line is not lost.
func unchanged(h *Dir, f File) error {
	st, err := look(h, f)
	if err == nil && st.Size != f.Size {
		err = fmt.Errorf("%s: %w", quote(f.Path), ErrGrown)
	}
	return err
}

// keepTimes gives the new copy name in dir the times of the file it copies.
func keepTimes(dir *Dir, name string, of unix.Stat_t) error {
	return wrap(unix.UtimesNanoAt(dir.fd, name, []unix.Timespec{of.Atim, of.Mtim}, unix.AT_SYMLINK_NOFOLLOW), "keep the queue file's times")
}
