package queue

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

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
	// "failed" (Max_Attempts failures of this user's own) or "bad_input".
	Kind     string         `json:"kind"`
	Username string         `json:"username,omitempty"`
	Reason   string         `json:"reason"`
	Attempts int            `json:"attempts"`
	Status   int            `json:"last_status,omitempty"`
	Error    string         `json:"last_error,omitempty"`
	Message  string         `json:"umc_message,omitempty"`
	File     string         `json:"file,omitempty"` // where the queue file was moved
	Tag      string         `json:"tag"`
	Record   map[string]any `json:"record"`
}

// DeadLetters appends to the dead-letter log; safe for concurrent use.
type DeadLetters struct {
	mu  sync.Mutex
	dir string
}

// NewDeadLetters writes into dir, which is created when needed.
func NewDeadLetters(dir string) *DeadLetters { return &DeadLetters{dir: dir} }

// Dir is where dead letters go.
func (d *DeadLetters) Dir() string { return d.dir }

// Append writes one line and syncs it: a dead letter is the only trace of a
// record that leaves the queue without an invitation.
func (d *DeadLetters) Append(l DeadLetter) error {
	// JSON escapes newlines; the texts from outside (a file's name, UMC's
	// message, an error naming a path) are cut so no line floods the log.
	for _, s := range []*string{&l.Username, &l.Reason, &l.Error, &l.Message, &l.File, &l.Tag} {
		*s = logtext.Cut(*s, maxLetterText)
	}
	line, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode dead letter: %w", err)
	}
	line = append(line, '\n')
	// One write per line: a short write on a full disk is cut back off, so
	// the log never holds half a line.
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := os.MkdirAll(d.dir, 0o750); err != nil {
		return fmt.Errorf("dead-letter directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(d.dir, DeadLetterLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open dead-letter log: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("dead-letter log: %w", err)
	}
	if n, err := f.Write(line); err != nil {
		if n > 0 {
			_ = f.Truncate(st.Size())
		}
		return fmt.Errorf("write dead-letter log: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync dead-letter log: %w", err)
	}
	if st.Size() == 0 {
		return syncDir(d.dir) // a new log: its directory entry too
	}
	return nil
}
