// Package deadletters reads the dead-letter log for an operator and
// re-queues users as tail reads them again: a new file with new content.
package deadletters

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/umc/spool"
)

// KindRequeued is the kind of requeue's lines in the log (the plugin never reads it).
const KindRequeued = "requeued"

// Letter is one dead letter or refusal, as the plugin wrote it.
type Letter struct {
	spool.DeadLetter
	Requeued   *time.Time `json:"requeued"`             // nil: not re-queued since
	Duplicates int        `json:"duplicates,omitempty"` // earlier lines of the same file folded in
}

// Mark is the line that records a re-queue.
type Mark struct {
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`
	Username string    `json:"username"`
	File     string    `json:"file"`
	Reason   string    `json:"reason"`
}

// Log is what dead-letter.jsonl holds.
type Log struct {
	Letters  []Letter // newest first
	Marks    []Mark
	Problems []string // lines skipped, told and never fatal
}

// Read reads DIR/dead-letter.jsonl, never through a link; missing is empty.
func Read(dir string) (*Log, error) {
	h, err := spool.OpenDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return &Log{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	defer h.Close()
	return read(h)
}

func read(h *spool.Dir) (*Log, error) {
	path := filepath.Join(h.Configured, spool.DeadLetterLog)
	f, err := h.OpenFile(spool.DeadLetterLog, unix.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return &Log{}, nil
	}
	var raw []byte
	if err == nil {
		defer f.Close()
		if st, serr := f.Stat(); serr != nil || !st.Mode().IsRegular() {
			return nil, fmt.Errorf("read dead letters: %s is not a regular file", path)
		}
		raw, err = io.ReadAll(f)
	}
	if err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	l := &Log{}
	lines := bytes.Split(raw, []byte("\n"))
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var d spool.DeadLetter
		err := json.Unmarshal(line, &d)
		problem := "not a JSON object (a line cut short?)"
		switch {
		case err != nil && json.Valid(line) && bytes.HasPrefix(bytes.TrimSpace(line), []byte("{")):
			problem = err.Error()
		case err != nil && i == len(lines)-1: // a writer's crash or a full disk
			problem = "last line incomplete (no newline)"
		}
		switch {
		case err != nil:
			l.Problems = append(l.Problems, fmt.Sprintf("%s:%d: %s: skipped", path, i+1, problem))
		case d.Kind == KindRequeued:
			l.Marks = append(l.Marks, Mark{Time: d.Time, Kind: d.Kind, Username: d.Username, File: d.File, Reason: d.Reason})
		default:
			l.Letters = append(l.Letters, Letter{DeadLetter: d})
		}
	}
	l.fold()
	return l, nil
}

// fold drops a letter repeated for one queue file with no re-queue between
// (a failed move writes it again), marks re-queued ones, sorts newest first.
func (l *Log) fold() {
	sort.SliceStable(l.Letters, func(i, j int) bool { return l.Letters[i].Time.Before(l.Letters[j].Time) })
	sort.SliceStable(l.Marks, func(i, j int) bool { return l.Marks[i].Time.Before(l.Marks[j].Time) })
	latest := map[string]int{} // queue file → index in kept
	var kept []Letter
	for _, d := range l.Letters {
		// Letters without a file (an evicted FIFO, no Queue_Dir) stay apart.
		i, ok := latest[d.File]
		if d.File != "" && ok && l.markBetween(d.Username, kept[i].Time, d.Time) == nil {
			d.Duplicates = kept[i].Duplicates + 1
			kept[i] = d
			continue
		}
		if d.File != "" {
			latest[d.File] = len(kept)
		}
		kept = append(kept, d)
	}
	for i := range kept {
		if m := l.markBetween(kept[i].Username, kept[i].Time, time.Time{}); m != nil {
			t := m.Time
			kept[i].Requeued = &t
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].Time.After(kept[j].Time) })
	l.Letters = kept
}

// markBetween is user's first re-queue in [from, to] (zero to: no end).
func (l *Log) markBetween(user string, from, to time.Time) *Mark {
	for i := range l.Marks {
		m := &l.Marks[i]
		if m.Username == user && !m.Time.Before(from) && (to.IsZero() || !m.Time.After(to)) {
			return m
		}
	}
	return nil
}

// LastMark is the newest re-queue of user, or nil.
func (l *Log) LastMark(user string) *Mark {
	var last *Mark
	for i := range l.Marks {
		if l.Marks[i].Username == user {
			last = &l.Marks[i]
		}
	}
	return last
}

// appendMark writes one synced line in one write, so the plugin can append too.
func appendMark(dir *spool.Dir, m Mark) error {
	line, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode re-queue mark: %w", err)
	}
	f, err := dir.OpenFile(spool.DeadLetterLog, unix.O_RDWR|unix.O_CREAT|unix.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open dead-letter log: %w", err)
	}
	defer f.Close()
	// After a half-written last line, start a new one: glued, both are lost.
	last := []byte{'\n'}
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		_, _ = f.ReadAt(last, st.Size()-1)
	}
	if last[0] != '\n' {
		line = append([]byte{'\n'}, line...)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write dead-letter log: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync dead-letter log: %w", err)
	}
	return nil
}
