package intake

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/umc/spool"
)

const (
	maxFileSize = 4000            // the shipped tail (Buffer_Max_Size 4k) skips a longer line for good
	settled     = 2 * time.Second // a line without its newline: its producer may be between two writes
	ownTemp     = ".own.tmp"      // the copy being made in the stage
)

// errNotAdmitted marks an intake file that stays there for good.
var errNotAdmitted = errors.New("stays in the intake")

func admissible(size int64) error {
	if size > maxFileSize {
		return fmt.Errorf("%w: %d bytes (a queue file has at most %d bytes)", errNotAdmitted, size, maxFileSize)
	}
	return nil
}

// finished tells whether a file's line is complete: tail makes no record
// of a line until its newline.
func finished(content []byte, st unix.Stat_t, now time.Time) bool {
	return bytes.HasSuffix(content, []byte{'\n'}) || now.Sub(time.Unix(st.Mtim.Unix())) >= settled
}

// readOneLine reads the inode st describes, never through a link. More
// than one line is refused: tail would make a record of each.
func readOneLine(d *spool.Dir, name string, st unix.Stat_t) ([]byte, error) {
	fd, err := unix.Openat(d.FD(), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
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
	var buf [maxFileSize + 1]byte
	n := 0
	for m := 1; m > 0 && n < len(buf); n += m {
		if m, err = unix.Read(fd, buf[n:]); err != nil {
			return nil, err
		}
	}
	content := bytes.Clone(buf[:n])
	if err := admissible(max(now.Size, int64(n))); err != nil {
		return nil, err
	}
	if i := bytes.IndexByte(content, '\n'); i >= 0 && i < len(content)-1 {
		return nil, fmt.Errorf("%w: more than one line (a queue file is one line)", errNotAdmitted)
	}
	return content, nil
}

// own replaces the staged file by the plugin's copy (0600) of the content
// checked: a producer may hold its inode open. A user's age counts from
// its arrival (Max_Age): the copy keeps the times.
func own(d *spool.Dir, stage string, content []byte, st unix.Stat_t) error {
	if !bytes.HasSuffix(content, []byte{'\n'}) {
		content = append(content, '\n') // nobody can finish the copy's line; an empty one: the user is the name
	}
	fd, err := unix.Openat(d.FD(), ownTemp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("copy %s: %w", stage, err)
	}
	if n, werr := unix.Write(fd, content); werr != nil || n < len(content) {
		err = cmp.Or(werr, io.ErrShortWrite)
	}
	if err == nil {
		err = unix.UtimesNanoAt(d.FD(), ownTemp, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
	}
	if cerr := unix.Close(fd); err == nil {
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
