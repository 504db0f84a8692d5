package invite

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"umc-invite/umc/policy"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

// fileLines is what a queue file's lines say, read once per flush.
type fileLines struct {
	read    bool // false: unreadable just now
	tooBig  bool
	data    []byte // at most spool.MaxFileSize bytes
	lines   []lineName
	carry   *policy.User              // the newest carried line's state, for every line before it
	key     string                    // its ledger key, worked out once per flush
	initial *spool.Entry[policy.User] // the entry its records start from (known)
}

// flushFiles are the queue files of more than one line one flush has
// read, by identity and size.
type flushFiles map[fileSize]*fileLines

type fileSize struct {
	id   spool.FileID
	size int64
}

func (ff flushFiles) read(o *Output, f spool.File, rec record.Record) *fileLines {
	key := fileSize{f.ID(), f.Size}
	if ff[key] != nil {
		return ff[key]
	}
	data, err := o.queue.Read(f)
	fl := &fileLines{read: err == nil || errors.Is(err, spool.ErrTooBig), tooBig: errors.Is(err, spool.ErrTooBig), data: data}
	if err != nil {
		ff[key] = fl
		return fl
	}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		r, name, err := lineOf(o.keys, rec.Tag, f.Path, line)
		fl.lines = append(fl.lines, lineName{name: name, ok: err == nil, n: i + 1})
		if c, ok := r.Carried(); err == nil && ok {
			fl.carry = &c
		}
	}
	if len(fl.lines) > 1 {
		// Kept for the file's other records; a file of one line (the
		// usual) has no other, and a backlog's flush keeps none.
		ff[key] = fl
	}
	return fl
}

// hasLine reports whether line is at offset, ended by a newline or CR LF; known false: not read that far.
func (fl *fileLines) hasLine(offset int64, line string) (same, known bool) {
	if !fl.read || offset < 0 {
		return false, false
	}
	end := offset + int64(len(line))
	if end+2 > int64(len(fl.data)) && fl.tooBig {
		return false, false
	}
	if end >= int64(len(fl.data)) || string(fl.data[offset:end]) != line {
		return false, true
	}
	rest := fl.data[end:]
	return rest[0] == '\n' || bytes.HasPrefix(rest, []byte("\r\n")), true
}

type lineName struct {
	name string
	ok   bool
	n    int
}

// lineOf is a queue file's line as tail's record, and the user it names.
func lineOf(keys record.Keys, tag, path, line string) (record.Record, string, error) {
	r := record.New(tag, time.Time{}, map[any]any{"log": line, keys.Path: path})
	name, err := record.Username(r, keys)
	return r, name, err
}

// notOneUsers says why the file is not username's alone ("" when it is).
func (fl fileLines) notOneUsers(username string) string {
	if fl.tooBig {
		return fmt.Sprintf("queue file is over %d bytes; a queue file holds one user's line: write one file per user", spool.MaxFileSize)
	}
	others := fl.names(username, true)
	if others == "" {
		return ""
	}
	return fmt.Sprintf("queue file holds lines for more than one user (%q and %s); nobody in it was sent, "+
		"since one user's 200 would remove the others' lines: write one file per user and re-queue each", username, others)
}

// alsoNamed names the users a bad-input file holds: they leave with it.
func (fl fileLines) alsoNamed() string {
	if names := fl.names("", false); names != "" {
		return "; the file also names " + names + ", not sent: re-queue them one file each"
	}
	return ""
}

// names lists the users named but skip, with bad also the lines naming nobody.
func (fl fileLines) names(skip string, bad bool) string {
	var out []string
	seen := map[string]bool{}
	for _, l := range fl.lines {
		shown := fmt.Sprintf("%q", l.name)
		if !l.ok {
			shown = fmt.Sprintf("line %d, which names no user", l.n)
		}
		if (l.ok && l.name != skip || !l.ok && bad) && !seen[shown] {
			seen[shown] = true
			out = append(out, shown)
		}
	}
	return shortList(out)
}

func shortList(items []string) string {
	if len(items) > 5 {
		items = append(items[:5:5], fmt.Sprintf("%d more", len(items)-5))
	}
	return strings.Join(items, ", ")
}

// staleParsed reports a parsed record whose user no line names: the file is another's now.
func (fl fileLines) staleParsed(rec record.Record, name string, err error) bool {
	if _, hasLog := rec.Fields["log"]; hasLog || !fl.read || fl.tooBig || err != nil {
		return false
	}
	return !slices.ContainsFunc(fl.lines, func(l lineName) bool { return l.ok && l.name == name })
}
