//go:build linux

package intake

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// StageDir is the plugin's own directory in the queue directory where an
// intake entry waits, under its own name, between being taken out of the
// producers' reach and being admitted: hidden (tail's Path *.send matches
// nothing in a subdirectory, the window never counts it), and any name that
// fits the intake fits there too. It is opened once, never through a
// symlink, and refused when it is no directory.
const StageDir = ".admitting"

// legacySuffix marks an entry staged by an earlier version directly in the
// queue directory, as .<name>.admitting: a crash may have left one, and it
// is finished like any staged entry.
const legacySuffix = ".admitting"

// maxFileSize is the most an admitted file holds: a user's line is far
// shorter, and the shipped tail (Buffer_Max_Size 4k, Skip_Long_Lines)
// skips a longer line, which would then wait in the queue for good,
// neither sent nor set aside.
const maxFileSize = 4000

// errNotAdmitted marks a regular intake file that stays in the intake:
// over maxFileSize, or more than one line. A second name is no reason:
// what is admitted is a copy of what was checked.
var errNotAdmitted = errors.New("stays in the intake")

// errNotYet marks an intake file still being written: admitted later.
var errNotYet = errors.New("its line is not finished yet")

// settled is how long a file without its final newline (or empty) stays
// unchanged before its line counts as finished: a producer writing
// straight into the intake, not by a rename, may be between two writes.
const settled = 2 * time.Second

// finished tells whether an intake file's line is complete: it ends with
// its newline, or the file has not changed for a while.
func finished(content []byte, st unix.Stat_t, now time.Time) bool {
	if len(content) > 0 && content[len(content)-1] == '\n' {
		return true
	}
	return now.Sub(time.Unix(st.Mtim.Unix())) >= settled
}

// legacyStaged is the queue file name an earlier version's stage entry
// stands for.
func legacyStaged(stage string) (string, bool) {
	if !strings.HasPrefix(stage, ".") || !strings.HasSuffix(stage, legacySuffix) {
		return "", false
	}
	name := strings.TrimSuffix(stage[1:], legacySuffix)
	return name, candidate(name)
}

// move admits one intake file: the inode that was checked, never a name
// looked up twice. Whatever the intake name holds is first moved, as it
// is, to the same name in StageDir (renameat2 does not follow
// a symlink, it moves the link), where a writer of the intake can no longer
// swap it; the moved entry is then checked, and only a regular file is
// renamed to its queue name. Anything else goes back to the intake (or,
// where its name is taken again, is removed): a producer who swaps a
// checked file for a symlink gets nothing into the queue.
//
// Neither rename replaces anything. In link mode each rename is a link(2)
// and an unlink; a crash in between leaves one inode under two names,
// which recoverStage and finishLink resolve.
func (w *Window) move(name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(w.q.FD(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		if w.finishLink(name) {
			return fs.ErrNotExist // admitted before a crash in link mode; now it is only there
		}
		return fs.ErrExist
	}
	if err := unix.Fstatat(w.in.FD(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return errNotRegular
	}
	if err := admissible(st); err != nil {
		return err // seen before it is moved: no churn, the listing skips it
	}
	content, err := readOneLine(w.in.FD(), name, st)
	if err != nil {
		return err // read before it is moved: no churn
	}
	if !finished(content, st, time.Now()) {
		return errNotYet
	}
	if err := w.place(w.in.FD(), name, w.stage.FD(), name); err != nil {
		if errors.Is(err, unix.EEXIST) {
			w.recoverStage(w.stage.FD(), name, name) // left by a crash: finish it first
		}
		return err
	}
	return w.admitStaged(name, w.stage.FD(), name)
}

// place moves the entry from (dirfd, from) to (todir, to), never
// replacing an entry there.
func (w *Window) place(dirfd int, from string, todir int, to string) error {
	if !w.linkMode {
		return unix.Renameat2(dirfd, from, todir, to, unix.RENAME_NOREPLACE)
	}
	if err := unix.Linkat(dirfd, from, todir, to, 0); err != nil {
		return err
	}
	// The old name goes only while it is still the inode linked: a file a
	// producer put there meanwhile stays (a race here leaves a file
	// behind, never loses one).
	var a, b unix.Stat_t
	if unix.Fstatat(dirfd, from, &a, unix.AT_SYMLINK_NOFOLLOW) != nil || unix.Fstatat(todir, to, &b, unix.AT_SYMLINK_NOFOLLOW) != nil ||
		a.Dev != b.Dev || a.Ino != b.Ino {
		return nil
	}
	if err := unix.Unlinkat(dirfd, from, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		// Both names now: take the new one back, or it would be sent twice.
		if undo := unix.Unlinkat(todir, to, 0); undo != nil {
			return fmt.Errorf("unlink after link: %w; the file is now under two names (%v)", err, undo)
		}
		return err
	}
	return nil
}

// admitStaged checks the entry staged as (sdir, stage) and admits it as
// name when it is a regular file; anything else is handed back.
func (w *Window) admitStaged(name string, sdir int, stage string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(sdir, stage, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		w.unstage(name, sdir, stage, st.Mode)
		return errNotRegular
	}
	var q unix.Stat_t
	if unix.Fstatat(w.q.FD(), name, &q, unix.AT_SYMLINK_NOFOLLOW) == nil && q.Dev == st.Dev && q.Ino == st.Ino {
		_ = unix.Unlinkat(sdir, stage, 0) // link mode, after a crash: admitted before
		return fs.ErrNotExist
	}
	if w.linkMode {
		// A crash between the link into the stage and the unlink of the
		// intake name left both: the staged inode is the one admitted, so
		// the intake name goes before the copy makes them two users.
		var in unix.Stat_t
		if unix.Fstatat(w.in.FD(), name, &in, unix.AT_SYMLINK_NOFOLLOW) == nil && in.Dev == st.Dev && in.Ino == st.Ino {
			if err := unix.Unlinkat(w.in.FD(), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
				return err
			}
		}
	}
	if err := admissible(st); err != nil {
		w.unstage(name, sdir, stage, st.Mode)
		return err
	}
	content, err := readOneLine(sdir, stage, st)
	if err != nil {
		w.unstage(name, sdir, stage, st.Mode)
		return err
	}
	if err := own(sdir, stage, content, st); err != nil {
		// Back to the intake (a full disk): a file left staged would
		// hold no place in the window, and the next one would be staged.
		w.unstage(name, sdir, stage, st.Mode)
		return err
	}
	err = w.place(sdir, stage, w.q.FD(), name)
	if errors.Is(err, unix.EEXIST) {
		// Queued meanwhile under this name: the intake file waits.
		w.unstage(name, sdir, stage, st.Mode)
		return fs.ErrExist
	}
	return err
}

// admissible refuses a regular file that is no user's queue file by its
// size alone, as a listing sees it.
func admissible(st unix.Stat_t) error {
	if st.Size > maxFileSize {
		return fmt.Errorf("%w: %d bytes (a queue file has at most %d bytes)", errNotAdmitted, st.Size, maxFileSize)
	}
	return nil
}

// readOneLine is the content of a file of one line; a file of more lines
// is refused, as tail would make a record of each (one file of short
// lines, millions of records and chunks, delaying every user of that
// output). It is read from the inode st describes, never through a link,
// and no more than maxFileSize+1 bytes of it.
func readOneLine(dirfd int, name string, st unix.Stat_t) ([]byte, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		return nil, err
	}
	if now.Dev != st.Dev || now.Ino != st.Ino {
		return nil, fs.ErrNotExist // replaced meanwhile: the next listing sees the new one
	}
	content := make([]byte, 0, min(st.Size+1, maxFileSize+1))
	var buf [4096]byte
	for len(content) <= maxFileSize {
		n, err := unix.Read(fd, buf[:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		content = append(content, buf[:n]...)
	}
	newlines := bytes.Count(content, []byte{'\n'})
	switch {
	case len(content) > maxFileSize:
		return nil, fmt.Errorf("%w: more than %d bytes (a queue file has at most %d bytes)", errNotAdmitted, maxFileSize, maxFileSize)
	case newlines > 1 || newlines == 1 && content[len(content)-1] != '\n':
		return nil, fmt.Errorf("%w: more than one line (a queue file is one line)", errNotAdmitted)
	}
	return content, nil
}

// ownTemp is the copy being written in the stage (one at a time: the
// window admits under its lock); a crash may leave one, which the next
// count removes.
const ownTemp = ".own.tmp"

// own replaces the staged producer's file by a copy of the content
// checked, made by this process: the producer owns the inode it wrote and
// may hold it open, so admitted as it is it could still grow by lines the
// intake never saw. The copy is readable by this process's user only.
// A crash leaves either the producer's file staged (checked again) or the
// copy, never both under the name.
func own(sdir int, stage string, content []byte, st unix.Stat_t) error {
	tmp := ownTemp
	if len(content) == 0 || content[len(content)-1] != '\n' {
		// tail waits for a line's end, which nobody can write to the copy
		// (an empty file's line is empty: the user is the file's name).
		content = append(content, '\n')
	}
	fd, err := unix.Openat(sdir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("copy %s: %w", stage, err)
	}
	for rest := content; len(rest) > 0; {
		n, err := unix.Write(fd, rest)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			unix.Close(fd)
			unix.Unlinkat(sdir, tmp, 0)
			return fmt.Errorf("copy %s: %w", stage, err)
		}
		rest = rest[n:]
	}
	// The time the user arrived, from which its age counts (Max_Age).
	times := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(sdir, tmp, times, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		unix.Close(fd)
		unix.Unlinkat(sdir, tmp, 0)
		return fmt.Errorf("copy %s: %w", stage, err)
	}
	if err := unix.Close(fd); err != nil {
		unix.Unlinkat(sdir, tmp, 0)
		return fmt.Errorf("copy %s: %w", stage, err)
	}
	if err := unix.Renameat(sdir, tmp, sdir, stage); err != nil {
		unix.Unlinkat(sdir, tmp, 0)
		return fmt.Errorf("copy %s: %w", stage, err)
	}
	return nil
}

// unstage hands a staged entry back to the intake under its name. An entry
// that is no regular file and cannot go back (its name is taken again) is
// removed: it is nobody's user. A regular one that cannot go back stays
// staged, hidden, until recoverStage admits it.
func (w *Window) unstage(name string, sdir int, stage string, mode uint32) {
	var err error
	if w.linkMode {
		if err = unix.Linkat(sdir, stage, w.in.FD(), name, 0); err == nil {
			err = unix.Unlinkat(sdir, stage, 0)
		}
	} else {
		err = unix.Renameat2(sdir, stage, w.in.FD(), name, unix.RENAME_NOREPLACE)
	}
	if err == nil || mode&unix.S_IFMT == unix.S_IFREG {
		return
	}
	flags := 0
	if mode&unix.S_IFMT == unix.S_IFDIR {
		flags = unix.AT_REMOVEDIR // only when empty
	}
	_ = unix.Unlinkat(sdir, stage, flags)
}

// recoverStage finishes an admission that a crash (or a double collision)
// left staged as (sdir, stage) for the queue file name. It reports whether
// a queue file was admitted.
func (w *Window) recoverStage(sdir int, stage, name string) bool {
	var st unix.Stat_t
	if unix.Fstatat(sdir, stage, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return false
	}
	if w.admitStaged(name, sdir, stage) != nil {
		return false
	}
	// The intake's name of the same inode, if a crash in link mode left it
	// (the restart may have found rename to work: finish it anyway).
	w.finishLink(name)
	return true
}
