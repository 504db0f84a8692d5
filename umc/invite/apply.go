package invite

import (
	"strconv"
	"time"

	"umc-invite/umc"
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
	if carried.Key() != j.file.Key() {
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
