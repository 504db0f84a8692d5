package queue

import (
	"fmt"
	"io/fs"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/umc/logtext"
)

// KindExpired is the dead letter of a user still not served Max_Age after
// its file was queued; it carries UMC's last answer.
const KindExpired = "expired"

// Modified is when f was last written: for a queue file that holds no
// carried-over line, when its producer queued it, where its age counts from.
func (d *Dir) Modified(f File) (time.Time, error) {
	st, err := d.h.Lstat(f.name())
	if err != nil {
		return time.Time{}, fmt.Errorf("queue file %s: %w", logtext.Quote(f.Path), err)
	}
	if uint64(st.Dev) != f.Dev || st.Ino != f.Ino {
		return time.Time{}, fmt.Errorf("queue file %s was replaced by another: %w", logtext.Quote(f.Path), fs.ErrNotExist)
	}
	return time.Unix(0, st.Mtim.Nano()), nil
}

// Born is when f was created (statx's birth time), where the file system
// keeps it: with the inode it tells a file from a later one that reuses
// its inode (a delivered file whose removal failed, then gone, and a new
// user's file on the same inode). ok is false where there is no birth time.
func (d *Dir) Born(f File) (ns int64, ok bool) {
	var stx unix.Statx_t
	if err := unix.Statx(d.h.FD(), f.name(), unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_DONT_SYNC, unix.STATX_BTIME|unix.STATX_INO, &stx); err != nil {
		return 0, false
	}
	if stx.Ino != f.Ino || uint64(unix.Mkdev(stx.Dev_major, stx.Dev_minor)) != f.Dev || stx.Mask&unix.STATX_BTIME == 0 {
		return 0, false
	}
	return stx.Btime.Sec*1e9 + int64(stx.Btime.Nsec), true
}
