package invite

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"umc-invite/umc"
	"umc-invite/umc/logtext"
	"umc-invite/umc/metrics"
	"umc-invite/umc/spool"
)

// letter builds a job's letter from this flush's answer (nil: UMC's last answer as known).
func (o applier) letter(j *job, answer *umc.Answer, kind, reason string) *spool.DeadLetter {
	l := &spool.DeadLetter{Time: o.now().UTC(), Kind: kind, Username: j.username, Reason: reason, Tag: j.rec.Tag, Record: j.rec.Fields}
	switch {
	case answer != nil && answer.Err != nil:
		l.Status, l.Message, l.Error = answer.Status, answer.Message, answer.Err.Error()
	case answer != nil:
		l.Status, l.Message = answer.Status, answer.Message
	case j.entry.User.LastAnswer != "":
		l.Status, l.Message = j.entry.User.LastStatus, j.entry.User.LastUMC
	}
	return l
}

// writeLetter records a letter durably, then moves the queue file; on failure the record stays queued.
func (o applier) writeLetter(j *job, t *tally) {
	l := j.entry.Letter
	if l.Time.IsZero() { // decided by an earlier run, carried over
		l = o.letter(j, nil, l.Kind, l.Reason)
		j.entry.Letter = l
	}
	moved, err := o.writeDeadLetter(l, j)
	if err != nil {
		what := map[bool]string{true: "refusal", false: "dead letter"}[l.Kind == spool.KindRefused]
		o.log.Errorf("cannot record the %s for %s, record stays queued: %v", what, o.describe(j), err)
		o.keepOpen(j, "", t)
		return
	}
	final := spool.DeadLettered
	o.metrics.Invitation(invitationResult(l.Kind))
	switch l.Kind {
	case spool.KindRefused:
		final = spool.Refused
		o.log.Warnf("no invitation for %q: %s; recorded in %s", j.username, l.Reason, o.where())
	case spool.KindBadInput:
		// No error: a writer of the queue must not turn health red.
		o.log.Errorf("record never sent (%s), dead letter written to %s: %s", o.describe(j), o.where(), l.Reason)
	default:
		o.log.Errorf("no invitation for %q, dead letter written to %s: %s", j.username, o.where(), l.Reason)
		t.dead.Add(1)
	}
	o.leave(j, final, moved)
}

// writeDeadLetter appends the line, then moves the queue file; moved: it left the queue.
func (o applier) writeDeadLetter(l *spool.DeadLetter, j *job) (moved bool, err error) {
	if o.dead == nil {
		line, _ := json.Marshal(l)
		o.log.Errorf("dead letter (no Dead_Letter_Dir): %s", line)
		return false, nil
	}
	if j.file != nil {
		l.File = filepath.Join(o.dead.Dir(), filepath.Base(j.file.Path))
	}
	if !j.entry.LetterWritten {
		if err := o.dead.Append(*l); err != nil {
			return false, err
		}
		j.entry.LetterWritten = true
	}
	if j.file == nil {
		return false, nil
	}
	if _, err := o.queue.MoveTo(*j.file, o.dead); err != nil && !errors.Is(err, fs.ErrNotExist) { // gone: nothing to move
		return false, fmt.Errorf("dead letter written, but the queue file was not moved: %w", err)
	}
	return true, nil
}

func (o applier) where() string {
	if o.dead == nil {
		return "the log"
	}
	return o.dead.Dir()
}

func (o *parts) describe(j *job) string {
	if path, ok := j.rec.String(o.cfg.PathKey); ok {
		return logtext.Quote(path)
	}
	return "tag " + j.rec.Tag
}

// removeDelivered removes a delivered record's file; true: it has left.
func (o applier) removeDelivered(j *job) bool {
	err := o.queue.Remove(*j.file)
	switch {
	case err == nil:
		return true
	case errors.Is(err, spool.ErrGrown):
		return o.keepAdded(j)
	}
	// Removed, only the sync failed: the entry must go with the file.
	current, cerr := o.queue.Current(*j.file)
	if cerr == nil && !current {
		o.log.Errorf("delivered queue file removed, but its directory not synced: %v", err)
		return true
	}
	o.stuck(j.key, j.username, *j.file, err)
	return false
}

// setAsideGrown sets aside a file appended to during its delivered call; the letter names no user (it was invited).
func (o applier) setAsideGrown(j *job) bool {
	reason := fmt.Sprintf("lines were added to the queue file while %q was being invited; %q was invited (HTTP 200), "+
		"the added lines were not sent: write one file per user and re-queue their users", j.username, j.username)
	l := o.letter(j, nil, spool.KindBadInput, reason)
	l.Username = ""
	moved, err := o.writeDeadLetter(l, j)
	if err != nil || !moved {
		// The entry remembers the letter: tried again, never removed.
		j.entry.Letter = l
		o.log.Errorf("%s: %s; it stays in the queue (%v)", j.file.Path, reason, err)
		return false
	}
	o.metrics.Invitation(invitationResult(l.Kind))
	o.log.Errorf("%s: %s; dead letter written to %s", j.file.Path, reason, o.where())
	return true
}

// keepAdded queues the lines added during a delivered call in a copy renamed over the file; true: it left.
func (o applier) keepAdded(j *job) bool {
	now, err := o.queue.Stat(j.file.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true
	case err != nil:
		return o.setAsideGrown(j)
	case now.Key() != j.file.Key():
		return true // re-queued meanwhile: the new file is tail's to read
	}
	data, err := o.queue.Read(now)
	if err != nil || int64(len(data)) < j.file.Size {
		return o.setAsideGrown(j)
	}
	var added []byte
	for _, line := range strings.Split(string(data[j.file.Size:]), "\n") {
		if _, name, err := lineOf(o.keys, j.rec.Tag, j.file.Path, line); strings.TrimSpace(line) != "" && (err != nil || name != j.username) {
			added = append(append(added, line...), '\n')
		}
	}
	if len(added) == 0 {
		return o.queue.Remove(now) == nil || o.setAsideGrown(j)
	}
	if _, err := o.queue.Replace(now, added); err != nil {
		o.log.Errorf("%s: lines were added while %q was being invited, and keeping them queued failed: %v", j.file.Path, j.username, err)
		return o.setAsideGrown(j)
	}
	o.log.Warnf("%s: lines were added while %q was being invited; %q was invited, the added lines stay queued on their own",
		j.file.Path, j.username, j.username)
	return true
}

// evict removes a queue entry that is no regular file as one bad_input letter, against no one's health.
func (o applier) evict(tag string, e *spool.NotRegularError) {
	first, err := o.queue.Evict(e)
	if !first {
		return
	}
	outcome := "removed from the queue"
	if err != nil {
		outcome = fmt.Sprintf("left in the queue, removing it failed: %v", err)
	}
	reason := fmt.Sprintf("queue entry %s is a %s, not a regular file: never read nor sent, and nothing read through it kept; %s",
		logtext.Quote(e.Name), e.Type, outcome)
	l := &spool.DeadLetter{Time: o.now().UTC(), Kind: spool.KindBadInput, Reason: reason, Tag: tag,
		Record: map[string]any{o.cfg.PathKey: e.Path}}
	o.metrics.Invitation(metrics.DeadLetter)
	if _, err := o.writeDeadLetter(l, &job{}); err != nil {
		o.log.Errorf("%s; its dead letter could not be written: %v", reason, err)
	} else {
		o.log.Errorf("%s; dead letter written to %s", reason, logtext.Quote(o.where()))
	}
}

func invitationResult(kind string) string {
	return cmp.Or(map[string]string{spool.KindRefused: metrics.Refused, spool.KindExpired: metrics.Expired}[kind], metrics.DeadLetter)
}
