package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"umc-invite/umc/logtext"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

func runQueue(args []string, stdout, stderr io.Writer) int {
	queueDirs, asJSON, ok := listFlags("queue", args, stderr)
	if !ok {
		return exitUsage
	}
	now := time.Now()
	users := []spool.WaitingUser{}
	for _, d := range queueDirs {
		found, problems, err := spool.ListWaiting(d.queue, waitingUser(d.usernameKey), now)
		if err != nil {
			fmt.Fprintf(stderr, "umc-invite queue: %v\n", err)
			return exitUsage
		}
		for _, p := range problems {
			fmt.Fprintln(stderr, "note:", p)
		}
		found, delivered := spool.SplitDelivered(found, d.deadLetter)
		for _, u := range delivered {
			fmt.Fprintf(stderr, "note: %s (%s) was invited; its file could not be removed and is retried by the plugin (%s): not waiting\n",
				logtext.Quote(u.Username), logtext.Quote(u.File), spool.LeftoverLog)
		}
		users = append(users, found...)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return flushErr(enc.Encode(users), stderr)
	}
	if len(users) == 0 {
		fmt.Fprintln(stdout, "nobody waiting")
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tAGE\tNEXT TRY (UTC)\tLAST ANSWER\tFILE")
	for _, u := range users {
		next, last := "due", cmp.Or(u.LastAnswer, "- (not asked yet, or not carried over yet)")
		if u.NextTry.After(now) {
			next = u.NextTry.UTC().Format(time.DateTime)
		}
		age := time.Duration(u.AgeSeconds * float64(time.Second)).Round(time.Second)
		// Quoted and cut as in the plugin's log, so that none forges a row.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", logtext.Quote(u.Username), age, next, cell(last), logtext.Quote(u.File))
	}
	return flushErr(tw.Flush(), stderr)
}

// waitingUser reads a queue file as the plugin does: the first line naming a
// user names it, the newest carried-over line holds its state.
func waitingUser(usernameKey string) func(path string, data []byte) spool.WaitingUser {
	keys := record.Keys{Username: cmp.Or(usernameKey, "username"), Path: "path"}
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
