package queue

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/umc/dirhandle"
	"umc-invite/umc/logtext"
)

// DeadLetterLog is the file name of the dead-letter log in its directory.
const DeadLetterLog = "dead-letter.jsonl"

// The kinds of DeadLetter.
const (
	KindRefused  = "refused"
	KindFailed   = "failed"
	KindBadInput = "bad_input"
)

// maxLetterText caps each text field of a dead letter.
const maxLetterText = 2048

// DeadLetter is one line of the dead-letter log: what an operator needs to
// see why a user got no invitation and to re-queue it.
type DeadLetter struct {
	Time time.Time `json:"time"`
	// Kind is "refused" (UMC will never mail this user: not an error),
	// "expired" (Max_Age old, with UMC's last answer) or "bad_input".
	Kind     string         `json:"kind"`
	Username string         `json:"username,omitempty"`
	Reason   string         `json:"reason"`
	Status   int            `json:"last_status,omitempty"`
	Error    string         `json:"last_error,omitempty"`
	Message  string         `json:"umc_message,omitempty"`
	File     string         `json:"file,omitempty"` // where the queue file was moved
	Tag      string         `json:"tag"`
	Record   map[string]any `json:"record"`
}

// DeadLetters appends to the dead-letter log in its held directory; safe
// for concurrent use.
type DeadLetters struct {
	mu  sync.Mutex     // one line at a time, one rewrite of a journal
	dir string         // as configured
	h   *dirhandle.Dir // held from OpenDeadLetters to Close
}

// OpenDeadLetters opens the dead-letter directory now, creating it when
// missing, and checks it is writable. A directory directly inside the
// queue directory (the default failed/) is opened relative to the queue's
// descriptor and refused when it is a symlink; any other path is resolved
// once. queue may be nil (no Queue_Dir). The queue's MoveTo then moves
// dead queue files into it by descriptor.
func OpenDeadLetters(queue *Dir, dir string) (*DeadLetters, error) {
	var parent *dirhandle.Dir
	if queue != nil {
		parent = queue.h
	}
	h, err := dirhandle.OpenIn(parent, dir, true, 0o750)
	if err != nil {
		return nil, err
	}
	if parent != nil && h.Same(parent) {
		h.Close()
		return nil, fmt.Errorf("%s is the queue directory %s", logtext.Quote(dir), logtext.Quote(parent.Path))
	}
	if err := writable(h); err != nil {
		h.Close()
		return nil, fmt.Errorf("%s: %w", logtext.Quote(h.Path), err)
	}
	d := &DeadLetters{dir: dir, h: h}
	if queue != nil {
		queue.dead = d
	}
	return d, nil
}

// Dir is where dead letters go: the directory as opened, its symlinks
// resolved at start.
func (d *DeadLetters) Dir() string { return d.h.Path }

// Handle is the held directory; it stays d's: do not close it.
func (d *DeadLetters) Handle() *dirhandle.Dir { return d.h }

// Close gives the directory's descriptor back.
func (d *DeadLetters) Close() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.h.Close()
}

// Append writes one line and syncs it: a dead letter is the only trace of a
// record that leaves the queue without an invitation.
func (d *DeadLetters) Append(l DeadLetter) error {
	// JSON escapes newlines; the texts from outside (a file's name, UMC's
	// message, an error naming a path) are cut so no line floods the log.
	for _, s := range []*string{&l.Username, &l.Reason, &l.Error, &l.Message, &l.File, &l.Tag} {
		*s = logtext.Cut(*s, maxLetterText)
	}
	return d.appendLine(DeadLetterLog, l)
}

// appendLine writes v as one JSON line to the log name in the held
// dead-letter directory and syncs it. One write per line: a short write on
// a full disk is cut back off, so the log never holds half a line.
func (d *DeadLetters) appendLine(name string, v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode a line of %s: %w", name, err)
	}
	line = append(line, '\n')
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.h
	f, err := h.OpenFile(name, unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", logtext.Quote(f.Name()))
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
		return h.Sync() // a new log: its directory entry too
	}
	return nil
}
