package invite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"sync"
	"time"

	"umc-invite/umc"
	"umc-invite/umc/ledger"
	"umc-invite/umc/metrics"
	"umc-invite/umc/queue"
	"umc-invite/umc/record"
)

// Verdict is what a flush tells Fluent Bit.
type Verdict int

const (
	OK    Verdict = iota // every record has left: delivered, refused, or handled before
	Retry                // some record is still open: hand the chunk back later
	Error                // nothing is open, but some record became a dead letter
)

func (v Verdict) String() string { return [...]string{"OK", "RETRY", "ERROR"}[v] }

// outageUsers is how many users in a row may be refused or fail in one
// flush, with nothing served in between, before the flush takes it for an
// outage and holds the rest back. Holding back costs a record nothing.
const outageUsers = 5

// job is one record this flush owns.
type job struct {
	rec      record.Record
	key      string      // the ledger's key: the queue file on disk, else the record
	file     *queue.File // nil when the record names no queue file
	username string
	entry    ledger.Entry // as claimed; the flush updates it
	lastTry  bool         // the chunk's last try: what stays open is carried over

	answer  umc.Answer
	outcome umc.Outcome
	sent    bool
	heldWhy string // why it was not sent in this flush
	done    bool   // settled in the ledger already
	// unlinked: its delivered file was unlinked right after the answer,
	// with unlinkErr the outcome.
	unlinked  bool
	unlinkErr error
	// refusedAgain: a refusal following an earlier refusal or failure of
	// this user, in an earlier flush: one refusal alone never decides.
	refusedAgain bool
}

// tally counts how the records of one flush ended.
type tally struct {
	mu                  sync.Mutex
	open, dead, refused int
	held                int
	heldWhy             string
}

func (t *tally) add(f func(*tally)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(t)
}

// Flush sends the records of one chunk that are still open, each at most
// once per flush and each queue file by one flush at a time, and returns
// the verdict for the whole chunk.
func (o *Output) Flush(ctx context.Context, recs []record.Record) Verdict {
	o.handover.RLock()
	defer o.handover.RUnlock()
	if o.standby() {
		return OK // another process holds the queue: its files are its to send
	}
	var t tally
	var jobs []*job
	defer func() {
		// A panic (recovered at the C boundary) must not leave the records
		// this flush claimed busy for ever: give them back, open.
		if r := recover(); r != nil {
			for _, j := range jobs {
				if !j.done {
					o.ledger.Settle(j.key, j.entry)
				}
			}
			panic(r)
		}
	}()
	for _, rec := range recs {
		if j := o.prepare(rec, &t); j != nil {
			jobs = append(jobs, j)
		}
	}
	// Records that never failed go first: a few refused users at the head
	// of a chunk must not make the rest look like an outage again and again.
	sort.SliceStable(jobs, func(a, b int) bool { return jobs[a].entry.FailSeq == 0 && jobs[b].entry.FailSeq != 0 })
	o.send(ctx, jobs, &t)
	o.proveRefusals(ctx, jobs, &t)
	for _, j := range jobs {
		o.finish(j, &t)
	}
	if t.held > 0 {
		o.log.Warnf("%d record(s) not sent in this flush, none of them charged: %s", t.held, t.heldWhy)
	}
	switch {
	case t.open > 0:
		return Retry
	case t.dead > 0:
		return Error
	}
	return OK
}

// prepare claims a record and returns it as a job, or settles it at once:
// done before, its queue file gone, owned by another flush, or bad input.
func (o *Output) prepare(rec record.Record, t *tally) *job {
	j := &job{rec: rec, key: rec.Identity(o.cfg.PathKey, o.cfg.OffsetKey)}
	if path, _ := rec.String(o.cfg.PathKey); path != "" && o.queue != nil {
		file, err := o.queue.Stat(path)
		if err == nil {
			err = o.sameFile(rec, file)
		}
		var notRegular *queue.NotRegularError
		switch {
		case errors.As(err, &notRegular):
			o.dropNotRegular(rec, notRegular) // never read nor sent
			return nil
		case err == nil:
			j.file, j.key = &file, file.Key()
		case errors.Is(err, fs.ErrNotExist):
			// Delivered or recorded before (an earlier run whose chunk came
			// back from storage): sending again would duplicate.
			return nil
		case errors.Is(err, queue.ErrOutside):
			o.log.Warnf("queue file left alone: %v", err)
		default:
			o.log.Errorf("queue file %s: %v; record stays queued", path, err)
			t.open++
			return nil
		}
	}
	var lines fileLines
	if j.file != nil {
		lines = o.readLines(j)
		if o.staleParsed(rec, lines) {
			// Delivered before, its file replaced by one holding lines
			// added for others meanwhile: not this record's file.
			return nil
		}
	}
	charged, refusal := rec.Carried()
	if lines.carried {
		charged, refusal = lines.charged, lines.refusal
	}
	init := ledger.Entry{Charged: charged}
	if refusal != "" {
		init.Letter = &queue.DeadLetter{Kind: queue.KindRefused, Reason: refusal}
	}
	claimed, entry := o.ledger.Claim(j.key, rec.Offset(o.cfg.OffsetKey), init)
	switch claimed {
	case ledger.Done:
		if entry.Final == ledger.DeadLetter {
			t.dead++
		}
		if entry.Final == ledger.Delivered && j.file != nil && entry.Letter != nil {
			// Lines were added during the call and setting the file aside
			// failed: try again; never remove it with them.
			j.entry = entry
			if moved, err := o.writeDeadLetter(entry.Letter, j); moved {
				o.ledger.Forget(j.key)
			} else {
				o.log.Errorf("%s: lines added during a delivered call, still not set aside: %v", j.file.Path, err)
				t.open++
			}
			return nil
		}
		if entry.Final == ledger.Delivered && j.file != nil && o.cfg.RemoveProcessed {
			// Its removal failed before: try again, or tail keeps it open.
			if err := o.queue.Remove(*j.file); err == nil {
				o.ledger.Forget(j.key)
			}
		}
		return nil
	case ledger.Superseded:
		return nil // a newer line of the same file carries it on
	case ledger.Busy:
		t.open++ // another flush sends this file now
		return nil
	}
	j.entry = entry
	j.lastTry = entry.Tries >= o.cfg.MaxAttempts && !entry.Carried
	username, err := record.Username(rec, record.Keys{Username: o.cfg.UsernameKey, Path: o.cfg.PathKey})
	j.username = username
	var notOne string
	if err == nil && lines.read {
		notOne = lines.notOneUsers(username)
	}
	switch {
	case err != nil:
		j.entry.Letter = o.letter(j, queue.KindBadInput, err.Error()+lines.alsoNamed())
	case notOne != "":
		j.entry.Letter = o.letter(j, queue.KindBadInput, notOne)
	case j.entry.Letter == nil && j.entry.Charged >= o.cfg.MaxAttempts:
		j.entry.Letter = o.letter(j, queue.KindFailed, fmt.Sprintf("failed %d times", j.entry.Charged))
	}
	if j.entry.Letter != nil {
		o.writeLetter(j, t) // decided before, or bad input: never sent
		return nil
	}
	return j
}

// sameFile checks that the record's line is in the file now at its path:
// a record of a file that left the queue (delivered, re-queued under the
// same name) must not take over the new file, which tail reads as a record
// of its own. Without the line (a parser took it apart) the path decides.
func (o *Output) sameFile(rec record.Record, f queue.File) error {
	line, ok := rec.String("log")
	offset := rec.Offset(o.cfg.OffsetKey)
	if !ok || offset < 0 {
		return nil
	}
	same, err := o.queue.HasLine(f, offset, line)
	switch {
	case err != nil:
		return err
	case !same:
		return fmt.Errorf("%s no longer holds this record's line: %w", f.Path, fs.ErrNotExist)
	}
	return nil
}

// send runs the jobs with at most Concurrency calls at a time, each
// settled as soon as its answer is in: a delivered record's queue file goes
// at once, so a crash later in the flush cannot make it a duplicate. After
// an answer that says UMC is unavailable, after outageUsers refusals or
// failures in a row, or after Flush_Timeout, the rest is held back for
// Fluent Bit's retry, charged to no one.
func (o *Output) send(ctx context.Context, jobs []*job, t *tally) {
	if len(jobs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.FlushTimeout)
	defer cancel()
	var (
		mu      sync.Mutex
		stopWhy string
		failing = map[string]bool{} // users refused or failing since this flush's last success
	)
	stopped := func() string {
		mu.Lock()
		defer mu.Unlock()
		if stopWhy == "" && ctx.Err() != nil {
			return fmt.Sprintf("the flush ran out of its Flush_Timeout (%s)", o.cfg.FlushTimeout)
		}
		return stopWhy
	}
	// observe decides, before the call's slot is given up, whether the
	// flush stops: no call may start after an answer that stops it.
	observe := func(j *job) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case j.outcome.Kind == umc.Delivered:
			clear(failing)
		case j.outcome.Kind == umc.Unavailable && stopWhy == "" && ctx.Err() == nil:
			stopWhy = "UMC unavailable: " + j.outcome.Reason
		case j.outcome.Ambiguous():
			failing[j.username] = true
			if len(failing) >= outageUsers && stopWhy == "" {
				stopWhy = fmt.Sprintf("%d users in a row refused or failed, the last: %s", len(failing), j.outcome.Reason)
			}
		}
	}
	next := make(chan *job)
	var wg sync.WaitGroup
	// Twice as many senders as call slots: while some remove a delivered
	// file and sync its directory, others keep every slot busy.
	for range min(2*o.cfg.Concurrency, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				o.sendOne(ctx, j, t, stopped, observe)
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
}

// sendOne sends one job and judges its answer. A panic here would take
// Fluent Bit down (the C boundary's recover does not reach this
// goroutine): it is logged, and the record stays open.
func (o *Output) sendOne(ctx context.Context, j *job, t *tally, stopped func() string, observe func(*job)) {
	defer func() {
		if r := recover(); r != nil {
			o.log.Errorf("internal error sending %s, record stays queued: %v", describe(j), r)
			j.heldWhy = "internal error"
			j.sent = false
		}
	}()
	if o.call(ctx, j, stopped, observe); j.sent {
		o.judge(j, t)
	}
}

// call makes the job's one call, within the output's budget of calls in
// flight and its rate limit, unless the flush has stopped or its queue file
// is no longer the one it claimed (delivered or re-queued meanwhile).
// Waiting for a slot or the rate limit is no failure; a wait past
// Flush_Timeout holds the record back. observe sees the answer while the
// call still holds its slot.
func (o *Output) call(ctx context.Context, j *job, stopped func() string, observe func(*job)) {
	if j.heldWhy = stopped(); j.heldWhy != "" {
		return
	}
	select {
	case o.slots <- struct{}{}:
		defer func() { <-o.slots }()
	case <-ctx.Done():
		j.heldWhy = fmt.Sprintf("no free call slot (Concurrency %d) within the flush's Flush_Timeout (%s)", o.cfg.Concurrency, o.cfg.FlushTimeout)
		return
	}
	if j.heldWhy = stopped(); j.heldWhy != "" {
		return
	}
	if o.limiter != nil {
		if err := o.limiter.Wait(ctx); err != nil {
			j.heldWhy = fmt.Sprintf("Rate_Limit %d a minute leaves no room within the flush's Flush_Timeout (%s)", o.cfg.RateLimit, o.cfg.FlushTimeout)
			return
		}
		// The flush may have stopped while this call waited its turn.
		if j.heldWhy = stopped(); j.heldWhy != "" {
			return
		}
	}
	if j.file != nil {
		current, err := o.queue.Current(*j.file)
		if err != nil {
			j.heldWhy = err.Error()
			return
		}
		if !current {
			// Delivered or recorded by whoever took the file away, or
			// re-queued as a new file that tail reads as its own record.
			o.ledger.Forget(j.key)
			j.done = true
			return
		}
	}
	start := o.witness.begin()
	inFlight := o.metrics.Begin()
	j.answer = o.client.SendToken(ctx, j.username)
	inFlight()
	j.outcome = umc.Classify(j.answer)
	j.sent = true
	if j.outcome.Kind == umc.Delivered {
		o.witness.served(start)
		if j.file != nil && o.cfg.RemoveProcessed {
			// At once, still holding the slot: the users a crash can
			// have invited without their file gone are the calls in
			// flight, at most Concurrency. judge syncs the directory.
			j.unlinked, j.unlinkErr = true, o.queue.Unlink(*j.file)
		}
	}
	observe(j)
}

// judge acts on a sent job's outcome at once: a delivery, a refusal or
// failure proven to be the user's own. What cannot be told yet stays open.
func (o *Output) judge(j *job, t *tally) {
	e := &j.entry
	switch j.outcome.Kind {
	case umc.Delivered:
		e.Final, e.FailSeq, e.Unproven = ledger.Delivered, 0, false
		o.metrics.Invitation(metrics.Sent)
		if j.answer.BodyCut {
			o.log.Warnf("invitation sent for %q: %s; not sent again", j.username, j.outcome.Reason)
		} else {
			o.log.Infof("invitation sent for %q (HTTP 200 in %s)", j.username, j.answer.Took.Round(100*time.Microsecond))
		}
		o.leave(j, ledger.Delivered, false)
		return
	case umc.Unavailable:
		o.witness.failed(j.username, 0, umc.Unavailable)
		o.log.Warnf("send_token for %q: UMC unavailable, not charged: %s", j.username, j.outcome.Reason)
		return
	}
	j.refusedAgain = j.outcome.Kind == umc.Refused && e.FailSeq != 0
	seq, own, why := o.witness.failed(j.username, e.FailSeq, j.outcome.Kind)
	if own {
		o.charge(j, why)
	} else {
		// Whose it is is not known yet; an earlier unproven one was an
		// outage's, since it could not be shown to be the user's.
		e.Unproven = true
	}
	e.FailSeq = seq
	if e.Letter != nil {
		o.writeLetter(j, t)
	}
}

// charge counts the answer (and an earlier unproven one) as the user's
// own and decides a refusal or, at Max_Attempts, a dead letter.
func (o *Output) charge(j *job, why string) {
	e := &j.entry
	n := 1
	if e.Unproven {
		n = 2
	}
	e.Charged += n
	e.Unproven = false
	if j.outcome.Kind == umc.Refused {
		e.Letter = o.letter(j, queue.KindRefused, fmt.Sprintf("refused by UMC (%s): %s", why, j.outcome.Reason))
		return
	}
	o.log.Warnf("send_token for %q failed (failure %d of %d, this user's: %s): %s", j.username, e.Charged, o.cfg.MaxAttempts, why, j.outcome.Reason)
	if e.Charged >= o.cfg.MaxAttempts {
		e.Letter = o.letter(j, queue.KindFailed, fmt.Sprintf("failed %d times, the last: %s", e.Charged, j.outcome.Reason))
	}
}

// finish settles what judge left open once the flush is over: a failure
// now followed by UMC serving others is charged to the user; a refusal is
// not — the end of an outage looks just like it, and a refusal cannot be
// taken back — it waits for the user's next call. The rest stays open,
// carried over on the chunk's last try.
func (o *Output) finish(j *job, t *tally) {
	if j.done {
		return
	}
	e := &j.entry
	if j.sent && e.Unproven && j.outcome.Kind == umc.Failed && o.witness.servedSince(e.FailSeq) {
		e.Unproven = false // this failure alone: the one before it was judged already
		o.charge(j, "UMC served other users after it")
		if e.Letter != nil {
			o.writeLetter(j, t)
			return
		}
	}
	if !j.sent && j.heldWhy != "" {
		t.add(func(t *tally) { t.held++; t.heldWhy = j.heldWhy })
	}
	o.keepOpen(j, t)
}

// leave settles a record that has left. A queue file that left the queue
// takes its entry along (a later file at that path is a new one, and a
// record of the old one finds it gone); otherwise the entry remembers.
func (o *Output) leave(j *job, final ledger.Final, fileGone bool) {
	j.done = true
	defer func() {
		// A panic below (recovered further up) must not leave the entry
		// busy for ever, nor open: the record has left. A file gone takes
		// its entry along (a new file may reuse its inode).
		if r := recover(); r != nil {
			gone := false
			if j.file != nil {
				current, err := o.queue.Current(*j.file)
				gone = err == nil && !current
			}
			if gone {
				o.ledger.Forget(j.key)
			} else {
				j.entry.Final = final
				o.ledger.Settle(j.key, j.entry)
			}
			panic(r)
		}
	}()
	o.witness.left(j.username)
	if final == ledger.Delivered && j.file != nil && o.cfg.RemoveProcessed {
		fileGone = o.removeDelivered(j)
	}
	if fileGone {
		o.ledger.Forget(j.key)
		if o.window != nil {
			o.window.Left(1) // room for the next file from the intake
		}
		return
	}
	j.entry.Final = final
	o.ledger.Settle(j.key, j.entry)
}

// keepOpen leaves the job open for a later try, carrying it over into a new
// record first on the chunk's last try.
func (o *Output) keepOpen(j *job, t *tally) {
	j.done = true
	if j.lastTry {
		o.carryOver(j)
	}
	o.ledger.Settle(j.key, j.entry)
	t.add(func(t *tally) { t.open++ })
}

// carryOver appends a line to the record's queue file, which tail reads as
// a new record in a new chunk: Fluent Bit drops this chunk after its last
// try, and tail never reads the old line again. The file stays claimed by
// the same ledger entry, so the old line and the new one make one call.
func (o *Output) carryOver(j *job) {
	if j.file == nil {
		o.log.Errorf("record of tag %s is still open on its chunk's last try and names no queue file to carry it over: it is lost when Fluent Bit drops the chunk", j.rec.Tag)
		return
	}
	refusal := ""
	if j.entry.Letter != nil && j.entry.Letter.Kind == queue.KindRefused {
		refusal = j.entry.Letter.Reason
	}
	charged := j.entry.Charged
	if j.entry.Letter != nil && j.entry.Letter.Kind == queue.KindFailed {
		charged = max(charged, o.cfg.MaxAttempts)
	}
	line := record.CarryLine(o.cfg.UsernameKey, j.username, charged, refusal)
	carried, err := o.queue.Carry(*j.file, line)
	if err != nil {
		o.log.Errorf("cannot carry %q over into a new record (%v): it stays in %s and needs re-queueing if Fluent Bit drops its chunk", j.username, err, j.file.Path)
		return
	}
	if carried.Key() != j.file.Key() {
		// A copy holding only the new line replaced the file (it was not
		// writable for Fluent Bit's user, or had grown to CompactAt), and
		// tail reads it from its head as a new file. Its entry starts at
		// that line; the old file's entry goes, or a file reusing its
		// inode would inherit it.
		why := "grown to " + strconv.Itoa(queue.CompactAt) + " bytes"
		if j.file.Size+int64(len(line)) <= queue.CompactAt {
			why = "not writable for Fluent Bit's user; queue files should be group-writable (0664) in a set-group-ID directory"
		}
		o.ledger.Forget(j.key)
		j.entry.Line, j.entry.Tries, j.entry.Carried = 0, 0, false
		j.key, j.file = carried.Key(), &carried
		o.metrics.Invitation(metrics.CarriedOver)
		o.log.Warnf("%q is still open on its chunk's last try: carried over into a copy that replaced %s (%d failure(s) charged; the file was %s)",
			j.username, j.file.Path, charged, why)
		return
	}
	j.entry.Carried = true
	o.metrics.Invitation(metrics.CarriedOver)
	o.log.Warnf("%q is still open on its chunk's last try: carried over into a new record of %s (%d failure(s) charged)", j.username, j.file.Path, charged)
}
