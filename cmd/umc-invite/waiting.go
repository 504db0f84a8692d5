package main

import (
	"strings"
	"time"

	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

// waitingUser reads a queue file as the plugin does: the first line naming a
// user names it, the newest carried-over line holds its state.
func waitingUser(usernameKey string) func(path string, data []byte) spool.WaitingUser {
	keys := record.Keys{Username: usernameKey, Path: "path"}
	if keys.Username == "" {
		keys.Username = "username"
	}
	return func(path string, data []byte) spool.WaitingUser {
		var u spool.WaitingUser
		for _, line := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(line) == "" && u.Username != "" {
				continue
			}
			r := record.New("", time.Time{}, map[any]any{"log": line, "path": path})
			if name, err := record.Username(r, keys); err == nil && u.Username == "" {
				u.Username = name
			}
			if c, ok := r.Carried(); ok {
				u.FirstSeen, u.LastAnswer, u.NextTry = c.FirstSeen, c.LastAnswer, c.NextTry
			}
		}
		return u
	}
}
