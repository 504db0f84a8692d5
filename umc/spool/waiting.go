//go:build linux

package spool

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// WaitingUser is one user waiting in a queue directory.
type WaitingUser struct {
	Username   string    `json:"username"`
	File       string    `json:"file"`
	FirstSeen  time.Time `json:"first_seen"`
	AgeSeconds float64   `json:"age_seconds"`
	LastAnswer string    `json:"last_answer"`
	NextTry    time.Time `json:"next_try,omitzero"`
}

// ListWaiting lists the users waiting in dir from the queue files alone,
// oldest first; user parses a file's username and carried-over state (its
// name and mtime stand in where these are empty). problems are the entries
// that could not be read.
func ListWaiting(dir string, user func(path string, data []byte) WaitingUser, now time.Time) (users []WaitingUser, problems []string, err error) {
	h, err := OpenDir(dir)
	if err != nil {
		return nil, nil, err
	}
	defer h.Close()
	names, err := queueNames(h, func(string, fs.FileMode) bool { return true })
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(names)
	q := &Queue{h: h}
	for _, name := range names {
		var data []byte
		var mtime time.Time
		f, err := statName(h, name)
		if err == nil {
			data, err = q.Read(f)
		}
		if err == nil {
			mtime, err = q.Modified(f)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%q: %v", name, err))
			continue
		}
		path := filepath.Join(dir, name)
		u := user(path, data)
		u.File = path
		if u.Username == "" {
			u.Username = strings.TrimSuffix(name, QueueSuffix)
		}
		if u.FirstSeen.IsZero() {
			u.FirstSeen = mtime
		}
		u.AgeSeconds = now.Sub(u.FirstSeen).Seconds()
		users = append(users, u)
	}
	sort.SliceStable(users, func(a, b int) bool { return users[a].FirstSeen.Before(users[b].FirstSeen) })
	return users, problems, nil
}

// SplitDelivered parts from users those whose file (same inode and mtime)
// is on LeftoverLog in deadDir: invited, only left in place.
func SplitDelivered(users []WaitingUser, deadDir string) (waiting, delivered []WaitingUser) {
	h, err := OpenDir(deadDir)
	if err != nil {
		return users, nil
	}
	defer h.Close()
	lines, _ := readLeftovers(h)
	for _, u := range users {
		if isDelivered(u.File, lines) {
			delivered = append(delivered, u)
		} else {
			waiting = append(waiting, u)
		}
	}
	return waiting, delivered
}

func isDelivered(path string, lines []Leftover) bool {
	var st unix.Stat_t
	if len(lines) == 0 || unix.Lstat(path, &st) != nil {
		return false
	}
	key := File{Dev: uint64(st.Dev), Ino: st.Ino}.Key()
	return slices.ContainsFunc(lines, func(l Leftover) bool {
		return l.Name == filepath.Base(path) && (l.Key == key || strings.HasPrefix(l.Key, key+":")) && (l.Modified == 0 || l.Modified == st.Mtim.Nano())
	})
}
