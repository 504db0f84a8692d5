package queue

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// KindExpired is the dead letter of a user still not served Max_Age after
// its file was queued; it carries UMC's last answer.
const KindExpired = "expired"

// Modified is when f was last written: for a queue file that holds no
// carried-over line, when its producer queued it, where its age counts from.
func (d *Dir) Modified(f File) (time.Time, error) {
	st, err := os.Lstat(f.Path)
	if err != nil {
		return time.Time{}, fmt.Errorf("queue file %s: %w", f.Path, err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || uint64(sys.Dev) != f.Dev || sys.Ino != f.Ino {
		return time.Time{}, fmt.Errorf("queue file %s was replaced by another: %w", f.Path, fs.ErrNotExist)
	}
	return st.ModTime(), nil
}
