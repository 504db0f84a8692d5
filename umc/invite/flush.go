package invite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"umc-invite/umc"
	"umc-invite/umc/config"
	"umc-invite/umc/policy"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

// Verdict is what a flush tells Fluent Bit.
type Verdict int

const (
	OK    Verdict = iota // every record has left: delivered, refused, carried over, or handled before
	Retry                // some record is still waiting: hand the chunk back later
	Error                // nothing is open, but some user expired (never for bad input: a queue writer cannot turn health red)
)

func (v Verdict) String() string { return [...]string{"OK", "RETRY", "ERROR"}[v] }

// job is one record this flush owns, as prepare found it.
type job struct {
	rec      record.Record
	key      string      // the ledger's key: the queue file on disk, else the record
	file     *spool.File // nil when the record names no queue file
	username string
	entry    spool.Entry[policy.User] // as claimed; apply settles it
	lastTry  bool                     // the chunk's last try: what stays open is carried over
	unsynced bool                     // its file removed, the directory not synced yet
}

// tally counts how the records of one flush ended.
type tally struct {
	open, dead, held atomic.Int32
	heldWhy          atomic.Value // string
}

// preparedAtOnce is how many of a chunk's records are prepared before
// their calls start: a big chunk is read as it is sent, so that a flush
// holds about this many records at a time, not the whole chunk. The
// order of calls holds within each such part.
const preparedAtOnce = 256

// Flush handles one chunk: each due user called at most once, each queue
// file by one flush at a time. prepare → call → decide → apply; only apply
// changes files.
func (o *Output) Flush(ctx context.Context, recs []record.Record) Verdict {
	return o.FlushEach(ctx, slices.Values(recs))
}

// FlushEach is Flush of a chunk whose records are decoded as they are
// wanted: prepared a part at a time, each part sent as the next is read.
func (o *Output) FlushEach(ctx context.Context, recs iter.Seq[record.Record]) Verdict {
	o.handover.RLock()
	defer o.handover.RUnlock()
	if !o.active.Load() {
		return OK // another process holds the queue: its files are its to send
	}
	now := o.now()
	if o.watch.queueMoved(now) {
		return Retry // the queue at its path is not the one held: records wait
	}
	o.rehand.flushes.Add(1)
	defer o.rehand.flushes.Add(-1)
	var t tally
	claims := &spool.Claims{}
	defer o.ledger.Release(claims) // what a panic left claimed goes back, open
	o.retryLeftovers(now)          // none without a queue
	files, mine := flushFiles{}, newOwned()
	var ids []string
	lastTry := false
	senders := o.senders(ctx, &t)
	defer senders.stop() // also when a part's preparation panics
	var part []*job
	for rec := range recs {
		id := rec.Identity(o.cfg.PathKey, o.cfg.OffsetKey)
		ids = append(ids, id)
		last := o.tries.update(id, now, func(n int) int { return n + 1 }) > o.cfg.ChunkRetryLimit
		lastTry = lastTry || last
		if j := o.prepareOne(rec, id, last, files, mine, claims, &t, now); j != nil {
			part = append(part, j)
		}
		if len(part) == preparedAtOnce {
			senders.send(inCallOrder(part))
			clear(part) // sent: its jobs are the senders' now
			part = part[:0]
		}
	}
	senders.send(inCallOrder(part))
	senders.stop()
	if t.held.Load() > 0 {
		o.log.Infof("%d user(s) due but not called in this flush: %s", t.held.Load(), t.heldWhy.Load())
	}
	verdict := OK
	switch {
	case t.open.Load() > 0:
		verdict = Retry
	case t.dead.Load() > 0:
		verdict = Error
	}
	if verdict != Retry || lastTry {
		for _, id := range ids {
			o.tries.forget(id) // the chunk has ended
		}
	}
	return verdict
}

// inCallOrder orders jobs as they are called: never asked first, at
// random, then the longest waiting; users failing alone last: they tell least.
func inCallOrder(jobs []*job) []*job {
	rand.Shuffle(len(jobs), func(a, b int) { jobs[a], jobs[b] = jobs[b], jobs[a] })
	sort.SliceStable(jobs, func(a, b int) bool {
		ua, ub := jobs[a].entry.User, jobs[b].entry.User
		return !ua.OwnFailure && ub.OwnFailure || ua.OwnFailure == ub.OwnFailure && ua.LastAt.Before(ub.LastAt)
	})
	return jobs
}

// path is one job's call, decision and its application.
func (o *Output) path(ctx context.Context, j *job, t *tally) {
	c := o.call(ctx, j)
	defer o.gate.endTurn(c.turn) // also when what follows fails
	defer c.release(o.slots)
	if c.weighed() {
		c.release(o.slots) // the probe weighing the answer may need it
	}
	step := o.decide(ctx, j, c)
	o.applier.apply(j, c, step, t)
	if j.unsynced {
		inFlight := max(len(o.slots), 1) // this call's among them, unless weighed
		c.release(o.slots)               // removed: the next call need not wait for the sync
		o.syncRemoval(inFlight)
	}
}

// owned is what this flush has claimed: ledger keys, and the queue paths
// they were claimed by. A later record of a path claimed here is carried
// by that claim, even when the file at the path is no longer the same: a
// carry-over in an earlier part may have replaced it with a copy.
type owned struct{ keys, paths map[string]bool }

func newOwned() owned { return owned{keys: map[string]bool{}, paths: map[string]bool{}} }

// prepareOne prepares a record and settles it if no call is needed. A
// panic is logged and keeps the chunk for its retry, which finds the
// record as far as it got: a panic out of the flush would make Fluent Bit
// drop the chunk, with every user in it still waiting.
func (o *Output) prepareOne(rec record.Record, id string, lastTry bool, files flushFiles, mine owned, claims *spool.Claims, t *tally, now time.Time) (j *job) {
	defer func() {
		if r := recover(); r != nil {
			where, _ := rec.String(o.cfg.PathKey)
			o.log.Errorf("internal error preparing the record of %q (tag %s): %v; the chunk is kept for a retry", where, rec.Tag, r)
			t.open.Add(1)
			j = nil
		}
	}()
	j, settle := o.prepare(rec, id, lastTry, files, mine, claims, t, now)
	if settle != nil {
		settle() // apply, for a record settled without a call, before the next
	}
	return j
}

// prepare claims a record as a job, or returns what settles it without a
// call; it never changes a file.
func (o *Output) prepare(rec record.Record, id string, lastTry bool, files flushFiles, mine owned, claims *spool.Claims, t *tally, now time.Time) (*job, func()) {
	j := &job{rec: rec, key: id, lastTry: lastTry}
	lines := &fileLines{}
	path, _ := rec.String(o.cfg.PathKey)
	if path != "" && o.queue != nil {
		if mine.paths[path] {
			return nil, nil // a record of this queue file claimed in this flush carries it
		}
		file, err := o.queue.Stat(path)
		if err == nil {
			lines = files.read(o, file, rec)
			err = o.sameFile(rec, file, lines)
			if err != nil && lastTry && !errors.Is(err, fs.ErrNotExist) {
				// The path decides: carried over, not lost with the chunk.
				o.log.Warnf("queue file %s cannot be read on its chunk's last try (%v): taken as the record's own", path, err)
				err = nil
			}
		}
		var notRegular *spool.NotRegularError
		switch {
		case errors.As(err, &notRegular):
			return nil, func() { o.applier.evict(rec.Tag, notRegular) } // never read nor sent
		case err == nil:
			if lines.key == "" {
				lines.key = o.fileKey(file)
			}
			j.file, j.key = &file, lines.key
		case errors.Is(err, fs.ErrNotExist):
			return nil, nil // delivered or recorded before: sending again would duplicate
		case errors.Is(err, spool.ErrOutside):
			o.log.Warnf("queue file left alone: %v", err)
		default:
			o.log.Errorf("queue file %s: %v; record stays queued", path, err)
			t.open.Add(1)
			return nil, nil
		}
	}
	username, uerr := record.Username(rec, o.keys)
	if j.file != nil {
		if lines.staleParsed(rec, username, uerr) {
			return nil, nil // delivered before, its file now holding others' lines
		}
		o.rehand.saw(*j.file) // only a record of the file queued now brings it
		if o.isLeftover(j.key) {
			return nil, nil // delivered, its removal failed (journaled): never sent again
		}
	}
	if mine.keys[j.key] {
		return nil, nil // another line of a file this flush holds carries it
	}
	var init spool.Entry[policy.User]
	if lines.initial != nil && lines.read && j.file != nil {
		init = *lines.initial
	} else if init = o.known(rec, j.file, *lines, now); len(lines.lines) > 1 {
		// The file's other lines start from it too; a file of one line
		// (the usual) keeps no copy for the rest of the flush.
		lines.initial = new(spool.Entry[policy.User])
		*lines.initial = init
	}
	claimed, entry := o.ledger.Claim(claims, j.key, rec.Offset(o.cfg.OffsetKey), init)
	switch claimed {
	case spool.Done:
		return nil, func() { o.applier.settledBefore(j, entry, t) }
	case spool.Superseded:
		return nil, nil // a newer line of the same file carries it on
	case spool.Busy:
		t.open.Add(1) // another flush has this file now
		return nil, nil
	}
	mine.keys[j.key] = true
	if j.file != nil {
		mine.paths[path] = true
	}
	j.entry, j.username = entry, username
	if uerr != nil {
		j.entry.Letter = o.applier.letter(j, nil, spool.KindBadInput, uerr.Error()+lines.alsoNamed())
	} else if notOne := lines.notOneUsers(username); notOne != "" {
		j.entry.Letter = o.applier.letter(j, nil, spool.KindBadInput, notOne)
	}
	if j.entry.Letter != nil {
		return nil, func() { o.applier.writeLetter(j, t) } // decided before, or bad input: never sent
	}
	return j, nil
}

// fileKey is a queue file's ledger key; the birth time tells a later file on the same inode.
func (o *parts) fileKey(f spool.File) string {
	if f.Born != 0 {
		return f.Key() + ":" + strconv.FormatInt(f.Born, 10)
	}
	return f.Key()
}

// known is a new entry: the newest carried line's state, else a user as old as its file.
func (o *Output) known(rec record.Record, file *spool.File, lines fileLines, now time.Time) spool.Entry[policy.User] {
	u, _ := rec.Carried()
	if lines.carry != nil {
		u = *lines.carry
	}
	if u.FirstSeen.IsZero() && file != nil {
		u.FirstSeen = time.Unix(0, file.Modified)
	}
	e := spool.Entry[policy.User]{User: policy.Restored(u, now, o.settings)}
	if u.Letter != "" {
		e.Letter = &spool.DeadLetter{Kind: u.Letter, Reason: u.Reason}
	}
	return e
}

// sameFile checks the record's line is in the file at its path (a file
// re-queued under its name is a new record); without the line, the path decides.
func (o *Output) sameFile(rec record.Record, f spool.File, lines *fileLines) error {
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

// senders run path for every job sent, applied as soon as its answer
// is in; while UMC fails for everyone, one at a time. A panic is logged,
// the chunk kept for a retry.
type senders struct {
	o        *Output
	ctx      context.Context
	cancel   context.CancelFunc
	t        *tally
	tasks    chan task
	wg       sync.WaitGroup
	started  int
	stopOnce sync.Once
}

type task struct {
	j    *job
	done chan struct{}
}

// senders are a flush's; they last it, within its Flush_Timeout.
func (o *Output) senders(ctx context.Context, t *tally) *senders {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.FlushTimeout)
	return &senders{o: o, ctx: ctx, cancel: cancel, t: t, tasks: make(chan task)}
}

// send hands each job to a sender, in order, and returns once all are
// taken. Twice the slots send: while some sync a directory, others keep
// slots busy. Senders are started as jobs wait for one, and last the
// flush: a goroutine a job grew a new stack through the HTTP client and
// JSON for every call.
func (s *senders) send(jobs []*job) {
	for _, j := range jobs {
		tk := task{j, make(chan struct{})}
		select {
		case s.tasks <- tk:
		default:
			if s.started < 2*s.o.cfg.Concurrency {
				s.started++
				s.wg.Go(s.loop)
			}
			s.tasks <- tk
		}
		if s.o.gate.failing() {
			<-tk.done
		}
	}
}

func (s *senders) loop() {
	for tk := range s.tasks {
		s.run(tk.j)
		close(tk.done)
	}
}

// stop waits for every job sent; once.
func (s *senders) stop() {
	s.stopOnce.Do(func() {
		close(s.tasks)
		s.wg.Wait()
		s.cancel()
	})
}

// run is one job's path; a panic keeps the chunk for a retry.
func (s *senders) run(j *job) {
	defer func() {
		if r := recover(); r != nil {
			s.o.log.Errorf("internal error handling %s: %v; the chunk is kept for a retry", s.o.describe(j), r)
			s.t.open.Add(1)
		}
	}()
	s.o.path(s.ctx, j, s.t)
}

// syncRemoval makes a delivered file's removal survive a crash, in one
// sync with the removals of the other calls in flight, if they finish
// within spool.RemovalLinger; with none, at once.
func (o *Output) syncRemoval(inFlight int) {
	if err := o.queue.SyncRemovals(inFlight); err != nil {
		o.log.Errorf("delivered queue file removed, but its directory not synced: %v", err)
	}
}

// called is what the call phase found: UMC's answer, or why no call was made.
type called struct {
	sent     bool
	answer   umc.Answer
	outcome  umc.Outcome
	turn     chan struct{} // the outage's one call's turn, if this call had it
	own      bool          // a failure of the user's own (policy.Gate.Answer)
	weigh    bool          // a refusal, for the probe to weigh
	probeNow bool          // UMC's 503 that opened an outage, or was its one call: weighed
	opened   bool          // this call's answer opened the outage: its probe is not paced
	aged     *policy.Step  // Max_Age old while it waits: no call needed, this step
	held     string        // due, but not called: why
	gone     bool          // its file is no longer the one claimed
	slot     bool          // it holds a call slot until release
}

// weighed: the probe weighs the answer before it is decided.
func (c *called) weighed() bool { return c.weigh || c.probeNow }

// release frees the call's slot, once: a delivered file is removed before
// its slot is free, so a kill finds at most Concurrency users answered and
// still queued, each invited again after the restart.
func (c *called) release(slots chan struct{}) {
	if c.slot {
		c.slot = false
		<-slots
	}
}

// call makes the job's one call if due, within Concurrency, Rate_Limit and
// the outage gate; the caller ends the turn it returns.
func (o *Output) call(ctx context.Context, j *job) called {
	if step, aged := policy.Aged(j.entry.User, o.now(), o.settings); aged {
		return called{aged: &step}
	}
	if !o.gate.due(j.entry.User, o.now()) {
		return called{} // its own pause is not over
	}
	// The gate first, without a slot: the outage's probe may need it.
	var turn chan struct{}
	defer func() {
		if r := recover(); r != nil {
			o.gate.endTurn(turn) // the outage's one call ended here: the next may go
			panic(r)             // the chunk is kept for a retry (run's recovery)
		}
	}()
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
		// An outage began meanwhile: wait once, without the slot, for the probe.
		<-o.slots
		if !weighing || !again {
			return called{turn: turn, held: why}
		}
	}
	kept := false
	defer func() {
		if !kept {
			<-o.slots // not called, or failed: the slot is free at once
		}
	}()
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
			return called{turn: turn, gone: true}
		}
	}
	if ctx.Err() != nil {
		// A call with no time left would be cut before UMC answers, and
		// read as UMC failing: the user waits for the chunk's retry.
		return called{turn: turn, held: fmt.Sprintf("the flush's Flush_Timeout (%s) ran out before its call", o.cfg.FlushTimeout)}
	}
	inFlight := o.metrics.Begin()
	answer := o.client.SendToken(ctx, j.username)
	inFlight()
	outcome := umc.Classify(answer)
	// Counted while holding the slot, so the next call admitted knows.
	fromUMC := outcome.Kind == policy.Unavailable && answer.Err == nil && answer.FromUMC
	own, opened := o.gate.answer(sighting(j, answer, outcome, policy.NoEvidence, o.now()), outcome.Kind == policy.Refusal || fromUMC)
	if turn == nil {
		turn = opened
	}
	// UMC's 503 that opened an outage, or answered its one call, is weighed
	// too: down, or this user's own? An outage of users' own 503s ends so.
	c := called{sent: true, answer: answer, outcome: outcome, turn: turn, own: own,
		weigh: outcome.Kind == policy.Refusal, probeNow: fromUMC && turn != nil, opened: opened != nil, slot: true}
	kept = true
	if !c.weighed() {
		o.gate.endTurn(turn)
	}
	return c
}

// decide is the step for what the call found, a refusal weighed first.
func (o *Output) decide(ctx context.Context, j *job, c called) policy.Step {
	if c.aged != nil {
		return *c.aged
	}
	if !c.sent {
		return policy.Step{Kind: policy.Wait, User: j.entry.User, Reason: c.held}
	}
	at := o.now()
	evidence := policy.NoEvidence
	switch {
	case c.weighed():
		if evidence = o.prober.evidence(ctx, c.answer, at, !c.probeNow || !c.opened); evidence != policy.NoEvidence {
			c.own, _ = o.gate.answer(sighting(j, c.answer, c.outcome, evidence, o.now()), false) // the probe's verdict decides
		}
	case c.outcome.Kind == policy.Unauthorized:
		o.prober.logUnauthorized(c.outcome.Reason)
	}
	o.gate.endTurn(c.turn)
	a := policy.Answer{Kind: c.outcome.Kind, Text: c.outcome.Reason, Status: c.answer.Status, Message: c.answer.Message, At: at, Evidence: evidence}
	step := policy.Decide(j.entry.User, a, o.now(), o.jitter(), o.settings)
	step.User.OwnFailure = c.own && step.Kind == policy.Wait
	return step // a waiting user is marked with an outage under way as it is kept open
}

// sighting is a call's answer as the outage rule reads it.
func sighting(j *job, a umc.Answer, out umc.Outcome, e policy.Evidence, at time.Time) policy.Sighting {
	return policy.Sighting{Kind: out.Kind, Evidence: e, User: j.username, At: at, FromUMC: a.Err == nil && a.FromUMC, Prior: j.entry.User}
}

func settingsOf(cfg *config.Config) policy.Settings {
	return policy.Settings{RefusalGrace: cfg.RefusalGrace, MaxAge: cfg.MaxAge, BackoffMin: cfg.BackoffMin, BackoffMax: cfg.BackoffMax}
}
