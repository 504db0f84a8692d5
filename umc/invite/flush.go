package invite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"umc-invite/umc"
	"umc-invite/umc/ledger"
	"umc-invite/umc/queue"
	"umc-invite/umc/record"
)

// Verdict is what a flush tells Fluent Bit.
type Verdict int

const (
	OK    Verdict = iota // every record is delivered
	Retry                // some record failed and may succeed on a later try
	Error                // nothing is left to try, but some record became a dead letter
)

func (v Verdict) String() string { return [...]string{"OK", "RETRY", "ERROR"}[v] }

// job is one record that is to be sent in this flush.
type job struct {
	rec      record.Record
	id       string
	path     string // the queue file, "" when the record names none
	username string
	failures int // failed flushes before this one
	answer   umc.Answer
}

// tally counts how the records of one flush ended; the senders of one
// flush add to it concurrently.
type tally struct {
	mu            sync.Mutex
	pending, dead int
	notSent       int
	notSentWhy    string
}

func (t *tally) add(f func(*tally)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(t)
}

// Flush sends the records of one chunk that are not done yet, each at most
// once per flush, and returns the verdict for the whole chunk.
func (o *Output) Flush(ctx context.Context, recs []record.Record) Verdict {
	var t tally
	var jobs []*job
	for _, rec := range recs {
		if j := o.prepare(rec, &t); j != nil {
			jobs = append(jobs, j)
		}
	}
	o.send(ctx, jobs, &t)
	if t.notSent > 0 {
		o.log.Warnf("%d record(s) not sent in this flush: %s", t.notSent, t.notSentWhy)
	}
	switch {
	case t.pending > 0:
		return Retry
	case t.dead > 0:
		return Error
	}
	return OK
}

// prepare claims a record and returns it as a job, or settles it at once:
// done before, its queue file gone, or bad input.
func (o *Output) prepare(rec record.Record, t *tally) *job {
	id := rec.Identity(o.cfg.PathKey, o.cfg.OffsetKey)
	state, failures := o.ledger.Claim(id)
	switch state {
	case ledger.Delivered:
		return nil
	case ledger.Dead:
		t.dead++
		return nil
	case ledger.Busy:
		t.pending++
		return nil
	}
	path, _ := rec.String(o.cfg.PathKey)
	if path != "" && o.queue != nil && o.queue.Gone(path) {
		// Delivered or dead-lettered before, by an earlier run whose chunk
		// came back from storage: sending again would duplicate.
		o.ledger.Settle(id, ledger.Delivered, false)
		return nil
	}
	username, err := record.Username(rec, record.Keys{Username: o.cfg.UsernameKey, Path: o.cfg.PathKey})
	if err != nil {
		o.toDeadLetter(&job{rec: rec, id: id, path: path, failures: failures}, err.Error(), t)
		return nil
	}
	return &job{rec: rec, id: id, path: path, username: username, failures: failures}
}

// send runs the jobs with at most Concurrency calls at a time, settling
// each as soon as its answer is in: a delivered record's queue file goes
// at once, so a crash later in the flush cannot make it a duplicate. After
// a failure that would fail every other call too (UMC down, wrong URL or
// credentials), or after Flush_Timeout, the remaining jobs are not sent and
// count as failed: Fluent Bit's retry of the chunk tries them again.
func (o *Output) send(ctx context.Context, jobs []*job, t *tally) {
	if len(jobs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.FlushTimeout)
	defer cancel()
	var systemic atomic.Pointer[umc.Answer]
	next := make(chan *job)
	var wg sync.WaitGroup
	for range min(o.cfg.Concurrency, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				switch first := systemic.Load(); {
				case first != nil:
					j.answer = umc.Answer{Err: fmt.Errorf("%w: an earlier call of this flush failed: %s", errNotSent, first)}
				case ctx.Err() != nil:
					j.answer = umc.Answer{Err: fmt.Errorf("%w: the flush ran out of its Flush_Timeout (%s)", errNotSent, o.cfg.FlushTimeout)}
				default:
					j.answer = o.client.SendToken(ctx, j.username)
					// A call cut off by the flush's own deadline says nothing about UMC.
					if j.answer.Systemic() && ctx.Err() == nil {
						systemic.CompareAndSwap(nil, &j.answer)
					}
				}
				o.settle(j, t)
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
}

var errNotSent = errors.New("not sent")

// settle records a job's outcome: delivered, open for a retry, or, on its
// last attempt, a dead letter.
func (o *Output) settle(j *job, t *tally) {
	a := j.answer
	if a.Delivered() {
		o.ledger.Settle(j.id, ledger.Delivered, false)
		o.log.Infof("invitation sent for %q (HTTP 200 in %s)", j.username, a.Took.Round(100*time.Microsecond))
		o.removeQueueFile(j.path)
		return
	}
	attempt := j.failures + 1
	if errors.Is(a.Err, errNotSent) {
		t.add(func(t *tally) { t.notSent++; t.notSentWhy = a.Err.Error() })
	} else {
		logf := o.log.Warnf
		if a.ConfigFault() {
			logf = o.log.Errorf
		}
		logf("send_token for %q failed (attempt %d of %d): %s", j.username, attempt, o.cfg.MaxAttempts, a)
	}
	if attempt >= o.cfg.MaxAttempts {
		o.toDeadLetter(j, fmt.Sprintf("failed %d times, the last: %s", attempt, a), t)
		return
	}
	o.ledger.Settle(j.id, ledger.Open, true)
	t.add(func(t *tally) { t.pending++ })
}

func (o *Output) removeQueueFile(path string) {
	if path == "" || !o.cfg.RemoveProcessed {
		return
	}
	if err := o.queue.Remove(path); err != nil {
		o.log.Errorf("queue file left in place: %v", err)
	}
}

// toDeadLetter moves the record's queue file aside and logs the dead
// letter. If the dead letter cannot be written, the record stays open: it
// is better retried than lost.
func (o *Output) toDeadLetter(j *job, reason string, t *tally) {
	a := j.answer
	letter := queue.DeadLetter{
		Time: time.Now().UTC(), Username: j.username, Reason: reason, Attempts: j.failures + 1,
		Status: a.Status, Message: a.Message, Tag: j.rec.Tag, Record: j.rec.Fields,
	}
	if a.Err != nil {
		letter.Error = a.Err.Error()
	}
	if j.username == "" {
		letter.Attempts = 0 // bad input is never sent
	}
	if err := o.writeDeadLetter(&letter, j); err != nil {
		o.log.Errorf("cannot write dead letter, record stays queued: %v", err)
		o.ledger.Settle(j.id, ledger.Open, true)
		t.add(func(t *tally) { t.pending++ })
		return
	}
	o.ledger.Settle(j.id, ledger.Dead, true)
	t.add(func(t *tally) { t.dead++ })
}

func (o *Output) writeDeadLetter(letter *queue.DeadLetter, j *job) error {
	if o.dead == nil {
		line, _ := json.Marshal(letter)
		o.log.Errorf("dead letter (no Dead_Letter_Dir): %s", line)
		return nil
	}
	if j.path != "" && o.queue != nil {
		moved, err := o.queue.MoveTo(j.path, o.dead.Dir())
		switch {
		case err == nil:
			letter.File = moved
		case errors.Is(err, queue.ErrOutside), errors.Is(err, fs.ErrNotExist):
			o.log.Warnf("queue file not moved: %v", err)
		default:
			return err
		}
	}
	if err := o.dead.Append(*letter); err != nil {
		return err
	}
	if letter.Username == "" {
		o.log.Errorf("record never sent (%s), dead letter written to %s: %s", describe(j), o.dead.Dir(), letter.Reason)
	} else {
		o.log.Errorf("no invitation for %q, dead letter written to %s: %s", letter.Username, o.dead.Dir(), letter.Reason)
	}
	return nil
}

// describe names a record for a log line: its queue file, else its tag.
func describe(j *job) string {
	if j.path != "" {
		return j.path
	}
	return "tag " + j.rec.Tag
}
