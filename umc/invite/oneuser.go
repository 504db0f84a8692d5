package invite

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"umc-invite/umc/queue"
	"umc-invite/umc/record"
)

// maxNamed caps how many other users a reason names.
const maxNamed = 5

// notOneUsers says why the job's queue file is not one user's: it holds a
// line for another user, or one that names nobody ("echo bob >>
// alice.send"). Such a file is never sent: its lines share one identity on
// disk, so the first user's 200 would remove the others unsent. "" when
// every line names the job's user (the first line and its carry-overs).
func (o *Output) notOneUsers(j *job) string {
	data, err := o.queue.Read(*j.file)
	switch {
	case errors.Is(err, queue.ErrTooBig):
		return fmt.Sprintf("queue file is over %d bytes; a queue file holds one user's line: write one file per user", queue.MaxFileSize)
	case err != nil:
		// Gone or unreadable just now: the next steps find out and say so.
		return ""
	}
	others := otherUsers(string(data), j.username, j.rec.Tag, j.file.Path,
		record.Keys{Username: o.cfg.UsernameKey, Path: o.cfg.PathKey})
	if len(others) == 0 {
		return ""
	}
	named := others
	if len(named) > maxNamed {
		named = append(named[:maxNamed:maxNamed], fmt.Sprintf("%d more", len(others)-maxNamed))
	}
	return fmt.Sprintf("queue file holds lines for more than one user (%q and %s); nobody in it was sent, "+
		"since one user's 200 would remove the others' lines: write one file per user and re-queue each",
		j.username, strings.Join(named, ", "))
}

// otherUsers lists, in order, the users other than username that lines of
// data name; a line naming nobody is listed by its number.
func otherUsers(data, username, tag, path string, keys record.Keys) []string {
	var others []string
	seen := map[string]bool{username: true}
	for i, line := range strings.Split(data, "\n") {
		if strings.TrimSpace(line) == "" {
			continue // tail makes no user of it apart from the file name
		}
		r := record.New(tag, time.Time{}, map[any]any{"log": line, keys.Path: path})
		name, err := record.Username(r, keys)
		shown := fmt.Sprintf("%q", name)
		if err != nil {
			name = fmt.Sprintf("\x00%d", i) // no user name holds a NUL
			shown = fmt.Sprintf("line %d, which names no user", i+1)
		}
		if !seen[name] {
			seen[name] = true
			others = append(others, shown)
		}
	}
	return others
}
