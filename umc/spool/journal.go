//go:build linux

package spool

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

const (
	// The journals in the dead-letter directory; LeftoverLog: delivered files whose removal failed, never sent again.
	DeadLetterLog = "dead-letter.jsonl"
	LeftoverLog   = "delivered-not-removed.jsonl"

	// The kinds of DeadLetter.
	KindRefused  = "refused"
	KindFailed   = "failed"
	KindBadInput = "bad_input"
	KindExpired  = "expired" // Max_Age old, with UMC's last answer

	maxText        = 2048     // caps each text from outside in a journal's line
	maxLeftoverLog = 16 << 20 // what is read of LeftoverLog
)

// DeadLetter is one line of DeadLetterLog: why a user got no invitation.
type DeadLetter struct {
	Time     time.Time      `json:"time"`
	Kind     string         `json:"kind"` // one of the Kind constants
	Username string         `json:"username,omitempty"`
	Reason   string         `json:"reason"`
	Status   int            `json:"last_status,omitempty"`
	Error    string         `json:"last_error,omitempty"`
	Message  string         `json:"umc_message,omitempty"`
	File     string         `json:"file,omitempty"` // where the queue file was moved
	Tag      string         `json:"tag"`
	Record   map[string]any `json:"record"`
}

// Leftover is one line of LeftoverLog; the mtime stands in for a birth time.
type Leftover struct {
	Time     time.Time `json:"time"`
	Key      string    `json:"key"`
	Name     string    `json:"name"`
	Modified int64     `json:"mtime_ns,omitempty"`
	Username string    `json:"username,omitempty"`
}

// DeadLetters writes the journals in the held dead-letter directory.
type DeadLetters struct {
	mu sync.Mutex // one line at a time, one rewrite of a journal
	h  *Dir
}

// OpenDeadLetters opens (creating) a writable dead-letter directory, through queue's handle when inside it.
func OpenDeadLetters(queue *Queue, dir string) (*DeadLetters, error) {
	var parent *Dir
	if queue != nil {
		parent = queue.h
	}
	h, err := OpenDirIn(parent, dir, true, 0o750)
	if err == nil && parent != nil && h.id == parent.id {
		err = fmt.Errorf("%s is the queue directory %s", quote(dir), quote(parent.Path))
	} else if err == nil {
		err = wrapPath(writable(h), "", h.Path)
	}
	if err != nil {
		h.Close()
		return nil, err
	}
	return &DeadLetters{h: h}, nil
}

// Dir is where dead letters go, symlinks resolved.
func (d *DeadLetters) Dir() string { return d.h.Path }

// Handle is the held directory; it stays d's: do not close it.
func (d *DeadLetters) Handle() *Dir { return d.h }

// Close gives the directory's descriptor back.
func (d *DeadLetters) Close() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.h.Close()
}

// Append writes one dead letter, texts cut, and syncs it.
func (d *DeadLetters) Append(l DeadLetter) error {
	for _, s := range []*string{&l.Username, &l.Reason, &l.Error, &l.Message, &l.File, &l.Tag} {
		*s = cut(*s, maxText)
	}
	return d.appendLine(DeadLetterLog, l)
}

// AppendLeftover writes one line to LeftoverLog and syncs it.
func (d *DeadLetters) AppendLeftover(l Leftover) error {
	l.Name, l.Username = cut(l.Name, maxText), cut(l.Username, maxText)
	return d.appendLine(LeftoverLog, l)
}

// appendLine writes v as one JSON line to the journal name.
func (d *DeadLetters) appendLine(name string, v any) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return AppendLine(d.h, name, v)
}

// AppendLine writes v as one JSON line to the journal name in h, synced.
// After a last line a crash cut short it begins a new line: glued to it,
// both would be lost to a reader.
func AppendLine(h *Dir, name string, v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode a line of %s: %w", name, err)
	}
	f, err := h.OpenFile(name, unix.O_RDWR|unix.O_CREAT|unix.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := regular(f)
	if err != nil {
		return err
	}
	last := []byte{'\n'}
	if st.Size > 0 {
		_, _ = f.ReadAt(last, st.Size-1)
	}
	if last[0] != '\n' {
		line = append([]byte{'\n'}, line...)
	}
	if err = wrap(writeLine(f, st.Size, append(line, '\n')), "write "+name); err == nil && st.Size == 0 {
		err = h.Sync() // a new journal: its directory entry too
	}
	return err
}

// Leftovers reads LeftoverLog (missing: empty), less lines a crash cut.
func (d *DeadLetters) Leftovers() ([]Leftover, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, err := d.h.OpenFile(LeftoverLog, unix.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var data []byte
	if err == nil {
		defer f.Close()
		if _, err = regular(f); err == nil {
			data, err = io.ReadAll(io.LimitReader(f, maxLeftoverLog))
		}
	}
	var out []Leftover
	for line := range bytes.Lines(data) {
		var l Leftover
		if json.Unmarshal(line, &l) == nil && l.Key != "" && l.Name != "" {
			out = append(out, l)
		}
	}
	return out, err
}

// KeepLeftovers replaces LeftoverLog by the lines of keep (none: removes it).
func (d *DeadLetters) KeepLeftovers(keep []Leftover) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(keep) == 0 {
		return unlink(d.h, LeftoverLog, 0, "remove "+LeftoverLog, nil)
	}
	var buf bytes.Buffer
	for _, l := range keep {
		_ = json.NewEncoder(&buf).Encode(l) // a Leftover always encodes
	}
	tmp, err := WriteHidden(d.h, "."+LeftoverLog+".", 0o640, buf.Bytes(), true, nil)
	if err == nil {
		err = renameIn(d.h, tmp, LeftoverLog, nil)
	}
	return wrap(err, "rewrite "+LeftoverLog)
}

// cut returns s cut to at most limit bytes on a rune boundary, marked "…".
func cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	i := limit
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// quote makes a name from outside one bounded log-line token, control characters and bad UTF-8 escaped.
func quote(s string) string { return strconv.Quote(cut(s, 300)) }

// WaitingUser is one user waiting in a queue directory.
type WaitingUser struct {
	Username   string    `json:"username"`
	File       string    `json:"file"`
	FirstSeen  time.Time `json:"first_seen"`
	AgeSeconds float64   `json:"age_seconds"`
	LastAnswer string    `json:"last_answer"`
	NextTry    time.Time `json:"next_try,omitzero"`
	key        string    // the file's, as listed
	modified   int64     // the file's mtime (ns), as listed
}

// ListWaiting lists the users waiting in dir, oldest first, from the files alone: user parses one (its name
// and mtime stand in where it says nothing); problems are the entries that could not be read.
func ListWaiting(dir string, user func(path string, data []byte) WaitingUser, now time.Time) (users []WaitingUser, problems []string, err error) {
	h, err := OpenDir(dir)
	if err != nil {
		return nil, nil, err
	}
	defer h.Close()
	names, err := queueNames(h, func(string, fs.FileMode) bool { return true })
	slices.Sort(names)
	q := &Queue{h: h}
	for _, name := range names {
		var data []byte
		var st unix.Stat_t
		f, err := statName(h, name)
		if err == nil {
			data, err = q.Read(f)
		}
		if err == nil {
			st, err = look(h, f)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%q: %v", name, err))
			continue
		}
		path := filepath.Join(dir, name)
		u := user(path, data)
		u.File, u.key, u.modified = path, f.Key(), st.Mtim.Nano()
		u.Username = cmp.Or(u.Username, strings.TrimSuffix(name, QueueSuffix))
		if u.FirstSeen.IsZero() {
			u.FirstSeen = time.Unix(0, u.modified)
		}
		u.AgeSeconds = now.Sub(u.FirstSeen).Seconds()
		users = append(users, u)
	}
	slices.SortStableFunc(users, func(a, b WaitingUser) int { return a.FirstSeen.Compare(b.FirstSeen) })
	return users, problems, err
}

// SplitDelivered parts from users those whose file (inode and mtime as listed) is on LeftoverLog in deadDir.
func SplitDelivered(users []WaitingUser, deadDir string) (waiting, delivered []WaitingUser) {
	h, err := OpenDir(deadDir)
	if err != nil {
		return users, nil
	}
	defer h.Close()
	lines, _ := (&DeadLetters{h: h}).Leftovers()
	for _, u := range users {
		if slices.ContainsFunc(lines, func(l Leftover) bool {
			return l.Name == filepath.Base(u.File) && (l.Key == u.key || strings.HasPrefix(l.Key, u.key+":")) && cmp.Or(l.Modified, u.modified) == u.modified
		}) {
			delivered = append(delivered, u)
		} else {
			waiting = append(waiting, u)
		}
	}
	return waiting, delivered
}
