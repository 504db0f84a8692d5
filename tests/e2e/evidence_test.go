package e2e

// A refusal is proven, or it is not a refusal: what UMC really does (a
// throttling mail relay, the self-service switched off and on, a user it
// cannot see for a while) ends nobody; only a user answered like one that
// cannot exist, while the service demonstrably works, for Refusal_Grace,
// is refused.

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// A bulk import through a mail relay that lets one mail in four through
// for a while: every user keeps waiting with its own pause and is invited
// once the relay recovers; nobody becomes a dead letter.
func TestThrottlingRelayDeadLettersNoOne(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	const n = 40
	const throttled = 25 * time.Second
	umc := &umctest.UMC{}
	s := newSite(t, umc)
	p := start(t, waitConfig(t, "Backoff_Min", "1s", "Backoff_Max", "4s"), s.env())
	all := users("import", n)
	umc.ThrottleFor(0.75, 21, throttled)
	begin := time.Now()
	s.enqueue(t, all...)
	hold(t, throttled, p, func() { noLetters(t, s, "while the relay throttles") })
	waitFor(t, "every user invited", 30*time.Second, p, func() bool { return len(umc.Delivered()) == n })
	took := time.Since(begin)
	waitFor(t, "empty queue", 10*time.Second, p, func() bool { return s.queued() == 0 })
	if err := umc.CheckOnce(n); err != nil {
		t.Error(err)
	}
	if l := s.deadLetters(); l != "" {
		t.Errorf("dead letters: %s", l)
	}
	most := 0
	for _, c := range umc.Attempts() {
		most = max(most, c)
	}
	// Waiting users are not called while their pause runs, so the relay
	// sees fewer calls than on main; a quarter of the users' worth of
	// failures is the scenario.
	if umc.Throttled() < n/4 {
		t.Errorf("the relay failed only %d calls: the scenario did not happen", umc.Throttled())
	}
	t.Logf("%d users, the relay failing 3 in 4 mails for %s: %d calls failed, all invited once %s after queueing; most calls for one user %d, %d calls in all (probes included)",
		n, throttled, umc.Throttled(), took.Round(100*time.Millisecond), most, len(umc.Calls()))
}

// Some users served, some failing, then the administrator switches the
// self-service off (the "disabled" 400 for everyone, probes included) and
// on again: nobody is refused, everyone is invited once.
func TestSelfServiceOffAndOnRefusesNoOne(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	const off = 20 * time.Second
	var phase atomic.Int32 // 0: the flaky users fail; 1: the service was switched off
	umc := &umctest.UMC{Fail: func(u string, _ int) int {
		if strings.HasPrefix(u, "flaky") && phase.Load() == 0 {
			return http.StatusInternalServerError
		}
		return 0
	}}
	s := newSite(t, umc)
	// A short grace: were the "disabled" answers taken for a refusal, the
	// grace would be over long before the service is on again.
	p := start(t, waitConfig(t, "Backoff_Min", "1s", "Backoff_Max", "4s", "Refusal_Grace", "3s"), s.env())
	fine, flaky, late := users("fine", 10), users("flaky", 5), users("late", 5)
	s.enqueue(t, append(append([]string(nil), flaky...), fine...)...)
	waitFor(t, "the fine users invited, each flaky user failed", 15*time.Second, p, func() bool {
		a := umc.Attempts()
		for _, u := range flaky {
			if a[u] == 0 {
				return false
			}
		}
		return len(umc.Delivered()) == len(fine)
	})
	umc.SetDisabled(true)
	phase.Store(1)
	s.enqueue(t, late...) // users created while it is off
	hold(t, off, p, func() { noLetters(t, s, "while the self-service is off") })
	umc.SetDisabled(false)
	on := time.Now()
	everyone := len(fine) + len(flaky) + len(late)
	waitFor(t, "everyone invited", 20*time.Second, p, func() bool { return len(umc.Delivered()) == everyone })
	took := time.Since(on)
	waitFor(t, "empty queue", 10*time.Second, p, func() bool { return s.queued() == 0 })
	if err := umc.CheckOnce(everyone); err != nil {
		t.Error(err)
	}
	if l := s.deadLetters(); l != "" {
		t.Errorf("dead letters: %s", l)
	}
	// The scenario happened: users with an earlier failure were told
	// "disabled" (while every call fails the plugin may hold the others
	// back, so not necessarily each of them).
	told := map[string]int{}
	probes := 0
	for _, c := range umc.Calls() {
		if c.Message == umctest.Disabled {
			told[c.Username]++
			if umctest.IsProbe(c) {
				probes++
			}
		}
	}
	flakyTold := 0
	for _, u := range flaky {
		if told[u] > 0 {
			flakyTold++
		}
	}
	if flakyTold == 0 {
		t.Errorf("no flaky user was answered %q: the scenario did not happen", umctest.Disabled)
	}
	t.Logf("self-service off for %s after %d served and %d failing: %d calls answered disabled (%d probes, %d of the flaky users); all %d invited once %s after it was on again",
		off, len(fine), len(flaky), sum(told), probes, flakyTold, everyone, took.Round(100*time.Millisecond))
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// A user UMC cannot see for its first seconds (replication lag, a
// whitelist group added a moment later) is answered exactly like a user
// that cannot exist, then served: it is invited once. A user that really
// cannot be mailed is refused, but only Refusal_Grace after its first such
// answer, by a probe asked after it.
func TestUserUnknownForAWhileIsInvitedOnce(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	const lag, grace = 6 * time.Second, 15 * time.Second
	umc := &umctest.UMC{Refused: func(u string) bool { return u == "ghost" }}
	s := newSite(t, umc)
	p := start(t, waitConfig(t, "Backoff_Min", "1s", "Backoff_Max", "4s", "Refusal_Grace", grace.String()), s.env())
	umc.UnknownFor("newkid", lag)
	s.enqueue(t, "newkid", "ghost", "plain")
	waitFor(t, "newkid invited", 25*time.Second, p, func() bool {
		if len(umctest.Refusals(t, s.dead)) > 0 && umc.Delivered()["newkid"] == 0 {
			t.Fatalf("a refusal before newkid was known: %s", s.deadLetters())
		}
		return umc.Delivered()["newkid"] == 1
	})
	waitFor(t, "ghost's refusal", grace+15*time.Second, p, func() bool { return len(umctest.Refusals(t, s.dead)) > 0 })
	seen := time.Now()
	waitFor(t, "empty queue", 10*time.Second, p, func() bool { return s.queued() == 0 })

	if err := umc.CheckOnce(2); err != nil { // newkid and plain
		t.Error(err)
	}
	var unknown int
	for _, c := range umc.CallsOf("newkid") {
		if c.Message == umctest.MissingContactInformation {
			unknown++
		}
	}
	// At least once (on a fast machine two or three times: main refused it
	// after two); a loaded machine may call it late.
	if unknown < 1 {
		t.Errorf("newkid never answered as unknown: the scenario did not happen")
	}
	letters := s.letters(t)
	if len(letters) != 1 {
		t.Errorf("dead-letter.jsonl: %+v", letters)
	}
	checkRefusal(t, s, letters, "ghost")
	ghost := umc.CallsOf("ghost")
	if len(ghost) == 0 {
		t.Fatal("no call for ghost")
	}
	first := ghost[0].Time
	// Refused only if still so Refusal_Grace after its first such answer:
	// a call at or after first+grace, and the letter after it.
	last := ghost[len(ghost)-1].Time
	if last.Before(first.Add(grace)) {
		t.Errorf("ghost's last call %s after its first: refused without asking after Refusal_Grace %s", last.Sub(first).Round(10*time.Millisecond), grace)
	}
	if l := lettersOf(letters, "ghost"); len(l) == 1 && l[0].Time.Before(first.Add(grace)) {
		t.Errorf("ghost refused %s after its first answer, within Refusal_Grace %s", l[0].Time.Sub(first).Round(10*time.Millisecond), grace)
	}
	// The evidence: a probe for a user that cannot exist, asked after
	// ghost's first answer, refused in the same words.
	probed := false
	for _, c := range umc.Calls() {
		if umctest.IsProbe(c) && c.Method == "email" && c.Time.After(first) && c.Message == umctest.MissingContactInformation {
			probed = true
		}
	}
	if !probed {
		t.Error("ghost refused without a probe asked after its first answer")
	}
	t.Logf("newkid unknown for %s: %d calls (%d answered as unknown), invited once; ghost: %d calls, refused %s after its first answer (Refusal_Grace %s)",
		lag, len(umc.CallsOf("newkid")), unknown, len(ghost), seen.Sub(first).Round(100*time.Millisecond), grace)
}
