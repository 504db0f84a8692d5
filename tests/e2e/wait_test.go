package e2e

// No user ends by a count: a failing user waits with a pause of its own
// that grows from Backoff_Min to Backoff_Max, until UMC serves it or it is
// Max_Age old; its age survives a crash.

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// Two users failing alike (500) on a quiet system, for a minute and a
// half: their calls follow the growing pause, not Fluent Bit's chunk
// tries (one every 1–3 s here), and they keep being tried.
func TestFailingUsersFollowTheGrowingPause(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	const span = 90 * time.Second
	const backoffMin, backoffMax = time.Second, 15 * time.Second
	umc := &umctest.UMC{Fail: func(string, int) int { return http.StatusInternalServerError }}
	s := newSite(t, umc)
	p := start(t, waitConfig(t, "Backoff_Min", backoffMin.String(), "Backoff_Max", backoffMax.String()), s.env())
	stuck := []string{"stuck1", "stuck2"}
	s.enqueue(t, stuck...)
	waitFor(t, "the first calls", 10*time.Second, p, func() bool { return len(umc.UserCalls()) > 0 })
	begin := umc.UserCalls()[0].Time
	hold(t, time.Until(begin.Add(span)), p, func() { noLetters(t, s, "while failing") })
	end := time.Now()

	// One more call than the schedule allows, for a call that was on its
	// way when a pause began.
	bound := scheduleBound(end.Sub(begin), backoffMin, backoffMax) + 1
	total := 0
	var report []string
	for _, u := range stuck {
		calls := umc.CallsOf(u)
		total += len(calls)
		var gaps []string
		for i := 1; i < len(calls); i++ {
			gaps = append(gaps, calls[i].Time.Sub(calls[i-1].Time).Round(100*time.Millisecond).String())
		}
		report = append(report, fmt.Sprintf("%s %d calls, pauses %v", u, len(calls), gaps))
		if len(calls) > bound {
			t.Errorf("%s: %d calls in %s, the growing pause (%s doubling to %s) allows %d", u, len(calls), end.Sub(begin).Round(time.Second), backoffMin, backoffMax, bound)
		}
		if len(calls) < 2 {
			t.Errorf("%s: %d calls in %s: not tried again", u, len(calls), end.Sub(begin).Round(time.Second))
		}
		// Late in the wait, every pause is near Backoff_Max: at least half
		// of it (the jitter's bound).
		var short []string
		for i := 1; i < len(calls); i++ {
			if calls[i].Time.Sub(begin) > 45*time.Second {
				if gap := calls[i].Time.Sub(calls[i-1].Time); gap < backoffMax/2-100*time.Millisecond {
					short = append(short, fmt.Sprintf("%s after %s", gap.Round(10*time.Millisecond), calls[i-1].Time.Sub(begin).Round(time.Second)))
				}
			}
		}
		if len(short) > 0 {
			t.Errorf("%s: %d pauses shorter than %s late in the wait: %v", u, len(short), backoffMax/2, short)
		}
	}
	if total < 6 {
		t.Errorf("%d calls for the two users in %s: they are not kept trying", total, end.Sub(begin).Round(time.Second))
	}
	t.Logf("two users failing alike for %s (Backoff_Min %s, Backoff_Max %s, at most %d calls each): %s",
		end.Sub(begin).Round(time.Second), backoffMin, backoffMax, bound, strings.Join(report, "; "))
}

// A user UMC fails for longer than Max_Age becomes an expired dead letter
// carrying UMC's last answer, not before Max_Age and not long after; its
// file is set aside and it gets no more calls.
func TestUserOlderThanMaxAgeExpires(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	const maxAge = 20 * time.Second
	command := operatorCommand(t)
	var healed atomic.Bool // the relay accepts stale's address again
	umc := &umctest.UMC{Fail: func(u string, _ int) int {
		if u == "stale" && !healed.Load() {
			return http.StatusInternalServerError
		}
		return 0
	}}
	s := newSite(t, umc)
	addr, env := metricsAddr(t)
	p := start(t, waitConfig(t, "Backoff_Min", "1s", "Backoff_Max", "4s", "Max_Age", maxAge.String()), append(s.env(), env...))
	queued := time.Now()
	s.enqueue(t, "stale", "fresh")
	waitFor(t, "stale's expired letter", maxAge+15*time.Second, p, func() bool {
		letters := s.letters(t)
		for _, l := range letters {
			if l.Kind != kindExpired {
				t.Fatalf("a dead letter of kind %q: %+v", l.Kind, l)
			}
		}
		return len(letters) > 0
	})
	seen := time.Now()
	letters := s.letters(t)
	if len(letters) != 1 || letters[0].Username != "stale" {
		t.Fatalf("dead-letter.jsonl: %+v", letters)
	}
	l := letters[0]
	if l.Status != http.StatusInternalServerError || !strings.HasPrefix(l.Message, "Error sending token: ") {
		t.Errorf("expired letter without UMC's last answer (500 Error sending token): status %d, message %q, error %q", l.Status, l.Message, l.Error)
	}
	// (50 ms for a file time a tick behind the clock.)
	if age := l.Time.Sub(queued); age < maxAge-50*time.Millisecond {
		t.Errorf("stale expired %s after it was queued, before Max_Age %s", age.Round(10*time.Millisecond), maxAge)
	}
	// Not long after: its next call after Max_Age (Backoff_Max 4 s, chunk
	// tries 1–3 s) decides it; 15 s leave room for a loaded machine.
	if age := seen.Sub(queued); age > maxAge+15*time.Second {
		t.Errorf("stale expired only %s after it was queued (Max_Age %s)", age.Round(100*time.Millisecond), maxAge)
	}
	waitFor(t, "stale.send set aside", 5*time.Second, p, func() bool {
		_, err := os.Stat(filepath.Join(s.dead, "stale.send"))
		return err == nil && s.queued() == 0
	})
	calls := len(umc.CallsOf("stale"))
	time.Sleep(5 * time.Second)
	if after := len(umc.CallsOf("stale")); after != calls {
		t.Errorf("%d calls for stale after its expiry", after-calls)
	}
	if err := umc.CheckOnce(1); err != nil || umc.Delivered()["fresh"] != 1 {
		t.Errorf("fresh: %v", err)
	}
	// The operator sees it: an expired invitation, nobody waiting.
	want := map[string]string{
		invitations("umc_invite.0", "expired"):                     "1",
		`umc_invite_users_waiting{output="umc_invite.0"}`:          "0",
		`umc_invite_oldest_waiting_seconds{output="umc_invite.0"}`: "0",
	}
	var wrong []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		m := scrapeMetrics(addr)
		wrong = nil
		for name, v := range want {
			if m[name] != v {
				wrong = append(wrong, fmt.Sprintf("%s = %q, want %s", name, m[name], v))
			}
		}
		if len(wrong) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, w := range wrong {
		t.Error(w)
	}

	// Re-queued by the operator once the cause is fixed, stale starts a
	// new age: it is called and invited once, not expired again at once.
	healed.Store(true)
	if out, err := exec.Command(command, "requeue", "--queue-dir", s.queue, "stale").CombinedOutput(); err != nil {
		t.Fatalf("requeue: %v\n%s", err, out)
	}
	requeued := time.Now()
	waitFor(t, "stale invited after its re-queueing", 10*time.Second, p, func() bool {
		// The log holds the letter and the command's re-queue mark.
		if n := len(umctest.OfKind(s.letters(t), kindExpired)); n != 1 {
			t.Fatalf("re-queued stale expired again: %s", s.deadLetters())
		}
		return umc.Delivered()["stale"] == 1
	})
	if err := umc.CheckOnce(2); err != nil {
		t.Error(err)
	}
	t.Logf("Max_Age %s: stale expired %s after queueing (letter written at %s), after %d calls; last answer %d %q; re-queued by the operator, invited once %s later",
		maxAge, seen.Sub(queued).Round(100*time.Millisecond), l.Time.Sub(queued).Round(100*time.Millisecond), calls, l.Status, l.Message,
		time.Since(requeued).Round(100*time.Millisecond))
}

// kill -9 and restart during a long wait (UMC's host gone: connections
// refused): the users' ages survive, so those queued before the crash
// expire at Max_Age from their queueing, not from the restart, nobody
// expires early, and those queued after the restart are invited once
// when UMC is back.
func TestKillDuringALongWaitKeepsAges(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	const maxAge = 40 * time.Second
	command := operatorCommand(t)
	umc := &umctest.UMC{}
	s := newSite(t, umc)
	srv := umctest.NewSwitchableServer(t, umc)
	s.url = srv.URL
	srv.Down()
	conf := waitConfig(t, "Backoff_Min", "1s", "Backoff_Max", "4s", "Max_Age", maxAge.String())
	addr, env := metricsAddr(t)
	first := start(t, conf, append(s.env(), env...))
	old, young := users("old", 8), users("young", 4)
	queued := time.Now()
	s.enqueue(t, old...)
	hold(t, 20*time.Second, first, func() { noLetters(t, s, "before the crash") })
	first.Kill()
	time.Sleep(time.Second)
	second := start(t, conf, append(s.env(), env...))
	restarted := time.Now()
	s.enqueue(t, young...)
	youngQueued := time.Now()

	// The carried ages, as the operator sees them (no running plugin
	// needed): old users about as old as their files.
	time.Sleep(3 * time.Second)
	list, err := queueListing(command, s.queue)
	if err != nil {
		t.Errorf("%v", err)
	}
	for _, u := range old {
		if list == nil {
			break
		}
		w, ok := list[u]
		at := time.Now()
		switch {
		case !ok:
			t.Errorf("umc-invite queue does not list %s: %+v", u, list)
		case w.FirstSeen.After(queued.Add(5 * time.Second)):
			t.Errorf("%s: first seen %s after it was queued: its age did not survive the restart", u, w.FirstSeen.Sub(queued).Round(100*time.Millisecond))
		case w.AgeSeconds < at.Sub(queued).Seconds()-5:
			t.Errorf("%s: age %.0f s, queued %.0f s ago", u, w.AgeSeconds, at.Sub(queued).Seconds())
		}
	}

	// The restarted plugin's metrics know the oldest user's age too.
	oldest := `umc_invite_oldest_waiting_seconds{output="umc_invite.0"}`
	var age string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if age = scrapeMetrics(addr)[oldest]; age != "" && age != "0" {
			break
		}
	}
	if v, err := strconv.ParseFloat(age, 64); err != nil || v < time.Since(queued).Seconds()-10 {
		t.Errorf("%s = %q after the restart, %.0f s after the old users were queued", oldest, age, time.Since(queued).Seconds())
	}

	// The old users expire by their first-seen time: not before Max_Age
	// from their queueing, and before Max_Age from the restart.
	waitFor(t, "the old users' expired letters", maxAge, second, func() bool {
		for _, l := range s.letters(t) {
			if l.Kind != kindExpired || !strings.HasPrefix(l.Username, "old") {
				t.Fatalf("dead letter: %+v", l)
			}
		}
		return len(s.letters(t)) == len(old)
	})
	expired := time.Now()
	for _, l := range s.letters(t) {
		if l.Time.Before(queued.Add(maxAge - 50*time.Millisecond)) {
			t.Errorf("%s expired %s after its queueing, before Max_Age %s", l.Username, l.Time.Sub(queued).Round(100*time.Millisecond), maxAge)
		}
		if !l.Time.Before(restarted.Add(maxAge)) {
			t.Errorf("%s expired %s after its queueing, %s after the restart: its age began anew at the restart",
				l.Username, l.Time.Sub(queued).Round(100*time.Millisecond), l.Time.Sub(restarted).Round(100*time.Millisecond))
		}
	}
	if age := time.Since(youngQueued); age >= maxAge {
		t.Fatalf("the young users are %s old already: the test came too late", age.Round(time.Second))
	}
	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	waitFor(t, "the young users invited", 20*time.Second, second, func() bool { return len(umc.Delivered()) == len(young) })
	took := time.Since(up)
	waitFor(t, "empty queue", 10*time.Second, second, func() bool { return s.queued() == 0 })
	if err := umc.CheckOnce(len(young)); err != nil {
		t.Error(err)
	}
	for _, u := range young {
		if umc.Delivered()[u] != 1 {
			t.Errorf("%s not invited", u)
		}
	}
	if n := len(s.letters(t)); n != len(old) {
		t.Errorf("%d dead letters, want %d: %s", n, len(old), s.deadLetters())
	}
	t.Logf("kill -9 %s into an outage, Max_Age %s: the %d old users expired %s after queueing (%s after the restart); UMC back %s after queueing, the %d young users invited once in %s",
		restarted.Sub(queued).Round(100*time.Millisecond), maxAge, len(old), expired.Sub(queued).Round(100*time.Millisecond),
		expired.Sub(restarted).Round(100*time.Millisecond), up.Sub(queued).Round(100*time.Millisecond), len(young), took.Round(100*time.Millisecond))
}

// A pause longer than a chunk's whole retry window (Fluent Bit's six
// tries take 10–15 s here): the tries in which the user is not due make
// no call but still count toward the chunk's last try, where the user is
// carried over; it is called again when its pause is over, and invited
// once when UMC serves it. Nobody stays read and never sent.
func TestPauseLongerThanAChunksTries(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	const pause = 25 * time.Second
	umc := &umctest.UMC{Fail: func(u string, n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return 0
	}}
	s := newSite(t, umc)
	p := start(t, waitConfig(t, "Backoff_Min", pause.String(), "Backoff_Max", pause.String()), s.env())
	s.enqueue(t, "patient")
	begin := time.Now()
	var biggest int64
	waitFor(t, "patient invited on its third call", 3*pause, p, func() bool {
		biggest = max(biggest, biggestQueueFile(s.queue))
		noLetters(t, s, "while patient waits")
		return umc.Delivered()["patient"] == 1
	})
	took := time.Since(begin)
	waitFor(t, "empty queue", 10*time.Second, p, func() bool { return s.queued() == 0 })
	calls := umc.CallsOf("patient")
	if len(calls) != 3 {
		t.Errorf("patient: %d calls, want 3 (two failures, then served)", len(calls))
	}
	for i := 1; i < len(calls); i++ {
		if gap := calls[i].Time.Sub(calls[i-1].Time); gap < pause/2-100*time.Millisecond {
			t.Errorf("patient: call %d only %s after the one before, its pause is %s (at least half with jitter)", i+1, gap.Round(10*time.Millisecond), pause)
		}
	}
	if err := umc.CheckOnce(1); err != nil {
		t.Error(err)
	}
	if biggest > maxQueueFile {
		t.Errorf("patient.send grew to %d bytes", biggest)
	}
	t.Logf("a pause of %s, longer than a chunk's tries: patient invited on call %d, %s after queueing; queue file at most %d bytes",
		pause, len(calls), took.Round(100*time.Millisecond), biggest)
}

// TestOwnFailureKeepsItsPauseWhileOthersAreInvited, with the real fluent-bit:
// one user whose address the mail relay rejects (UMC's 500 for this user
// only) while the administrator keeps creating users (one every 2.5 s),
// each invited at once. The failing user must follow its own growing
// pause (Backoff_Min 1 s doubling to Backoff_Max 15 s: late in the wait
// every pause at least 7.5 s): its 500s are its own, not an outage that
// the next new user's 200 ends, releasing it to be called again after
// every other user's invitation.
func TestOwnFailureKeepsItsPauseWhileOthersAreInvited(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	const span = 45 * time.Second
	const backoffMin, backoffMax = time.Second, 15 * time.Second
	umc := &umctest.UMC{Fail: func(user string, _ int) int {
		if user == "badaddr" {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}}
	s := newSite(t, umc)
	p := start(t, waitConfig(t, "Backoff_Min", backoffMin.String(), "Backoff_Max", backoffMax.String()), s.env())
	s.enqueue(t, "badaddr")
	waitFor(t, "the first call", 10*time.Second, p, func() bool { return len(umc.CallsOf("badaddr")) > 0 })
	begin := umc.CallsOf("badaddr")[0].Time
	for i := 0; time.Since(begin) < span; i++ {
		s.enqueue(t, fmt.Sprintf("new%03d", i))
		hold(t, 2500*time.Millisecond, p, nil)
	}
	end := time.Now()
	calls := umc.CallsOf("badaddr")
	bound := scheduleBound(end.Sub(begin), backoffMin, backoffMax) + 1
	var short []string
	for i := 1; i < len(calls); i++ {
		if calls[i].Time.Sub(begin) > 30*time.Second {
			if gap := calls[i].Time.Sub(calls[i-1].Time); gap < backoffMax/2-100*time.Millisecond {
				short = append(short, gap.Round(100*time.Millisecond).String())
			}
		}
	}
	if len(calls) > bound || len(short) > 0 {
		t.Fatalf("badaddr: %d calls in %s (its own growing pause allows %d); pauses shorter than %s after 30 s: %v: "+
			"another user's 200 releases it as if an outage had ended", len(calls), end.Sub(begin).Round(time.Second), bound, backoffMax/2, short)
	}
}
