package intake

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/umc/spool"
)

// StageDir is the plugin's own hidden directory in the queue, where an entry
// waits out of the producers' reach before it is admitted (an earlier
// version staged as .<name>.admitting in the queue directory itself).
const StageDir = ".admitting"

var (
	errNotRegular = errors.New("not a regular file")
	errNotYet     = errors.New("its line is not finished yet")
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

// move admits the inode that was checked: the entry as it is (a symlink is
// moved, not followed) goes to StageDir; only a regular file goes on.
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
	if !finished(content, st, time.Now()) {
		return errNotYet
	}
	if err := a.place(a.in, name, a.stage, name); err != nil {
		if errors.Is(err, unix.EEXIST) {
			_ = a.admitStaged(name, a.stage, name) // left by a crash: finish it first
		}
		return err
	}
	return a.admitStaged(name, a.stage, name)
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

// admitStaged admits a staged regular file of one line as name, as the
// plugin's own copy; anything else goes back to the intake.
func (a *admitter) admitStaged(name string, sd *spool.Dir, stage string) error {
	st, err := sd.Lstat(stage)
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		a.unstage(name, sd, stage, st.Mode)
		return errNotRegular
	}
	if st.Nlink > 1 && sameAs(st, a.q, name) {
		_ = unix.Unlinkat(sd.FD(), stage, 0) // link mode, after a crash: admitted before
		return fs.ErrNotExist
	}
	// A link move cut short: the intake's name goes, or the copy is a second user.
	if st.Nlink > 1 && sameAs(st, a.in, name) {
		if err := unix.Unlinkat(a.in.FD(), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	content, err := readOneLine(sd, stage, st)
	if err == nil {
		err = own(sd, stage, content, st)
	}
	if err != nil { // also a full disk: staged, it would hold no place
		a.unstage(name, sd, stage, st.Mode)
		return err
	}
	err = a.place(sd, stage, a.q, name)
	if errors.Is(err, unix.EEXIST) {
		a.unstage(name, sd, stage, st.Mode) // queued meanwhile under this name: it waits
		return fs.ErrExist
	}
	return err
}

// unstage hands a staged entry back to the intake. One that cannot go
// back stays staged if a regular file, else it is nobody's and goes.
func (a *admitter) unstage(name string, sd *spool.Dir, stage string, mode uint32) {
	if a.place(sd, stage, a.in, name) != nil && mode&unix.S_IFMT != unix.S_IFREG {
		_ = unix.Unlinkat(sd.FD(), stage, 0)
		_ = unix.Unlinkat(sd.FD(), stage, unix.AT_REMOVEDIR) // a directory: only when empty
	}
}

// recoverAll admits what a crash left staged, legacy entries included, and
// returns how many. The caller holds the window's lock: no copy is made now.
func (a *admitter) recoverAll(legacy []string) (int, error) {
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
		if a.admitStaged(name, a.stage, name) == nil {
			n++
		}
	}
	for _, stage := range legacy {
		if name, _ := legacyStaged(stage); a.admitStaged(name, a.q, stage) == nil {
			n++
		}
	}
	return n, nil
}

// legacyStaged is the queue name of an earlier version's stage entry.
func legacyStaged(stage string) (string, bool) {
	name, ok := strings.CutSuffix(strings.TrimPrefix(stage, "."), StageDir)
	return name, ok && stage[0] == '.' && candidate(name)
}

func (a *admitter) close() {
	a.in.Close()
	a.stage.Close()
	a.q.Close()
}
