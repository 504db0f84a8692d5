package waiting

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"umc-invite/umc/queue"
)

// maxJournal bounds what is read of the delivered-file journal.
const maxJournal = 16 << 20

// Delivered splits users into those still waiting and those whose queue
// file is on the plugin's journal of delivered files whose removal failed
// (queue.LeftoverLog in deadDir): invited, only left in place. A journal
// line counts only for the same file: same inode and modification time.
func Delivered(users []User, deadDir string) (waiting, delivered []User) {
	lines := journal(deadDir)
	if len(lines) == 0 {
		return users, nil
	}
	for _, u := range users {
		if isDelivered(u.File, lines) {
			delivered = append(delivered, u)
		} else {
			waiting = append(waiting, u)
		}
	}
	return waiting, delivered
}

func isDelivered(path string, lines map[string][]queue.Leftover) bool {
	var st syscall.Stat_t
	if syscall.Lstat(path, &st) != nil {
		return false
	}
	prefix := fmt.Sprintf("file:%d:%d", uint64(st.Dev), st.Ino)
	for _, l := range lines[filepath.Base(path)] {
		if (l.Key == prefix || strings.HasPrefix(l.Key, prefix+":")) && (l.Modified == 0 || l.Modified == st.Mtim.Nano()) {
			return true
		}
	}
	return false
}

// journal reads deadDir's journal by name, never through a link; missing
// or unreadable: none.
func journal(deadDir string) map[string][]queue.Leftover {
	fd, err := syscall.Open(filepath.Join(deadDir, queue.LeftoverLog), syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), queue.LeftoverLog)
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil
	}
	out := map[string][]queue.Leftover{}
	sc := bufio.NewScanner(io.LimitReader(f, maxJournal))
	sc.Buffer(nil, maxJournal)
	for sc.Scan() {
		var l queue.Leftover
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Name != "" {
			out[l.Name] = append(out[l.Name], l)
		}
	}
	return out
}
