package invite

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"umc-invite/umc"
	"umc-invite/umc/logtext"
	"umc-invite/umc/metrics"
	"umc-invite/umc/policy"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

// apply does what a decision says; a file taken away takes its entry along.
func (o applier) apply(j *job, c called, step policy.Step, t *tally) {
	if c.gone {
		o.ledger.Forget(j.key)
		return
	}
	j.entry.User = step.User
	var answer *umc.Answer
	if c.sent {
		answer = &c.answer
	}
	switch step.Kind {
	case policy.Delivered:
		o.metrics.Invitation(metrics.Sent)
		if c.answer.BodyCut {
			o.log.Warnf("invitation sent for %q: %s; not sent again", j.username, step.Reason)
		} else {
			o.log.Infof("invitation sent for %q (HTTP 200 in %s)", j.username, c.answer.Took.Round(100*time.Microsecond))
		}
		o.leave(j, spool.Delivered, false)
	case policy.Refused, policy.Expired:
		j.entry.Letter = o.letter(j, answer, map[policy.StepKind]string{policy.Refused: spool.KindRefused, policy.Expired: spool.KindExpired}[step.Kind], step.Reason)
		o.writeLetter(j, t)
	default:
		if c.sent {
			o.log.Warnf("send_token for %q: %s", j.username, step.Reason)
		}
		o.keepOpen(j, c.held, t)
	}
}

// leave settles a record that has left; the ledger last, so a panic before leaves it as it was.
func (o applier) leave(j *job, final spool.Final, fileGone bool) {
	o.waiting.forget(j.username)
	if final == spool.Delivered && j.file != nil {
		fileGone = o.removeDelivered(j)
	}
	if fileGone {
		if o.window != nil {
			o.window.Left(1) // room for the next file from the intake
		}
		o.ledger.Forget(j.key)
		return
	}
	j.entry.Final = final
	o.ledger.Settle(j.key, j.entry)
}

// keepOpen leaves the job waiting, carried over on the chunk's last try; held: why it was not called.
func (o applier) keepOpen(j *job, held string, t *tally) {
	// An outage under way travels with the user, also into a later process.
	j.entry.User = o.gate.mark(j.entry.User)
	carried := j.lastTry && o.carryOver(j)
	if j.username != "" {
		o.waiting.update(j.username, o.now(), func(time.Time) time.Time { return j.entry.User.FirstSeen })
	}
	if held != "" {
		t.held.Add(1)
		t.heldWhy.Store(held)
	}
	if !carried {
		t.open.Add(1)
	}
	o.ledger.Settle(j.key, j.entry)
}

// carryOver appends the user's line to its file: tail reads it as a new record, one ledger entry holding both.
func (o applier) carryOver(j *job) bool {
	if j.file == nil {
		o.log.Errorf("record of tag %s is still open on its chunk's last try and names no queue file to carry it over: it is lost when Fluent Bit drops the chunk", j.rec.Tag)
		return false
	}
	u := j.entry.User // a letter decided but not written travels with it
	u.Letter, u.Reason = "", ""
	if l := j.entry.Letter; l != nil {
		u.Letter, u.Reason = l.Kind, l.Reason
	}
	line := record.CarryLine(o.cfg.UsernameKey, j.username, u)
	carried, err := o.queue.Carry(*j.file, line)
	if err != nil {
		o.log.Errorf("cannot carry %q over into a new record (%v): it stays in %s and needs re-queueing if Fluent Bit drops its chunk", j.username, err, j.file.Path)
		return false
	}
	o.metrics.Invitation(metrics.CarriedOver)
	if carried.ID() != j.file.ID() {
		// A copy holding only the new line replaced the file: a new entry.
		logf, why := o.log.Infof, "grown to "+strconv.Itoa(spool.CompactAt)+" bytes"
		if j.file.Size+int64(len(line)) <= spool.CompactAt {
			logf, why = o.log.Warnf, "not writable for Fluent Bit's user; queue files should be group-writable (0664) in a set-group-ID directory"
		}
		logf("%q is still waiting on its chunk's last try: carried over into a copy that replaced %s (the file was %s)", j.username, j.file.Path, why)
		o.ledger.Forget(j.key)
		j.entry.Line = 0
		j.key, j.file = o.fileKey(carried), &carried
		return true
	}
	o.log.Infof("%q is still waiting on its chunk's last try: carried over into a new record of %s", j.username, j.file.Path)
	return true
}

// applier is the output's part that touches files and the ledger.
type applier struct{ *parts }

// settledBefore removes again a delivered file still there, or sets aside its added lines.
func (o applier) settledBefore(j *job, entry spool.Entry[policy.User], t *tally) {
	if entry.Final == spool.DeadLettered && (entry.Letter == nil || entry.Letter.Kind != spool.KindBadInput) {
		t.dead.Add(1)
	}
	if entry.Final != spool.Delivered || j.file == nil {
		return
	}
	if entry.Letter != nil {
		j.entry = entry
		if moved, err := o.writeDeadLetter(entry.Letter, j); moved {
			o.ledger.Forget(j.key)
		} else {
			o.log.Errorf("%s: lines added during a delivered call, still not set aside: %v", j.file.Path, err)
			t.open.Add(1)
		}
		return
	}
	if err := o.queue.Remove(*j.file); err == nil {
		o.ledger.Forget(j.key)
	}
}

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
	if l := j.entry.Letter; l.Time.IsZero() { // decided by an earlier run, carried over
		j.entry.Letter = o.letter(j, nil, l.Kind, l.Reason)
	}
	l := j.entry.Letter
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
// The directory is synced after the call slot is free (syncRemoval).
func (o applier) removeDelivered(j *job) bool {
	err := o.queue.RemoveUnsynced(*j.file)
	switch {
	case err == nil:
		j.unsynced = true
		return true
	case errors.Is(err, spool.ErrGrown):
		return o.keepAdded(j)
	}
	if current, cerr := o.queue.Current(*j.file); cerr == nil && !current {
		return true // gone all the same: the entry goes with the file
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
	case now.ID() != j.file.ID():
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
	l := o.letter(&job{rec: record.Record{Tag: tag, Fields: map[string]any{o.cfg.PathKey: e.Path}}}, nil, spool.KindBadInput, reason)
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
