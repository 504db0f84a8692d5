// Package deadletters reads the dead-letter log as an operator needs it
// (newest first, duplicates folded, re-queued ones marked) and re-queues
// users the way tail reads them again: a new file with new content.
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

// KindRequeued marks a line this package appends when it re-queues a
// user; the plugin never reads the log, so the mark lives beside the
// letters it answers.
const KindRequeued = "requeued"

// Letter is one dead letter or refusal, as the plugin wrote it, with what
// this package found out about it.
type Letter struct {
	spool.DeadLetter
	Line int `json:"-"` // in dead-letter.jsonl
	// Requeued is when the user was re-queued after this letter; nil: not yet.
	Requeued *time.Time `json:"requeued"`
	// Duplicates counts earlier lines for the same file folded into this one.
	Duplicates int `json:"duplicates,omitempty"`
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
	Letters []Letter // newest first
	Marks   []Mark
	// Problems are lines skipped: a half-written last line, a line that is
	// not JSON. They are told, never fatal.
	Problems []string
}

// Read reads DIR/dead-letter.jsonl, never through a link. A missing log
// is an empty one.
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
	if err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("read dead letters: %s is not a regular file", path)
	}
	raw, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	l := &Log{}
	lines := bytes.Split(raw, []byte("\n"))
	for i, line := range lines {
		n := i + 1
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		// The plugin writes a line in one write, but a crash or a full
		// disk on another writer may leave the last one cut short.
		last := i == len(lines)-1
		var probe struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(line, &probe); err != nil {
			if last {
				l.Problems = append(l.Problems, fmt.Sprintf("%s:%d: last line incomplete (no newline): skipped", path, n))
			} else {
				l.Problems = append(l.Problems, fmt.Sprintf("%s:%d: not a JSON object (a line cut short?): skipped", path, n))
			}
			continue
		}
		if probe.Kind == KindRequeued {
			var m Mark
			if err := json.Unmarshal(line, &m); err != nil {
				l.Problems = append(l.Problems, fmt.Sprintf("%s:%d: %v: skipped", path, n, err))
				continue
			}
			l.Marks = append(l.Marks, m)
			continue
		}
		var d spool.DeadLetter
		if err := json.Unmarshal(line, &d); err != nil {
			l.Problems = append(l.Problems, fmt.Sprintf("%s:%d: %v: skipped", path, n, err))
			continue
		}
		l.Letters = append(l.Letters, Letter{DeadLetter: d, Line: n})
	}
	l.fold()
	return l, nil
}

// fold drops lines that repeat a letter for the same queue file with no
// re-queue in between (the plugin writes a decided letter again when
// moving its file failed), marks re-queued letters, and sorts newest
// first.
func (l *Log) fold() {
	sort.SliceStable(l.Letters, func(i, j int) bool { return l.Letters[i].Time.Before(l.Letters[j].Time) })
	sort.SliceStable(l.Marks, func(i, j int) bool { return l.Marks[i].Time.Before(l.Marks[j].Time) })
	latest := map[string]int{} // queue file → index in kept
	var kept []Letter
	for _, d := range l.Letters {
		// Only letters of one queue file are one letter: those without a
		// file (an evicted symlink or FIFO, a record without Queue_Dir) are
		// each an entry of their own, whatever their user and kind.
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

// markBetween is the first re-queue of user from from to to (zero: no
// end), both included.
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

// appendMark writes one line in one write and syncs it, as the plugin
// appends its letters, so that both can write the log at once.
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
	// After a half-written last line, start a line of our own: glued to
	// it, the mark would be lost with it.
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
