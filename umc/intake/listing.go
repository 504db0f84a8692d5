package intake

import (
	"cmp"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"umc-invite/umc/dirhandle"
)

// entry is an intake file; the oldest (mtime, then name) is admitted first.
type entry struct {
	name string
	mod  int64 // mtime in ns
}

func (e entry) compare(o entry) int {
	return cmp.Or(cmp.Compare(e.mod, o.mod), strings.Compare(e.name, o.name))
}

// watched tells whether tail reads a name in the queue: Path *.send less
// the shipped Exclude_Path *[[:cntrl:]]*. Such a file holds a place, also
// under a name the intake would never admit.
func watched(name string) bool {
	return len(name) > len(Suffix) && strings.HasSuffix(name, Suffix) && name[0] != '.' &&
		!strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// candidate tells whether an intake name may be admitted: tail writes the
// names it watches into its log as they are (a newline would forge a line).
func candidate(name string) bool {
	return watched(name) && utf8.ValidString(name) &&
		!strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || r == 0x2028 || r == 0x2029 })
}

// tailReads tells whether tail reads a queue directory entry of type t: a
// regular file, or a symlink to one (looked at, never opened).
func tailReads(q *dirhandle.Dir, name string, t fs.FileMode) bool {
	var st unix.Stat_t
	return t.IsRegular() || t&fs.ModeSymlink != 0 &&
		unix.Fstatat(q.FD(), name, &st, 0) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// pending describes an intake entry that may be a user on the way in.
func pending(in *dirhandle.Dir, name string, t fs.FileMode) (unix.Stat_t, bool) {
	if !candidate(name) || !t.IsRegular() {
		return unix.Stat_t{}, false
	}
	st, err := in.Lstat(name)
	return st, err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// list reads the intake, when it may hold something new, and keeps the
// backlogCap oldest files: memory stays bounded however large the intake.
// A listing that had more is stale: the rest is read when these are used.
func (w *Window) list() (listed bool, err error) {
	mod, err := w.adm.in.ModTime()
	if err != nil {
		return false, fmt.Errorf("intake directory: %w", err)
	}
	if due := !w.retryAt.IsZero() && !time.Now().Before(w.retryAt); !w.stale && !due && mod == w.listedMod {
		return false, nil
	}
	start := time.Now()
	var kept []entry
	dropped := false
	keep := func() {
		slices.SortFunc(kept, entry.compare)
		if len(kept) > w.backlogCap {
			kept, dropped = kept[:w.backlogCap], true
		}
	}
	w.skipped = nil
	err = w.adm.in.Each(func(name string, t fs.FileMode) {
		st, ok := pending(w.adm.in, name, t)
		if !ok || st.Nlink > 1 && w.adm.finishLink(name) { // a link move a crash cut short: queued already
			return
		}
		if err := admissible(st.Size); err != nil {
			// Told once per listing, never moved.
			w.skipped = cmp.Or(w.skipped, fmt.Errorf("intake file %q: %w", name, err))
			return
		}
		if kept = append(kept, entry{name, st.Mtim.Nano()}); len(kept) >= 2*w.backlogCap {
			keep()
		}
	})
	if err != nil {
		return false, fmt.Errorf("list intake directory: %w", err)
	}
	keep()
	w.backlog, w.next, w.listedMod, w.retryAt = kept, 0, mod, time.Time{}
	// A change within the mtime's granularity may leave it as it was.
	w.stale = dropped || start.Sub(time.Unix(0, mod)) < w.settle
	return true, nil
}
