//go:build linux

package spool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// The journals' file names in the dead-letter directory. LeftoverLog lists
// delivered queue files whose removal failed (a sticky queue directory, a
// read-only remount): such a file was invited and is never sent again,
// also after a restart, until it is gone.
const (
	DeadLetterLog = "dead-letter.jsonl"
	LeftoverLog   = "delivered-not-removed.jsonl"
)

// The kinds of DeadLetter.
const (
	KindRefused  = "refused"
	KindFailed   = "failed"
	KindBadInput = "bad_input"
	// KindExpired is a user still not served Max_Age after its file was
	// queued; it carries UMC's last answer.
	KindExpired = "expired"
)

// maxText caps each text field from outside in a journal's line.
const maxText = 2048

// maxLeftoverLog bounds what is read of LeftoverLog.
const maxLeftoverLog = 16 << 20

// DeadLetter is one line of the dead-letter log: what an operator needs to
// see why a user got no invitation and to re-queue it.
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

// Leftover is one line of LeftoverLog: the delivered file's identity, as
// the output's ledger keys it (device, inode, birth time), and its name.
type Leftover struct {
	Time time.Time `json:"time"`
	Key  string    `json:"key"`
	Name string    `json:"name"`
	// Modified (ns) tells a new file on a reused inode apart where the file
	// system keeps no birth time.
	Modified int64  `json:"mtime_ns,omitempty"`
	Username string `json:"username,omitempty"`
}

// DeadLetters appends to the journals in the held dead-letter directory;
// safe for concurrent use.
type DeadLetters struct {
	mu sync.Mutex // one line at a time, one rewrite of a journal
	h  *Dir
}

// OpenDeadLetters opens the dead-letter directory now, creating it when
// missing, and checks it is writable. One inside the queue directory (the
// default failed/) is opened relative to the queue's descriptor and
// refused when it is a symlink; any other path is resolved once. queue may
// be nil (no Queue_Dir); else its MoveTo moves into it by descriptor.
func OpenDeadLetters(queue *Queue, dir string) (*DeadLetters, error) {
	var parent *Dir
	if queue != nil {
		parent = queue.h
	}
	h, err := OpenDirIn(parent, dir, true, 0o750)
	if err != nil {
		return nil, err
	}
	if parent != nil && h.Same(parent) {
		h.Close()
		return nil, fmt.Errorf("%s is the queue directory %s", quote(dir), quote(parent.Path))
	}
	if err := writable(h); err != nil {
		h.Close()
		return nil, fmt.Errorf("%s: %w", quote(h.Path), err)
	}
	return &DeadLetters{h: h}, nil
}

// Dir is where dead letters go, symlinks resolved at start.
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

// Append writes one dead letter and syncs it: it is the only trace of a
// record that leaves the queue without an invitation. Texts from outside
// are cut so that no line floods the log.
func (d *DeadLetters) Append(l DeadLetter) error {
	for _, s := range []*string{&l.Username, &l.Reason, &l.Error, &l.Message, &l.File, &l.Tag} {
		*s = cut(*s, maxText)
	}
	return d.appendLine(DeadLetterLog, l)
}

// AppendLeftover writes one line to LeftoverLog and syncs it: once it
// returns nil, a restart knows the file was delivered.
func (d *DeadLetters) AppendLeftover(l Leftover) error {
	l.Name, l.Username = cut(l.Name, maxText), cut(l.Username, maxText)
	return d.appendLine(LeftoverLog, l)
}

// appendLine writes v as one JSON line to the journal name and syncs it.
// One write per line; a short write (full disk) is cut back off, so the
// journal never holds half a line.
func (d *DeadLetters) appendLine(name string, v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode a line of %s: %w", name, err)
	}
	line = append(line, '\n')
	d.mu.Lock()
	defer d.mu.Unlock()
	f, err := d.h.OpenFile(name, unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	st, err := regular(f)
	if err != nil {
		return err
	}
	if n, err := f.Write(line); err != nil {
		if n > 0 {
			_ = f.Truncate(st.Size())
		}
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if st.Size() == 0 {
		return d.h.Sync() // a new journal: its directory entry too
	}
	return nil
}

func regular(f *os.File) (fs.FileInfo, error) {
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", quote(f.Name()), err)
	}
	return st, nil
}

// Leftovers reads LeftoverLog (missing: empty).
func (d *DeadLetters) Leftovers() ([]Leftover, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return readLeftovers(d.h)
}

// readLeftovers reads LeftoverLog in h (missing: empty), never through a
// link; a line that is not JSON (a crash mid-write) is skipped.
func readLeftovers(h *Dir) ([]Leftover, error) {
	f, err := h.OpenFile(LeftoverLog, unix.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", LeftoverLog, err)
	}
	defer f.Close()
	if _, err := regular(f); err != nil {
		return nil, err
	}
	var out []Leftover
	sc := bufio.NewScanner(io.LimitReader(f, maxLeftoverLog))
	sc.Buffer(nil, maxLeftoverLog)
	for sc.Scan() {
		var l Leftover
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Key != "" && l.Name != "" {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

// KeepLeftovers rewrites LeftoverLog with the lines of keep only (files
// still there), under a hidden name renamed over it; with none, it removes
// the journal.
func (d *DeadLetters) KeepLeftovers(keep []Leftover) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.h
	if len(keep) == 0 {
		if err := unix.Unlinkat(h.FD(), LeftoverLog, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove %s: %w", LeftoverLog, err)
		}
		return h.Sync()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, l := range keep {
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	tmpName := hiddenName("." + LeftoverLog + ".")
	tmp, err := h.OpenFile(tmpName, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", LeftoverLog, err)
	}
	defer unix.Unlinkat(h.FD(), tmpName, 0) // after the rename, a no-op
	_, err = tmp.Write(buf.Bytes())
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(h.FD(), tmpName, h.FD(), LeftoverLog)
	}
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", LeftoverLog, err)
	}
	return h.Sync()
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

// quote makes a name from outside safe for one log line: cut, and quoted
// as Go quotes (control characters and invalid UTF-8 become escapes).
func quote(s string) string { return strconv.Quote(cut(s, 300)) }
