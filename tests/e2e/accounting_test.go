package e2e

// The delivery rules end to end, as an operator sees them: the calls UMC
// got, the queue directory, dead-letter.jsonl, health and metrics.

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"umc-invite/tests/fluentbit"
	"umc-invite/tests/umctest"
	"umc-invite/umc/spool"
)

// checkRefusal: exactly one refusal line for user, with UMC's message, and
// its queue file moved beside the log.
func checkRefusal(t *testing.T, s *site, letters []spool.DeadLetter, user string) {
	t.Helper()
	var mine []spool.DeadLetter
	for _, l := range letters {
		if l.Username == user {
			mine = append(mine, l)
		}
	}
	if len(mine) != 1 || mine[0].Kind != spool.KindRefused || mine[0].Status != http.StatusBadRequest || mine[0].Message != umctest.MissingContactInformation {
		t.Errorf("%s: want one refusal with UMC's message, got %+v", user, mine)
	}
	if _, err := os.Stat(filepath.Join(s.dead, user+".send")); err != nil {
		t.Errorf("%s: queue file not moved to the dead-letter directory: %v", user, err)
	}
}

// Refused users among a bulk import: the rest goes through at once, each
// refused user ends as one refusal once UMC still refuses it like a user
// that cannot exist Refusal_Grace (2 s here) after its first such answer
// (its second call, after its own pause), and nothing of it is an error.
func TestRefusedUsersAmidBulkImport(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	all := users("user", 100)
	// Three at the head by name order (tail reads them first), two amid.
	refused := map[string]bool{all[0]: true, all[1]: true, all[2]: true, all[40]: true, all[77]: true}
	umc := &umctest.UMC{Refused: func(u string) bool { return refused[u] }}
	s := newSite(t, umc)
	conf := fastConfig(t)
	setKey(t, conf, "HC_Errors_Count", "0") // one FLB_ERROR would turn health red
	outputKey(t, conf, "Refusal_Grace", "2s")
	p := start(t, conf, s.env())
	waitFor(t, "health endpoint", 10*time.Second, p, func() bool { return health(s.port) == 200 })
	hw := watchHealth(t, s.port)

	begin := time.Now()
	s.enqueue(t, all...)
	waitFor(t, "every other user delivered", 15*time.Second, p, func() bool { return len(umc.Delivered()) == len(all)-len(refused) })
	deliveredIn := time.Since(begin)
	waitFor(t, "a refusal for each refused user", 15*time.Second, p, func() bool { return len(umctest.Refusals(t, s.dead)) >= len(refused) })
	refusedIn := time.Since(begin)
	waitFor(t, "empty queue", 5*time.Second, p, func() bool { return s.queued() == 0 })

	if err := umc.CheckOnce(len(all) - len(refused)); err != nil {
		t.Error(err)
	}
	attempts := umc.Attempts()
	letters := s.letters(t)
	if len(letters) != len(refused) {
		t.Errorf("want %d lines in dead-letter.jsonl, all refusals, got %+v", len(refused), letters)
	}
	var calls []string
	for _, u := range all {
		if !refused[u] {
			if attempts[u] != 1 {
				t.Errorf("%s: %d calls, want 1", u, attempts[u])
			}
			continue
		}
		calls = append(calls, fmt.Sprintf("%s:%d", u, attempts[u]))
		if attempts[u] < 2 || attempts[u] > 3 {
			t.Errorf("%s: %d calls, want 2 or 3", u, attempts[u])
		}
		checkRefusal(t, s, letters, u)
	}
	if first, _ := hw.red(); !first.IsZero() || health(s.port) != 200 {
		t.Errorf("health turned 500 at %v: a refusal is not an error", first)
	}
	if m := settled(t, s, p, len(all)); m["fluentbit_output_errors_total"] != 0 {
		t.Errorf("metrics %v, want no errors", m)
	}
	t.Logf("100 users, 5 refused: the 95 others delivered once in %s; refusals recorded after %s; calls per refused user %v; %d calls in all",
		deliveredIn.Round(time.Millisecond), refusedIn.Round(time.Millisecond), calls, len(umc.Calls()))
}

// A lone refused user on a quiet system: refused again on its second call,
// Refusal_Grace (2 s here) after its first, as UMC refuses a user that
// cannot exist (asked after each answer) while its self-service works, it
// ends as a refusal after two calls.
func TestLoneRefusedUserEndsAsRefusal(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	umc := &umctest.UMC{Refused: func(u string) bool { return u == "ghost" }}
	s := newSite(t, umc)
	conf := fastConfig(t)
	setKey(t, conf, "HC_Errors_Count", "0")
	outputKey(t, conf, "Refusal_Grace", "2s")
	p := start(t, conf, s.env())
	waitFor(t, "health endpoint", 10*time.Second, p, func() bool { return health(s.port) == 200 })
	hw := watchHealth(t, s.port)

	begin := time.Now()
	s.enqueue(t, "ghost")
	waitFor(t, "the refusal", 15*time.Second, p, func() bool { return len(umctest.Refusals(t, s.dead)) == 1 })
	took := time.Since(begin)
	// Fluent Bit counts the record processed once the chunk is answered
	// OK: from then on nothing can call UMC for it again.
	m := settled(t, s, p, 1)

	// Two calls: UMC refuses ghost twice in the words it has for a user
	// that cannot exist (asked for twice, mailing no one), while it works.
	if n := umc.Attempts()["ghost"]; n != 2 {
		t.Errorf("ghost: %d calls, want 2", n)
	}
	letters := s.letters(t)
	if len(letters) != 1 {
		t.Errorf("dead-letter.jsonl: %+v", letters)
	}
	checkRefusal(t, s, letters, "ghost")
	if s.queued() != 0 {
		t.Errorf("queue: %v", umctest.Queued(s.queue))
	}
	if first, _ := hw.red(); !first.IsZero() {
		t.Errorf("health turned 500 at %v", first)
	}
	if m["fluentbit_output_errors_total"] != 0 {
		t.Errorf("metrics %v, want no errors", m)
	}
	t.Logf("lone refused user: %d calls, refusal recorded %s after queueing", umc.Attempts()["ghost"], took.Round(time.Millisecond))
}

// Two refused users queued together on a quiet system (say two new
// Domain Admins, blacklisted for the self-service): an operator expects two
// refusals, as for one.
func TestTwoRefusedUsersOnAQuietSystem(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	umc := &umctest.UMC{Refused: func(u string) bool { return strings.HasPrefix(u, "admin") }}
	s := newSite(t, umc)
	conf := fastConfig(t)
	outputKey(t, conf, "Refusal_Grace", "2s")
	p := start(t, conf, s.env())
	begin := time.Now()
	defer func() { t.Logf("calls after %s: %v", time.Since(begin).Round(time.Second), umc.Attempts()) }()
	s.enqueue(t, "admin1", "admin2")
	// Each refused on its second call, after its pause (2.5–5 s), once
	// Refusal_Grace (2 s) has passed: no count, no comparison with others.
	waitFor(t, "two refusals", 10*time.Second, p, func() bool { return len(umctest.Refusals(t, s.dead)) == 2 })
	t.Logf("two refused users: calls %v, refusals after %s", umc.Attempts(), time.Since(begin).Round(100*time.Millisecond))
}

// outage answers every call with status while it lasts (0: UMC works).
type outage struct {
	mu     sync.Mutex
	status int
	last   time.Time // the latest call
}

func (o *outage) answer() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last = time.Now()
	return o.status
}

// endWhenQuiet ends the outage if no call came for quiet, so that it does
// not end in the middle of a flush. A 400 or 500 for one user followed, in
// the same flush, by a 200 for another is by the rules that user's own:
// an outage ending just then is a different scenario.
func (o *outage) endWhenQuiet(quiet time.Duration) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if time.Since(o.last) < quiet {
		return false
	}
	o.status = 0
	return true
}

// An outage for everyone, of each kind, longer than a chunk's retry
// window: nobody ends, the waiting users are carried over (their chunks
// end OK: waiting is no failure, health stays green), every user is
// delivered once soon after UMC is back. The four kinds run side by side, one Fluent Bit
// and one UMC each.
func TestOutageForEveryoneChargesNoOne(t *testing.T) {
	needFluentBit(t)
	t.Parallel() // mostly waiting: run beside the other long waits
	const perSite = 12
	const outageFor = 28 * time.Second // the retry window with base 1, cap 2: ~10–15 s
	type run struct {
		name      string
		o         *outage
		umc       *umctest.UMC
		s         *site
		p         *fluentbit.Process
		hw        *healthWatch
		users     []string
		carried   int
		recovered time.Time
	}
	var runs []*run
	for _, k := range []struct {
		name   string
		status int
	}{{"drop", umctest.Drop}, {"503", http.StatusServiceUnavailable}, {"500", http.StatusInternalServerError}, {"400", http.StatusBadRequest}} {
		r := &run{name: k.name, o: &outage{status: k.status}}
		r.umc = &umctest.UMC{Outage: r.o.answer}
		r.s = newSite(t, r.umc)
		conf := fastConfig(t)
		setKey(t, conf, "HC_Retry_Failure_Count", "0") // one chunk out of retries turns it red
		setKey(t, conf, "HC_Period", "5")
		r.p = start(t, conf, r.s.env())
		r.users = users("u"+k.name+"-", perSite)
		runs = append(runs, r)
	}
	for _, r := range runs {
		waitFor(t, r.name+": health endpoint", 10*time.Second, r.p, func() bool { return health(r.s.port) == 200 })
		r.hw = watchHealth(t, r.s.port)
	}
	begin := time.Now()
	for _, r := range runs {
		r.s.enqueue(t, r.users...)
	}
	for _, r := range runs {
		// A chunk ran out of its tries: its waiting users were carried
		// over into new lines of their queue files.
		waitFor(t, r.name+": a carried-over line", 25*time.Second, r.p, func() bool { r.carried = max(r.carried, carriedFiles(r.s.queue)); return r.carried > 0 })
	}
	// The outage is the scenario: it lasts its time, checked as it goes.
	for time.Since(begin) < outageFor {
		for _, r := range runs {
			r.carried = max(r.carried, carriedFiles(r.s.queue))
			if d := r.umc.Delivered(); len(d) > 0 {
				t.Fatalf("%s: delivered during the outage: %v", r.name, d)
			}
			if l := r.s.deadLetters(); l != "" {
				t.Fatalf("%s: dead letter during the outage: %s", r.name, l)
			}
			if r.p.Exited() {
				t.Fatalf("%s: fluent-bit exited:\n%s", r.name, tail(r.p.Log(), 40))
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, r := range runs {
		waitFor(t, r.name+": a quiet moment to end the outage", 10*time.Second, r.p, func() bool { return r.o.endWhenQuiet(300 * time.Millisecond) })
		r.recovered = time.Now()
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			// "Within a minute of recovery": waitFor stretches 20 s threefold.
			waitFor(t, "every user delivered", 20*time.Second, r.p, func() bool { return len(r.umc.Delivered()) == perSite })
			took := time.Since(r.recovered)
			waitFor(t, "empty queue", 10*time.Second, r.p, func() bool { return r.s.queued() == 0 })
			if err := r.umc.CheckOnce(perSite); err != nil {
				t.Error(err)
			}
			if l := r.s.deadLetters(); l != "" {
				t.Errorf("dead letters: %s", l)
			}
			if m := settled(t, r.s, r.p, perSite); m["fluentbit_output_errors_total"] != 0 {
				t.Errorf("metrics %v, want no errors", m)
			}
			first, last := r.hw.red()
			if !first.IsZero() {
				t.Errorf("health 500 from %s: users waiting through an outage are no failure", first.Sub(begin).Round(100*time.Millisecond))
			}
			_ = last
			t.Logf("outage %s for %s: %d calls during it, health green throughout; up to %d queue files carried over; all %d delivered once %s after recovery",
				r.name, r.recovered.Sub(begin).Round(time.Second), len(r.umc.Calls())-perSite, r.carried, perSite, took.Round(100*time.Millisecond))
		})
	}
}

// A UMC too slow for a chunk to fit into Flush_Timeout: the rest of each
// flush is held back, uncharged, and the chunk carried over when its tries
// run out; nothing becomes a dead letter, every user gets one call.
func TestSlowUMCHoldsBackNotCharges(t *testing.T) {
	needFluentBit(t)
	t.Parallel() // mostly waiting: run beside the other long waits
	const n = 30
	umc := &umctest.UMC{Latency: 300 * time.Millisecond}
	s := newSite(t, umc)
	conf := fastConfig(t)
	setKey(t, conf, "Concurrency", "1")
	outputKey(t, conf, "Flush_Timeout", "1s")
	outputKey(t, conf, "Timeout", "1s")
	p := start(t, conf, s.env())
	begin := time.Now()
	s.enqueue(t, users("slow", n)...)
	waitFor(t, "every user delivered", 40*time.Second, p, func() bool { return len(umc.Delivered()) == n })
	took := time.Since(begin)
	waitFor(t, "empty queue", 10*time.Second, p, func() bool { return s.queued() == 0 })
	if err := umc.CheckOnce(n); err != nil {
		t.Error(err)
	}
	if calls := len(umc.Calls()); calls != n {
		t.Errorf("%d calls for %d users: a held-back record was called", calls, n)
	}
	if l := s.deadLetters(); l != "" {
		t.Errorf("dead letters: %s", l)
	}
	log := p.Log()
	t.Logf("slow UMC (300 ms a call, Concurrency 1, Flush_Timeout 1s): %d users delivered once in %s; %d flushes held records back, %d records carried over",
		n, took.Round(100*time.Millisecond), strings.Count(log, "due but not called in this flush"), strings.Count(log, "carried over into a new record"))
}

// The dead-letter directory on a full file system: a refused user's record
// stays queued and is retried without calling UMC again; once there is
// room its refusal is written and the file moved. Needs root (a tmpfs).
func TestFullDeadLetterDiskKeepsTheRecord(t *testing.T) {
	needFluentBit(t)
	t.Parallel() // mostly waiting: run beside the other long waits
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs as Dead_Letter_Dir")
	}
	dead := filepath.Join(t.TempDir(), "dead")
	if err := os.Mkdir(dead, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dead, "tmpfs", 0, "size=16k"); err != nil {
		t.Skipf("cannot mount a tmpfs on %s: %v", dead, err)
	}
	// Registered after TempDir's cleanup, so it runs before it.
	t.Cleanup(func() {
		if err := syscall.Unmount(dead, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dead, err)
		}
	})
	umc := &umctest.UMC{Refused: func(u string) bool { return u == "nomail" }}
	s := newSite(t, umc)
	s.dead = dead
	conf := fastConfig(t)
	outputKey(t, conf, "Dead_Letter_Dir", dead)
	outputKey(t, conf, "Refusal_Grace", "2s")
	p := start(t, conf, s.env())
	waitFor(t, "health endpoint", 10*time.Second, p, func() bool { return health(s.port) == 200 })

	filler := filepath.Join(dead, "filler")
	fill(t, filler)
	s.enqueue(t, "nomail")
	const cannot = "cannot record the refusal"
	waitFor(t, "two tries that could not record the refusal", 20*time.Second, p, func() bool { return strings.Count(p.Log(), cannot) >= 2 })
	if q := umctest.Queued(s.queue); len(q) != 1 || q[0] != "nomail" {
		t.Fatalf("the record left the queue without its refusal: %v", q)
	}
	calls := umc.Attempts()["nomail"]
	if calls != 2 {
		t.Errorf("nomail: %d calls while its refusal could not be written, want 2", calls)
	}
	if l := s.deadLetters(); l != "" {
		t.Errorf("dead-letter.jsonl on the full disk: %q", l)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	waitFor(t, "the refusal", 20*time.Second, p, func() bool { return len(umctest.Refusals(t, dead)) == 1 })
	took := time.Since(freed)
	waitFor(t, "empty queue", 5*time.Second, p, func() bool { return s.queued() == 0 })
	letters := s.letters(t)
	if len(letters) != 1 {
		t.Errorf("dead-letter.jsonl: %+v", letters)
	}
	checkRefusal(t, s, letters, "nomail")
	if n := umc.Attempts()["nomail"]; n != 2 {
		t.Errorf("nomail: %d calls in all, want 2", n)
	}
	t.Logf("full dead-letter disk: %d tries could not record the refusal, no call made for them; written %s after room was made; UMC calls %d",
		strings.Count(p.Log(), cannot), took.Round(100*time.Millisecond), umc.Attempts()["nomail"])
}

// fill writes name until its file system is full.
func fill(t *testing.T, name string) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 1024)
	for {
		if _, err := f.Write(block); err != nil {
			if !strings.Contains(err.Error(), "no space left") {
				t.Fatal(err)
			}
			return
		}
	}
}

// kill -9 the moment a carry-over has been appended to a queue file, then
// restart and end the outage: the old line (in the restored chunk) and the
// new one make one call; nothing is lost, nothing sent twice.
func TestKillRightAfterCarryOver(t *testing.T) {
	needFluentBit(t)
	t.Parallel() // mostly waiting: run beside the other long waits
	const n = 10
	o := &outage{status: http.StatusServiceUnavailable}
	umc := &umctest.UMC{Outage: o.answer}
	s := newSite(t, umc)
	conf := fastConfig(t)
	first := start(t, conf, s.env())
	all := users("carry", n)
	begin := time.Now()
	s.enqueue(t, all...)
	waitFor(t, "a carried-over line", 25*time.Second, first, func() bool { return carriedFiles(s.queue) > 0 })
	first.Kill()
	carriedAt := time.Since(begin)
	carried := carriedFiles(s.queue)
	callsBefore := len(umc.Calls())

	second := start(t, conf, s.env())
	// Let the restarted Fluent Bit read the files and the restored chunks
	// while UMC is still down, then end the outage.
	waitFor(t, "calls after the restart", 10*time.Second, second, func() bool { return len(umc.Calls()) > callsBefore })
	waitFor(t, "a quiet moment to end the outage", 10*time.Second, second, func() bool { return o.endWhenQuiet(300 * time.Millisecond) })
	recovered := time.Now()
	waitFor(t, "every user delivered", 20*time.Second, second, func() bool { return len(umc.Delivered()) == n })
	took := time.Since(recovered)
	waitFor(t, "empty queue", 10*time.Second, second, func() bool { return s.queued() == 0 })
	// With the queue empty no record can make a call any more: a record
	// whose file is gone was handled before.
	if err := umc.CheckOnce(n); err != nil {
		t.Error(err)
	}
	if l := s.deadLetters(); l != "" {
		t.Errorf("dead letters: %s", l)
	}
	t.Logf("kill -9 %s after queueing, %d of %d queue files carried over; after restart and recovery all delivered once in %s; %d calls in all",
		carriedAt.Round(100*time.Millisecond), carried, n, took.Round(100*time.Millisecond), len(umc.Calls()))
}

// One user failing with 500 while others are served around it: that
// others are served is no evidence against it. It waits with its own
// growing pause and ends only by age: an expired dead letter carrying
// UMC's last answer, Max_Age (20 s here) after it was queued. alone:
// whether it is queued on its own first, or at the head of a bulk.
func failingUser(t *testing.T, alone bool) {
	const maxAge = 20 * time.Second
	umc := &umctest.UMC{Fail: func(u string, _ int) int {
		if u == "broken" {
			return http.StatusInternalServerError
		}
		return 0
	}}
	s := newSite(t, umc)
	conf := fastConfig(t)
	outputKey(t, conf, "Max_Age", maxAge.String())
	p := start(t, conf, s.env())
	begin := time.Now()
	others, last := 0, time.Time{}
	more := func() { s.enqueue(t, fmt.Sprintf("other%04d", others)); others++; last = time.Now() }
	s.enqueue(t, "broken")
	if alone {
		waitFor(t, "broken's first call", 10*time.Second, p, func() bool { return umc.Attempts()["broken"] == 1 })
	} else {
		for range 12 {
			more()
		}
	}
	waitFor(t, "broken's dead letter", maxAge+20*time.Second, p, func() bool {
		// Others keep coming, one every half second.
		if time.Since(last) >= 500*time.Millisecond {
			more()
		}
		if l := s.letters(t); len(l) > 0 && time.Since(begin) < maxAge {
			t.Fatalf("a dead letter before Max_Age: %+v", l)
		}
		return len(umctest.OfKind(s.letters(t), spool.KindExpired)) > 0
	})
	took := time.Since(begin)
	waitFor(t, "the others delivered", 10*time.Second, p, func() bool { return len(umc.Delivered()) == others })
	if err := umc.CheckOnce(others); err != nil {
		t.Error(err)
	}
	// Its own pause, from 5 s doubling: a handful of calls in 20 s, not
	// one per chunk try.
	if n := umc.Attempts()["broken"]; n < 2 || n > 6 {
		t.Errorf("broken: %d calls in %s", n, took.Round(time.Second))
	}
	letters := s.letters(t)
	if len(letters) != 1 || letters[0].Username != "broken" || letters[0].Kind != spool.KindExpired || letters[0].Status != 500 {
		t.Errorf("dead-letter.jsonl: %+v", letters)
	}
	waitFor(t, "broken.send moved", 5*time.Second, p, func() bool {
		_, err := os.Stat(filepath.Join(s.dead, "broken.send"))
		return err == nil
	})
	waitFor(t, "the error counted", 10*time.Second, p, func() bool { return metric(s.port, "fluentbit_output_errors_total") == 1 })
	t.Logf("one user failing with 500 amid %d others: %d calls, expired after %s (Max_Age %s)",
		others, umc.Attempts()["broken"], took.Round(100*time.Millisecond), maxAge)
}

func TestOneUserFailingWhileOthersSucceed(t *testing.T) {
	needFluentBit(t)
	t.Parallel() // mostly waiting: run beside the other long waits
	failingUser(t, true)
}

func TestFailingUserAtTheHeadOfABulk(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	failingUser(t, false)
}

// A queue file holding its line twice makes one call.
func TestLineTwiceOneCall(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	umc := &umctest.UMC{}
	s := newSite(t, umc)
	p := start(t, fastConfig(t), s.env())
	line := `{"username": "twice"}` + "\n"
	umctest.WriteQueueFile(t, s.queue, "twice.send", line+line)
	settled(t, s, p, 2) // both records answered OK
	if a := umc.Attempts(); len(a) != 1 || a["twice"] != 1 {
		t.Errorf("calls %v, want one for twice", a)
	}
	if s.queued() != 0 || s.deadLetters() != "" {
		t.Errorf("queue %v, dead letters %q", umctest.Queued(s.queue), s.deadLetters())
	}
	t.Logf("a queue file with its line twice: calls %v", umc.Attempts())
}
