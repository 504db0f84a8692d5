package waiting

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"umc-invite/umc/dirhandle"
	"umc-invite/umc/queue"
)

// Delivered splits users into those still waiting and those whose queue
// file is on the plugin's journal of delivered files whose removal failed
// (queue.LeftoverLog in deadDir): invited, only left in place. A journal
// line counts only for the same file: same inode and modification time.
// A missing or unreadable journal holds none.
func Delivered(users []User, deadDir string) (waiting, delivered []User) {
	h, err := dirhandle.Open(deadDir)
	if err != nil {
		return users, nil
	}
	defer h.Close()
	lines, _ := queue.ReadLeftovers(h)
	for _, u := range users {
		if isDelivered(u.File, lines) {
			delivered = append(delivered, u)
		} else {
			waiting = append(waiting, u)
		}
	}
	return waiting, delivered
}

func isDelivered(path string, lines []queue.Leftover) bool {
	var st unix.Stat_t
	if len(lines) == 0 || unix.Lstat(path, &st) != nil {
		return false
	}
	prefix := fmt.Sprintf("file:%d:%d", uint64(st.Dev), st.Ino)
	for _, l := range lines {
		if l.Name == filepath.Base(path) && (l.Key == prefix || strings.HasPrefix(l.Key, prefix+":")) && (l.Modified == 0 || l.Modified == st.Mtim.Nano()) {
			return true
		}
	}
	return false
}
