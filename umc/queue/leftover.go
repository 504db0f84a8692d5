package queue

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/umc/dirhandle"
	"umc-invite/umc/logtext"
)

// LeftoverLog is the journal, beside the dead-letter log, of delivered
// queue files whose removal failed (a sticky queue directory, a read-only
// remount): a file on it was invited and is never sent again, also after a
// restart, until it is gone.
const LeftoverLog = "delivered-not-removed.jsonl"

// maxLeftoverLog bounds what is read of the journal at start.
const maxLeftoverLog = 16 << 20

// Leftover is one line of the journal: the delivered file's identity, as
// the output's ledger keys it (device, inode, birth time), and its name.
type Leftover struct {
	Time time.Time `json:"time"`
	Key  string    `json:"key"`
	Name string    `json:"name"`
	// Modified is the file's modification time (ns): where the file system
	// keeps no birth time, it tells a new file on a reused inode apart.
	Modified int64  `json:"mtime_ns,omitempty"`
	Username string `json:"username,omitempty"`
}

// AppendLeftover writes one line to the journal and syncs it, through the
// held dead-letter directory: once it returns nil, a restart knows the
// file was delivered.
func (d *DeadLetters) AppendLeftover(l Leftover) error {
	l.Name, l.Username = logtext.Cut(l.Name, maxLetterText), logtext.Cut(l.Username, maxLetterText)
	return d.appendLine(LeftoverLog, l)
}

// Leftovers reads the journal (missing: empty).
func (d *DeadLetters) Leftovers() ([]Leftover, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return ReadLeftovers(d.h)
}

// ReadLeftovers reads the journal in the dead-letter directory h (missing:
// empty), never through a link. A line that is not JSON (a crash
// mid-write) is skipped.
func ReadLeftovers(h *dirhandle.Dir) ([]Leftover, error) {
	f, err := h.OpenFile(LeftoverLog, unix.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", LeftoverLog, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%v)", logtext.Quote(f.Name()), err)
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

// KeepLeftovers rewrites the journal with the lines of keep only (the
// files still there), under a hidden name renamed over it; with none left
// it removes the journal.
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
	for _, l := range keep {
		line, err := json.Marshal(l)
		if err != nil {
			return err
		}
		buf.Write(append(line, '\n'))
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
