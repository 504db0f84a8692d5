package invite

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"umc-invite/umc/ledger"
	"umc-invite/umc/policy"
	"umc-invite/umc/queue"
	"umc-invite/umc/record"
)

// maxNamed caps how many other users a reason names.
const maxNamed = 5

// fileLines is what a queue file's lines say, read once per flush.
type fileLines struct {
	read   bool // false: unreadable just now; the next steps find out
	tooBig bool
	data   []byte // what was read (at most queue.MaxFileSize bytes)
	lines  []lineName
	// The newest carried-over line's state: it speaks for every line
	// before it, whichever of them a chunk brings first.
	carried bool
	carry   policy.User

	// Per flush, per file: its ledger key and the entry a record of it
	// starts from (see Output.known), worked out once.
	key     string
	initial *ledger.Entry
}

// flushFiles are the queue files one flush has read, by identity and size:
// a file of many lines (each a record of the chunk) is read and parsed
// once, not once per line.
type flushFiles map[string]*fileLines

func (ff flushFiles) read(o *Output, f queue.File, rec record.Record) *fileLines {
	key := fmt.Sprintf("%s:%d", f.Key(), f.Size)
	if fl, ok := ff[key]; ok {
		return fl
	}
	fl := readLines(o.queue, f, rec.Tag, o.keys)
	ff[key] = &fl
	return &fl
}

// hasLine reports whether the data read holds line at offset, ended by a
// newline (tail drops a carriage return before it); known is false when
// the data read does not reach that far.
func (fl *fileLines) hasLine(offset int64, line string) (same, known bool) {
	if !fl.read || offset < 0 {
		return false, false
	}
	end := offset + int64(len(line))
	if end+2 > int64(len(fl.data)) && fl.tooBig {
		return false, false
	}
	if end >= int64(len(fl.data)) {
		return false, true
	}
	if string(fl.data[offset:end]) != line {
		return false, true
	}
	rest := fl.data[end:]
	return rest[0] == '\n' || (len(rest) > 1 && rest[0] == '\r' && rest[1] == '\n'), true
}

// lineName is the user one line names, or ok false for a line naming none.
type lineName struct {
	name string
	ok   bool
	n    int // line number, from 1
}

// readLines reads a queue file. A line that is white space only is no
// user's (tail makes none of it apart from the file name).
func readLines(q *queue.Dir, f queue.File, tag string, keys record.Keys) fileLines {
	data, err := q.Read(f)
	switch {
	case errors.Is(err, queue.ErrTooBig):
		return fileLines{read: true, tooBig: true, data: data}
	case err != nil:
		return fileLines{}
	}
	fl := fileLines{read: true, data: data}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		r, name, err := lineOf(keys, tag, f.Path, line)
		fl.lines = append(fl.lines, lineName{name: name, ok: err == nil, n: i + 1})
		if c, ok := r.Carried(); err == nil && ok {
			fl.carried, fl.carry = true, c
		}
	}
	return fl
}

// lineOf is one line of a queue file as tail makes it a record, and the
// user it names.
func lineOf(keys record.Keys, tag, path, line string) (record.Record, string, error) {
	r := record.New(tag, time.Time{}, map[any]any{"log": line, keys.Path: path})
	name, err := record.Username(r, keys)
	return r, name, err
}

// notOneUsers says why the file is not username's alone: it holds a line
// for another user, or one that names nobody ("echo bob >> alice.send").
// Such a file is never sent: its lines share one identity on disk, so the
// first user's 200 would remove the others unsent. "" when every line
// names username (its first line and its carry-overs).
func (fl fileLines) notOneUsers(username string) string {
	if fl.tooBig {
		return fmt.Sprintf("queue file is over %d bytes; a queue file holds one user's line: write one file per user", queue.MaxFileSize)
	}
	others := fl.others(username)
	if others == "" {
		return ""
	}
	return fmt.Sprintf("queue file holds lines for more than one user (%q and %s); nobody in it was sent, "+
		"since one user's 200 would remove the others' lines: write one file per user and re-queue each", username, others)
}

// alsoNamed completes a bad-input reason with the users the file names:
// they leave with it, so the letter must name them.
func (fl fileLines) alsoNamed() string {
	var names []string
	seen := map[string]bool{}
	for _, l := range fl.lines {
		if l.ok && !seen[l.name] {
			seen[l.name] = true
			names = append(names, fmt.Sprintf("%q", l.name))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return "; the file also names " + shortList(names) + ", not sent: re-queue them one file each"
}

// others lists, in order, the users other than username the lines name,
// and the lines that name nobody; "" when there are none.
func (fl fileLines) others(username string) string {
	var others []string
	seen := map[string]bool{username: true}
	for _, l := range fl.lines {
		name, shown := l.name, fmt.Sprintf("%q", l.name)
		if !l.ok {
			name = fmt.Sprintf("\x00%d", l.n) // no user name holds a NUL
			shown = fmt.Sprintf("line %d, which names no user", l.n)
		}
		if !seen[name] {
			seen[name] = true
			others = append(others, shown)
		}
	}
	return shortList(others)
}

func shortList(items []string) string {
	if len(items) > maxNamed {
		items = append(items[:maxNamed:maxNamed], fmt.Sprintf("%d more", len(items)-maxNamed))
	}
	return strings.Join(items, ", ")
}

// staleParsed reports a record without its line (tail's Parser json took
// it apart, so sameFile could not compare it) whose user, name, no line of
// the file at its path names: that file is another's now (lines added
// during its delivered call, kept queued on their own).
func (fl fileLines) staleParsed(rec record.Record, name string, err error) bool {
	if _, hasLog := rec.Fields["log"]; hasLog || !fl.read || fl.tooBig || err != nil {
		return false
	}
	for _, l := range fl.lines {
		if l.ok && l.name == name {
			return false
		}
	}
	return true
}
