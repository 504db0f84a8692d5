// Package waiting lists the users waiting in a queue directory, from the
// queue files alone (no running plugin needed): each file's user, its age,
// UMC's last answer and its next try, as the newest carried-over line says
// (a file never carried over is as old as its modification time).
package waiting

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/umc/dirhandle"
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

// List reads every regular queue file directly in dir, through the
// directory's handle (never following a link nor blocking on a FIFO), each
// user's name under usernameKey (the output's Username_Key; "":
// username); problems are the entries it could not read.
func List(dir, usernameKey string, now time.Time) (users []User, problems []string, err error) {
	if usernameKey == "" {
		usernameKey = "username"
	}
	h, err := dirhandle.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	defer h.Close()
	var names []string
	if err := h.Each(func(name string, _ fs.FileMode) {
		if queue.IsQueueName(name) {
			names = append(names, name)
		}
	}); err != nil {
		return nil, nil, err
	}
	sort.Strings(names)
	for _, name := range names {
		u, err := read(h, name, filepath.Join(dir, name), usernameKey, now)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%q: %v", name, err))
			continue
		}
		users = append(users, u)
	}
	sort.SliceStable(users, func(a, b int) bool { return users[a].FirstSeen.Before(users[b].FirstSeen) })
	return users, problems, nil
}

func read(h *dirhandle.Dir, name, path, usernameKey string, now time.Time) (User, error) {
	f, err := h.OpenFile(name, unix.O_RDONLY, 0)
	if err != nil {
		return User{}, errors.Unwrap(err)
	}
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
