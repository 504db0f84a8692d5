// Package waiting lists the users waiting in a queue directory, from the
// queue files alone (no running plugin needed): each file's user, its age,
// UMC's last answer and its next try, as the newest carried-over line says
// (a file never carried over is as old as its modification time).
package waiting

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"umc-invite/umc/queue"
	"umc-invite/umc/record"
)

// User is one waiting user.
type User struct {
	Username   string    `json:"username"`
	File       string    `json:"file"`
	FirstSeen  time.Time `json:"first_seen"`
	AgeSeconds float64   `json:"age_seconds"`
	LastAnswer string    `json:"last_answer"`
	NextTry    time.Time `json:"next_try,omitzero"`
}

// List reads every regular *.send file directly in dir, never following a
// link nor blocking on a FIFO, each user's name under usernameKey (the
// output's Username_Key; "": username); problems are the entries it could
// not read.
func List(dir, usernameKey string, now time.Time) (users []User, problems []string, err error) {
	if usernameKey == "" {
		usernameKey = "username"
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, record.QueueSuffix) || strings.HasPrefix(name, ".") {
			continue
		}
		u, err := read(filepath.Join(dir, name), usernameKey, now)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%q: %v", name, err))
			continue
		}
		users = append(users, u)
	}
	sort.SliceStable(users, func(a, b int) bool { return users[a].FirstSeen.Before(users[b].FirstSeen) })
	return users, problems, nil
}

func read(path, usernameKey string, now time.Time) (User, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return User{}, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return User{}, err
	}
	if !st.Mode().IsRegular() {
		return User{}, errors.New("not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, queue.MaxFileSize+1))
	if err != nil {
		return User{}, err
	}
	if len(data) > queue.MaxFileSize {
		return User{}, fmt.Errorf("over %d bytes", queue.MaxFileSize)
	}
	u := User{File: path, FirstSeen: st.ModTime()}
	keys := record.Keys{Username: usernameKey, Path: "path"}
	var carry record.Carry
	carried := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" && u.Username != "" {
			continue
		}
		r := record.New("", time.Time{}, map[any]any{"log": line, "path": path})
		if name, err := record.Username(r, keys); err == nil && u.Username == "" {
			u.Username = name
		}
		if c, ok := r.Carried(); ok {
			carry, carried = c, true
		}
	}
	if u.Username == "" {
		u.Username = strings.TrimSuffix(filepath.Base(path), record.QueueSuffix)
	}
	if carried {
		if !carry.FirstSeen.IsZero() {
			u.FirstSeen = carry.FirstSeen
		}
		u.LastAnswer, u.NextTry = carry.LastAnswer, carry.NextTry
	}
	u.AgeSeconds = now.Sub(u.FirstSeen).Seconds()
	return u, nil
}
