package intake

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/umc/spool"
)

const (
	// StageDir: the plugin's hidden stage in the queue, where an entry is checked out of producers' reach.
	StageDir    = ".admitting"
	maxFileSize = 4000                   // the shipped tail (Buffer_Max_Size 4k) skips a longer line for good
	settled     = 2 * time.Second        // a line without its newline: its producer may be between two writes
	ownTemp     = ".own.tmp"             // the copy being made in the stage
	mtimeSlack  = 50 * time.Millisecond  // how young an mtime may hide a change
	pollEvery   = 100 * time.Millisecond // without inotify
)

var (
	errNotRegular  = errors.New("not a regular file")
	errNotYet      = errors.New("its line is not finished yet")
	errNotAdmitted = errors.New("stays in the intake") // for good
)

// admitter moves intake files into the queue, never replacing anything.
type admitter struct {
	q, in, stage *spool.Dir
	linkMode     bool // no RENAME_NOREPLACE here: link(2), then unlink(2)
}

// probe moves a file from the intake to the queue as admissions will.
func probe(q, in *spool.Dir) (linkMode bool, err error) {
	name := fmt.Sprintf(".umc-invite-probe-%d-%d", os.Getpid(), time.Now().UnixNano())
	f, err := in.OpenFile(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		return false, fmt.Errorf("intake directory not writable: %w", err)
	}
	f.Close()
	defer unix.Unlinkat(in.FD(), name, 0)
	err = unix.Renameat2(in.FD(), name, q.FD(), name, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		linkMode, err = true, unix.Linkat(in.FD(), name, q.FD(), name, 0)
	}
	switch {
	case errors.Is(err, unix.EXDEV):
		return false, fmt.Errorf("intake %s and queue %s are on different file systems (or mounts): the move must be an atomic rename", in.Path, q.Path)
	case err != nil:
		return false, fmt.Errorf("queue directory %s: cannot move files into it: %w", q.Path, err)
	}
	_ = unix.Unlinkat(q.FD(), name, 0) // hidden: tail never reads it
	return linkMode, nil
}

// sameAs tells whether d's entry name is the inode st describes.
func sameAs(st unix.Stat_t, d *spool.Dir, name string) bool {
	o, err := d.Lstat(name)
	return err == nil && o.Dev == st.Dev && o.Ino == st.Ino
}

// finishLink removes the intake's name of an inode queued under that name.
func (a *admitter) finishLink(name string) bool {
	st, err := a.in.Lstat(name)
	return err == nil && sameAs(st, a.q, name) && unix.Unlinkat(a.in.FD(), name, 0) == nil
}

// move admits the inode checked: the entry, never followed, goes to StageDir first.
func (a *admitter) move(name string) error {
	if _, err := a.q.Lstat(name); err == nil {
		if a.finishLink(name) {
			return fs.ErrNotExist // admitted before a crash in link mode
		}
		return fs.ErrExist
	}
	st, err := a.in.Lstat(name)
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return errNotRegular
	}
	content, err := readOneLine(a.in, name, st)
	if err != nil {
		return err // checked before the move: nothing moves back and forth
	}
	// tail makes no record of a line until its newline
	if !bytes.HasSuffix(content, []byte{'\n'}) && time.Since(time.Unix(st.Mtim.Unix())) < settled {
		return errNotYet
	}
	if err := a.place(a.in, name, a.stage, name); err != nil {
		if errors.Is(err, unix.EEXIST) {
			_ = a.admitStaged(name) // left by a crash: finish it first
		}
		return err
	}
	return a.admitStaged(name)
}

// place moves an entry, never replacing one at the target.
func (a *admitter) place(from *spool.Dir, fromName string, to *spool.Dir, toName string) error {
	if !a.linkMode {
		return unix.Renameat2(from.FD(), fromName, to.FD(), toName, unix.RENAME_NOREPLACE)
	}
	if err := unix.Linkat(from.FD(), fromName, to.FD(), toName, 0); err != nil {
		return err
	}
	// A race leaves a file behind, never loses one.
	if st, err := from.Lstat(fromName); err != nil || !sameAs(st, to, toName) {
		return nil
	}
	if err := unix.Unlinkat(from.FD(), fromName, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		// Both names now: take the new one back, or it would be sent twice.
		if undo := unix.Unlinkat(to.FD(), toName, 0); undo != nil {
			return fmt.Errorf("unlink after link: %w; the file is now under two names (%v)", err, undo)
		}
		return err
	}
	return nil
}

// admitStaged admits a staged one-line regular file as the plugin's copy; else it goes back.
func (a *admitter) admitStaged(name string) error {
	st, err := a.stage.Lstat(name)
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		a.unstage(name, st.Mode)
		return errNotRegular
	}
	if st.Nlink > 1 && sameAs(st, a.q, name) {
		_ = unix.Unlinkat(a.stage.FD(), name, 0) // link mode, after a crash: admitted before
		return fs.ErrNotExist
	}
	// A link move cut short: the intake's name goes, or the copy is a second user.
	if st.Nlink > 1 && sameAs(st, a.in, name) {
		if err := unix.Unlinkat(a.in.FD(), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	content, err := readOneLine(a.stage, name, st)
	if err == nil {
		err = own(a.stage, name, content, st)
	}
	if err != nil { // also a full disk: staged, it would hold no place
		a.unstage(name, st.Mode)
		return err
	}
	err = a.place(a.stage, name, a.q, name)
	if errors.Is(err, unix.EEXIST) {
		a.unstage(name, st.Mode) // queued meanwhile under this name: it waits
		return fs.ErrExist
	}
	return err
}

// unstage hands a staged entry back; if it cannot go back, only a regular file stays staged.
func (a *admitter) unstage(name string, mode uint32) {
	if a.place(a.stage, name, a.in, name) != nil && mode&unix.S_IFMT != unix.S_IFREG {
		_ = unix.Unlinkat(a.stage.FD(), name, 0)
		_ = unix.Unlinkat(a.stage.FD(), name, unix.AT_REMOVEDIR) // a directory: only when empty
	}
}

// recoverAll admits and counts what a crash left staged; under the window's lock no copy is under way.
func (a *admitter) recoverAll() (int, error) {
	_ = unix.Unlinkat(a.stage.FD(), ownTemp, 0) // a copy cut short; its original is still staged
	var staged []string
	err := a.stage.Each(func(name string, _ fs.FileMode) {
		if candidate(name) {
			staged = append(staged, name)
		}
	})
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", StageDir, err)
	}
	n := 0
	for _, name := range staged {
		if a.admitStaged(name) == nil {
			n++
		}
	}
	return n, nil
}

func (a *admitter) close() {
	a.in.Close()
	a.stage.Close()
	a.q.Close()
}

func admissible(size int64) error {
	if size > maxFileSize {
		return fmt.Errorf("%w: %d bytes (a queue file has at most %d bytes)", errNotAdmitted, size, maxFileSize)
	}
	return nil
}

// readOneLine reads the inode st describes, never through a link: one line, or tail makes several records.
func readOneLine(d *spool.Dir, name string, st unix.Stat_t) ([]byte, error) {
	f, err := d.OpenFile(name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var now unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &now); err != nil {
		return nil, err
	}
	if now.Dev != st.Dev || now.Ino != st.Ino {
		return nil, fs.ErrNotExist // replaced meanwhile: the next listing sees the new one
	}
	content, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err == nil {
		err = admissible(max(now.Size, int64(len(content))))
	}
	if err != nil {
		return nil, err
	}
	if i := bytes.IndexByte(content, '\n'); i >= 0 && i < len(content)-1 {
		return nil, fmt.Errorf("%w: more than one line (a queue file is one line)", errNotAdmitted)
	}
	return content, nil
}

// own replaces the staged file by a 0600 copy a producer cannot hold open, with its times (Max_Age).
func own(d *spool.Dir, stage string, content []byte, st unix.Stat_t) error {
	if !bytes.HasSuffix(content, []byte{'\n'}) {
		content = append(content, '\n') // nobody can finish the copy's line; an empty one: the user is the name
	}
	f, err := d.OpenFile(ownTemp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("copy %s: %w", stage, err)
	}
	if _, err = f.Write(content); err == nil {
		err = unix.UtimesNanoAt(d.FD(), ownTemp, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(d.FD(), ownTemp, d.FD(), stage)
	}
	if err != nil {
		_ = unix.Unlinkat(d.FD(), ownTemp, 0)
		return fmt.Errorf("copy %s: %w", stage, err)
	}
	return nil
}
