package invite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"time"

	"umc-invite/umc"
	"umc-invite/umc/config"
	"umc-invite/umc/ledger"
	"umc-invite/umc/policy"
	"umc-invite/umc/queue"
	"umc-invite/umc/record"
)

// Verdict is what a flush tells Fluent Bit.
type Verdict int

const (
	OK    Verdict = iota // every record has left: delivered, refused, carried over, or handled before
	Retry                // some record is still waiting: hand the chunk back later
	Error                // nothing is open, but some user expired (bad input is no error: a writer of the queue must not turn health red)
)

func (v Verdict) String() string { return [...]string{"OK", "RETRY", "ERROR"}[v] }

// job is one record this flush owns, as prepare found it: what the call,
// the decision and apply read, never written to carry a phase's outcome.
type job struct {
	rec      record.Record
	key      string      // the ledger's key: the queue file on disk, else the record
	file     *queue.File // nil when the record names no queue file
	username string
	entry    ledger.Entry // as claimed; apply settles it
	lastTry  bool         // the chunk's last try: what stays open is carried over
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

// Flush handles the records of one chunk: each due user is called at most
// once per flush, each queue file by one flush at a time, and the verdict
// is for the whole chunk. A record's path is prepare (claim, read, parse
// once), call, decide, apply; only apply touches files and the ledger.
func (o *Output) Flush(ctx context.Context, recs []record.Record) Verdict {
	o.handover.RLock()
	defer o.handover.RUnlock()
	if !o.active.Load() {
		return OK // another process holds the queue: its files are its to send
	}
	now := o.now()
	if o.watch.queueMoved(now) {
		return Retry // the queue at its path is not the one held: records wait
	}
	var t tally
	claims := &ledger.Claims{}
	defer o.ledger.Release(claims) // what a panic left claimed goes back, open
	if o.queue != nil {
		o.journal.retryLeftovers(now)
	}
	files, mine := flushFiles{}, map[string]bool{}
	ids := make([]string, len(recs))
	lastTry := false
	var jobs []*job
	for i, rec := range recs {
		// Every try counts, whatever becomes of the record below.
		ids[i] = rec.Identity(o.cfg.PathKey, o.cfg.OffsetKey)
		last := o.tries.add(ids[i], now) > o.cfg.ChunkRetryLimit
		lastTry = lastTry || last
		if j := o.prepare(rec, last, files, mine, claims, &t, now); j != nil {
			jobs = append(jobs, j)
		}
	}
	// Users never asked come first, in random order, then those that
	// waited longest: while UMC fails, the outage's one call tells most
	// when it goes to a user never asked, and every user gets its turn.
	rand.Shuffle(len(jobs), func(a, b int) { jobs[a], jobs[b] = jobs[b], jobs[a] })
	sort.SliceStable(jobs, func(a, b int) bool { return jobs[a].entry.User.LastAt.Before(jobs[b].entry.User.LastAt) })
	o.each(ctx, jobs, &t, func(ctx context.Context, j *job) {
		c := o.call(ctx, j)
		defer o.gate.endTurn(c.turn) // also when what follows fails
		step := o.decide(ctx, j, c)
		o.applier.apply(j, c, step, &t)
	})
	if t.held > 0 {
		o.log.Infof("%d user(s) due but not called in this flush: %s", t.held, t.heldWhy)
	}
	verdict := OK
	switch {
	case t.open > 0:
		verdict = Retry
	case t.dead > 0:
		verdict = Error
	}
	if verdict != Retry || lastTry {
		for _, id := range ids {
			o.tries.forget(id) // the chunk has ended
		}
	}
	return verdict
}

// prepare claims a record and returns it as a job, or settles it at once:
// done before, its queue file gone, owned by another flush, or bad input.
// mine holds the keys this flush has claimed.
func (o *Output) prepare(rec record.Record, lastTry bool, files flushFiles, mine map[string]bool, claims *ledger.Claims, t *tally, now time.Time) *job {
	j := &job{rec: rec, key: rec.Identity(o.cfg.PathKey, o.cfg.OffsetKey), lastTry: lastTry}
	var lines *fileLines
	if path, _ := rec.String(o.cfg.PathKey); path != "" && o.queue != nil {
		file, err := o.queue.Stat(path)
		if err == nil {
			lines = files.read(o, file, rec)
			err = o.sameFile(rec, file, lines)
			if err != nil && lastTry && !errors.Is(err, fs.ErrNotExist) {
				// Unreadable just now, on the chunk's last try: the path
				// decides, so that the user is carried over, not lost with
				// the chunk Fluent Bit gives up.
				o.log.Warnf("queue file %s cannot be read on its chunk's last try (%v): taken as the record's own", path, err)
				err = nil
			}
		}
		var notRegular *queue.NotRegularError
		switch {
		case errors.As(err, &notRegular):
			o.applier.dropNotRegular(rec, notRegular) // never read nor sent
			return nil
		case err == nil:
			if lines.key == "" {
				lines.key = o.fileKey(file)
			}
			j.file, j.key = &file, lines.key
		case errors.Is(err, fs.ErrNotExist):
			// Delivered or recorded before (an earlier run whose chunk came
			// back from storage): sending again would duplicate.
			return nil
		case errors.Is(err, queue.ErrOutside):
			o.log.Warnf("queue file left alone: %v", err)
		default:
			o.log.Errorf("queue file %s: %v; record stays queued", path, err)
			t.add(func(t *tally) { t.open++ })
			return nil
		}
	}
	if lines == nil {
		lines = &fileLines{}
	}
	username, uerr := record.Username(rec, o.keys)
	if j.file != nil && lines.staleParsed(rec, username, uerr) {
		// Delivered before, its file replaced by one holding lines added
		// for others meanwhile: not this record's file.
		return nil
	}
	if lines.initial == nil || !lines.read || j.file == nil {
		init := o.known(rec, j.file, *lines, now)
		lines.initial = &init
	}
	if j.file != nil && o.journal.isLeftover(j.key) {
		return nil // delivered, its removal failed (journaled): never sent again
	}
	if mine[j.key] {
		// Another line of a file this flush holds already (a renewed copy,
		// a restart without tail's DB): that line's record carries it.
		return nil
	}
	claimed, entry := o.ledger.Claim(claims, j.key, rec.Offset(o.cfg.OffsetKey), *lines.initial)
	if claimed == ledger.Owned {
		mine[j.key] = true
	}
	switch claimed {
	case ledger.Done:
		o.settledBefore(j, entry, t)
		return nil
	case ledger.Superseded:
		return nil // a newer line of the same file carries it on
	case ledger.Busy:
		t.add(func(t *tally) { t.open++ }) // another flush has this file now
		return nil
	}
	j.entry = entry
	j.username = username
	var notOne string
	if uerr == nil && lines.read {
		notOne = lines.notOneUsers(username)
	}
	switch {
	case uerr != nil:
		j.entry.Letter = o.applier.letter(j, nil, queue.KindBadInput, uerr.Error()+lines.alsoNamed())
	case notOne != "":
		j.entry.Letter = o.applier.letter(j, nil, queue.KindBadInput, notOne)
	}
	if j.entry.Letter != nil {
		o.applier.writeLetter(j, t) // decided before, or bad input: never sent
		return nil
	}
	return j
}

// fileKey is the ledger's key of a queue file: its device and inode, and
// its birth time where the file system keeps one, so that an entry leaves
// with its file: a later file on the same inode is a new file, whatever
// the entry of the old one says.
func (o *Output) fileKey(f queue.File) string {
	if born, ok := o.queue.Born(f); ok {
		return f.Key() + ":" + strconv.FormatInt(born, 10)
	}
	return f.Key()
}

// known is what the queue knows of a record's user, for a ledger entry the
// output has not met yet: the newest carried-over line's state (a restart,
// or the chunk before this one), else the user is as old as its file.
func (o *Output) known(rec record.Record, file *queue.File, lines fileLines, now time.Time) ledger.Entry {
	u, _ := rec.Carried()
	if lines.carried {
		u = lines.carry
	}
	if u.FirstSeen.IsZero() && file != nil {
		u.FirstSeen, _ = o.queue.Modified(*file)
	}
	// Written by an earlier run, whose clock may have been ahead.
	e := ledger.Entry{User: policy.Restored(u, now, settingsOf(o.cfg))}
	if u.Letter != "" {
		e.Letter = &queue.DeadLetter{Kind: u.Letter, Reason: u.Reason}
	}
	return e
}

// settledBefore handles a record whose file is done with: a delivered file
// still there is removed (or its added lines set aside) again.
func (o *Output) settledBefore(j *job, entry ledger.Entry, t *tally) {
	if entry.Final == ledger.DeadLetter && (entry.Letter == nil || entry.Letter.Kind != queue.KindBadInput) {
		t.add(func(t *tally) { t.dead++ })
	}
	if entry.Final != ledger.Delivered || j.file == nil {
		return
	}
	if entry.Letter != nil {
		// Lines were added during the call and setting the file aside
		// failed: try again; never remove it with them.
		j.entry = entry
		if moved, err := o.applier.writeDeadLetter(entry.Letter, j); moved {
			o.ledger.Forget(j.key)
		} else {
			o.log.Errorf("%s: lines added during a delivered call, still not set aside: %v", j.file.Path, err)
			t.add(func(t *tally) { t.open++ })
		}
		return
	}
	// Its removal failed before: try again, or tail keeps it open.
	if err := o.queue.Remove(*j.file); err == nil {
		o.ledger.Forget(j.key)
	}
}

// sameFile checks that the record's line is in the file now at its path:
// a record of a file that left the queue (delivered, re-queued under the
// same name) must not take over the new file, which tail reads as a record
// of its own. Without the line (a parser took it apart) the path decides.
func (o *Output) sameFile(rec record.Record, f queue.File, lines *fileLines) error {
	line, ok := rec.String("log")
	offset := rec.Offset(o.cfg.OffsetKey)
	if !ok || offset < 0 {
		return nil
	}
	same, known := lines.hasLine(offset, line)
	if !known {
		var err error
		if same, err = o.queue.HasLine(f, offset, line); err != nil {
			return err
		}
	}
	if !same {
		return fmt.Errorf("%s no longer holds this record's line: %w", f.Path, fs.ErrNotExist)
	}
	return nil
}

// each runs path for every job with at most Concurrency calls at a time,
// each applied as soon as its answer is in: a delivered record's queue file
// goes at once, so a crash later in the flush cannot make it a duplicate.
// A panic would take Fluent Bit down (the C boundary's recover does not
// reach these goroutines): it is logged, and the record stays queued.
func (o *Output) each(ctx context.Context, jobs []*job, t *tally, path func(context.Context, *job)) {
	if len(jobs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.FlushTimeout)
	defer cancel()
	next := make(chan *job)
	var wg sync.WaitGroup
	// Twice as many handlers as call slots: while some remove a delivered
	// file and sync its directory, others keep every slot busy.
	for range min(2*o.cfg.Concurrency, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				func() {
					defer func() {
						if r := recover(); r != nil {
							o.log.Errorf("internal error handling %s, record stays queued: %v", describe(j), r)
							t.add(func(t *tally) { t.open++ })
						}
					}()
					path(ctx, j)
				}()
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
}

// called is what the call phase found: UMC's answer, classified once, or
// why no call was made.
type called struct {
	sent     bool
	answer   umc.Answer
	outcome  umc.Outcome
	turn     chan struct{} // the outage's one call's turn, if this call had it
	own      bool          // a failure of the user's own (policy.Gate.Answer)
	weigh    bool          // a refusal, for the probe to weigh
	probeNow bool          // UMC's 503 that opened an outage: weighed at once
	aged     bool          // Max_Age old while it waits: no call needed
	notDue   bool          // its own pause is not over: no call, no cost
	held     string        // due, but not called: why
	gone     bool          // its file is no longer the one claimed
}

// call makes the job's one call if the user is due, within the output's
// budget of calls in flight, its rate limit and the outage gate, unless its
// queue file is no longer the one it claimed (delivered or re-queued
// meanwhile). The caller ends the turn it returns.
func (o *Output) call(ctx context.Context, j *job) called {
	if _, aged := policy.Aged(j.entry.User, o.now(), settingsOf(o.cfg)); aged {
		return called{aged: true}
	}
	if !o.gate.due(j.entry.User, o.now()) {
		return called{notDue: true}
	}
	// The gate first, without a slot: a call waiting for the outage's one
	// call to be answered must not hold a slot that call's probe needs.
	var turn chan struct{}
	for again := true; ; again = false {
		ok, t, why := o.gate.admit(ctx, o.now)
		if turn = t; !ok {
			return called{held: why}
		}
		select {
		case o.slots <- struct{}{}:
		case <-ctx.Done():
			return called{turn: turn, held: fmt.Sprintf("no free call slot (Concurrency %d) within the flush's Flush_Timeout (%s)", o.cfg.Concurrency, o.cfg.FlushTimeout)}
		}
		open, why, weighing := o.gate.stillOpen(turn)
		if open {
			break
		}
		// An outage began while this call waited for its slot. If the
		// probe weighs the answer that opened it, the call waits for its
		// verdict as admit does, without the slot the probe needs.
		<-o.slots
		if !weighing || !again {
			return called{turn: turn, held: why}
		}
	}
	defer func() { <-o.slots }()
	if o.limiter != nil {
		if err := o.limiter.Wait(ctx); err != nil {
			return called{turn: turn, held: fmt.Sprintf("Rate_Limit %d a minute leaves no room within the flush's Flush_Timeout (%s)", o.cfg.RateLimit, o.cfg.FlushTimeout)}
		}
		if ok, why, _ := o.gate.stillOpen(turn); !ok {
			return called{turn: turn, held: why}
		}
	}
	if j.file != nil {
		current, err := o.queue.Current(*j.file)
		if err != nil {
			return called{turn: turn, held: err.Error()}
		}
		if !current {
			// Delivered or recorded by whoever took the file away, or
			// re-queued as a new file that tail reads as its own record.
			return called{turn: turn, gone: true}
		}
	}
	inFlight := o.metrics.Begin()
	answer := o.client.SendToken(ctx, j.username)
	inFlight()
	outcome := umc.Classify(answer)
	// Still holding the slot: the next call admitted knows how this went.
	// A refusal, or UMC's own 503, counts at once; the probe weighs it
	// after, holding the outage's turn it may have opened meanwhile.
	fromUMC := outcome.Kind == policy.Unavailable && answer.Err == nil && answer.FromUMC
	own, opened := o.gate.answer(sighting(j, answer, outcome, policy.NoEvidence, o.now()), outcome.Kind == policy.Refusal || fromUMC)
	if turn == nil {
		turn = opened
	}
	// A refusal is always weighed (it may be proven). UMC's 503 is when
	// it opened an outage: the probe, asked at once, tells UMC's rate
	// limit or a down UMC (the probe fails too) from this user's own 503.
	// Once an outage is under way, its one call a second tells.
	c := called{sent: true, answer: answer, outcome: outcome, turn: turn, own: own,
		weigh: outcome.Kind == policy.Refusal, probeNow: fromUMC && opened != nil}
	if !c.weigh && !c.probeNow {
		o.gate.endTurn(turn)
	}
	return c
}

// decide is the step for what the call found: a refusal is weighed by the
// evidence first, and the outage's turn ends once the gate knows.
func (o *Output) decide(ctx context.Context, j *job, c called) policy.Step {
	if c.aged {
		step, _ := policy.Aged(j.entry.User, o.now(), settingsOf(o.cfg))
		return step
	}
	if !c.sent {
		return policy.Step{Kind: policy.Wait, User: j.entry.User, Reason: c.held}
	}
	at := o.now()
	evidence := policy.NoEvidence
	switch {
	case c.weigh || c.probeNow:
		if evidence = o.prober.evidence(ctx, c.answer, at, !c.probeNow); evidence != policy.NoEvidence {
			own, _ := o.gate.answer(sighting(j, c.answer, c.outcome, evidence, o.now()), false)
			c.own = c.own || own
		}
	case c.outcome.Kind == policy.Unauthorized:
		o.prober.logUnauthorized(c.outcome.Reason)
	}
	o.gate.endTurn(c.turn)
	a := policy.Answer{Kind: c.outcome.Kind, Text: c.outcome.Reason, Status: c.answer.Status, Message: c.answer.Message, At: at, Evidence: evidence}
	step := policy.Decide(j.entry.User, a, o.now(), o.jitter(), settingsOf(o.cfg))
	step.User.OwnFailure = c.own && step.Kind == policy.Wait
	step.User = o.gate.mark(step.User)
	return step
}

// sighting is a call's answer as the outage rule reads it.
func sighting(j *job, a umc.Answer, out umc.Outcome, e policy.Evidence, at time.Time) policy.Sighting {
	return policy.Sighting{Kind: out.Kind, Evidence: e, User: j.username, At: at, FromUMC: a.Err == nil && a.FromUMC, Prior: j.entry.User}
}

func settingsOf(cfg *config.Config) policy.Settings {
	return policy.Settings{RefusalGrace: cfg.RefusalGrace, MaxAge: cfg.MaxAge, BackoffMin: cfg.BackoffMin, BackoffMax: cfg.BackoffMax}
}
