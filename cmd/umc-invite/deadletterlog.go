package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/umc/spool"
)

// kindRequeued is the kind of requeue's lines in the log (the plugin never reads it).
const kindRequeued = "requeued"

// Letter is one dead letter or refusal, as the plugin wrote it.
type Letter struct {
	spool.DeadLetter
	Requeued   *time.Time `json:"requeued"`             // nil: not re-queued since
	Duplicates int        `json:"duplicates,omitempty"` // earlier lines of the same file folded in
}

// deadLetterLog is what dead-letter.jsonl holds.
type deadLetterLog struct {
	Letters  []Letter           // newest first
	Marks    []spool.DeadLetter // requeue's lines, oldest first
	Problems []string           // lines skipped, told and never fatal
}

// readLog reads dead-letter.jsonl in h, opened with err, never through a link; missing is empty.
func readLog(h *spool.Dir, err error) (*deadLetterLog, error) {
	l, path := &deadLetterLog{}, spool.DeadLetterLog
	var f *os.File
	if err == nil {
		path = filepath.Join(h.Configured, path)
		f, err = h.OpenFile(spool.DeadLetterLog, unix.O_RDONLY, 0)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
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
	lines := bytes.Split(raw, []byte("\n"))
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var d spool.DeadLetter
		if err := json.Unmarshal(line, &d); err != nil {
			problem := "not a JSON object (a line cut short?)"
			if json.Valid(line) && bytes.HasPrefix(bytes.TrimSpace(line), []byte("{")) {
				problem = err.Error()
			} else if i == len(lines)-1 { // a writer's crash or a full disk
				problem = "last line incomplete (no newline)"
			}
			l.Problems = append(l.Problems, fmt.Sprintf("%s:%d: %s: skipped", path, i+1, problem))
		} else if d.Kind == kindRequeued {
			l.Marks = append(l.Marks, d)
		} else {
			l.Letters = append(l.Letters, Letter{DeadLetter: d})
		}
	}
	l.fold()
	return l, nil
}

// fold drops a letter repeated for one queue file with no re-queue between
// (a failed move writes it again), marks re-queued ones, sorts newest first.
func (l *deadLetterLog) fold() {
	byTime := func(a, b spool.DeadLetter) int { return a.Time.Compare(b.Time) }
	slices.SortStableFunc(l.Marks, byTime)
	slices.SortStableFunc(l.Letters, func(a, b Letter) int { return byTime(a.DeadLetter, b.DeadLetter) })
	latest := map[string]int{} // queue file → index in kept
	var kept []Letter
	for _, d := range l.Letters {
		// Letters without a file (an evicted FIFO, no Queue_Dir) stay apart.
		if i, ok := latest[d.File]; ok && d.File != "" && l.markBetween(d.Username, kept[i].Time, d.Time) == nil {
			d.Duplicates = kept[i].Duplicates + 1
			kept[i] = d
			continue
		}
		latest[d.File] = len(kept)
		kept = append(kept, d)
	}
	for i := range kept {
		if m := l.markBetween(kept[i].Username, kept[i].Time, time.Time{}); m != nil {
			kept[i].Requeued = &m.Time
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].Time.After(kept[j].Time) })
	l.Letters = kept
}

// markBetween is user's first re-queue in [from, to] (zero to: no end).
func (l *deadLetterLog) markBetween(user string, from, to time.Time) *spool.DeadLetter {
	i := slices.IndexFunc(l.Marks, func(m spool.DeadLetter) bool {
		return m.Username == user && !m.Time.Before(from) && (to.IsZero() || !m.Time.After(to))
	})
	if i < 0 {
		return nil
	}
	return &l.Marks[i]
}

// appendMark writes one synced line in one write, so the plugin can append too.
func appendMark(dir *spool.Dir, m map[string]any) error {
	line, _ := json.Marshal(m) // times and strings: never fails
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
	_, err = f.Write(append(line, '\n'))
	if err = cmp.Or(err, f.Sync()); err != nil {
		return fmt.Errorf("write dead-letter log: %w", err)
	}
	return nil
}
