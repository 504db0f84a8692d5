//go:build linux

package intake

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/umc/dirhandle"
)

// maxFileSize is the most an admitted file holds: the shipped tail
// (Buffer_Max_Size 4k, Skip_Long_Lines) skips a longer line, which would
// wait in the queue for good.
const maxFileSize = 4000

// settled is how long a file without its final newline stays unchanged
// before its line counts as finished: a producer writing straight into the
// intake may be between two writes.
const settled = 2 * time.Second

// ownTemp is the copy being written in the stage, one at a time (under the
// window's lock); a crash may leave one, which the next count removes.
const ownTemp = ".own.tmp"

// errNotAdmitted marks a regular intake file that stays in the intake for
// good: over maxFileSize, or more than one line.
var errNotAdmitted = errors.New("stays in the intake")

// admissible refuses a file by its size alone, as a listing sees it.
func admissible(st unix.Stat_t) error {
	if st.Size > maxFileSize {
		return fmt.Errorf("%w: %d bytes (a queue file has at most %d bytes)", errNotAdmitted, st.Size, maxFileSize)
	}
	return nil
}

// finished tells whether a file's line is complete: it ends with its
// newline, or the file has not changed for settled.
func finished(content []byte, st unix.Stat_t, now time.Time) bool {
	return bytes.HasSuffix(content, []byte{'\n'}) || now.Sub(time.Unix(st.Mtim.Unix())) >= settled
}

// readOneLine reads the inode st describes, never through a link. A file
// of more lines is refused: tail would make a record of each.
func readOneLine(d *dirhandle.Dir, name string, st unix.Stat_t) ([]byte, error) {
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
	if err := admissible(now); err != nil {
		return nil, err
	}
	content, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
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

// own replaces the staged producer's file by the plugin's own copy (0600)
// of the content checked: a producer may still hold its inode open. The
// copy keeps the file's times, from which the user's age counts (Max_Age).
// A crash leaves either the producer's file staged or the copy.
func own(d *dirhandle.Dir, stage string, content []byte, st unix.Stat_t) error {
	if !bytes.HasSuffix(content, []byte{'\n'}) {
		// tail waits for a line's end, which nobody can write to the copy
		// (an empty line: the user is the file's name).
		content = append(content, '\n')
	}
	f, err := d.OpenFile(ownTemp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("copy %s: %w", stage, err)
	}
	_, err = f.Write(content)
	if err == nil {
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
