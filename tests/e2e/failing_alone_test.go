package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// Users failing on their own at the head of the queue hold nobody up: 30
// whose first two calls get UMC's 503 and 10 whose calls always get
// "Error sending token" are read first, then 150 healthy users. The
// healthy users are called at once, every deliverable user is invited
// once within seconds, and the failing ones wait by their own pause,
// none dead-lettered.
func TestUsersFailingAloneHoldNobodyUp(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	const slack = 2 // a loaded machine
	umc := &umctest.UMC{Latency: 5 * time.Millisecond, Fail: func(user string, n int) int {
		switch {
		case strings.HasPrefix(user, "flaky") && n <= 2:
			return http.StatusServiceUnavailable
		case strings.HasPrefix(user, "broken"):
			return http.StatusInternalServerError
		}
		return 0
	}}
	s := newSite(t, umc)
	flaky, broken, healthy := users("flaky", 30), users("broken", 10), users("healthy", 150)
	s.enqueue(t, append(flaky, broken...)...)
	p := start(t, fastConfig(t), s.env())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("UMC's answers, second by second:\n%s", timeline(umc.UserCalls()))
		}
	})
	waitFor(t, "the failing users' first answers", 15*time.Second, p, func() bool { return len(umc.UserCalls()) >= 5 })
	queued := time.Now()
	s.enqueue(t, healthy...)
	deliverable := len(flaky) + len(healthy)
	waitFor(t, "every deliverable user invited", 15*slack*time.Second, p, func() bool { return len(umc.Delivered()) >= deliverable })
	calls := umc.UserCalls()
	began := calls[0].Time
	var firstHealthy, lastServed time.Time
	for _, c := range calls {
		if firstHealthy.IsZero() && strings.HasPrefix(c.Username, "healthy") {
			firstHealthy = c.Time
		}
		if c.Status == http.StatusOK {
			lastServed = c.Time
		}
	}
	t.Logf("first healthy user called %s after the healthy users were queued; %d deliverable users invited %s after the first call",
		firstHealthy.Sub(queued).Round(100*time.Millisecond), deliverable, lastServed.Sub(began).Round(100*time.Millisecond))
	if d := firstHealthy.Sub(queued); d > 2*slack*time.Second {
		t.Errorf("the first healthy user was called %s after it was queued: the failing users held it up", d.Round(100*time.Millisecond))
	}
	if d := lastServed.Sub(began); d > 15*slack*time.Second {
		t.Errorf("the %d deliverable users took %s: the failing users held them up", deliverable, d.Round(100*time.Millisecond))
	}
	if err := umc.CheckOnce(deliverable); err != nil {
		t.Error(err)
	}
	if letters := s.deadLetters(); letters != "" {
		t.Errorf("users dead-lettered before Max_Age:\n%s", letters)
	}
	attempts := umc.Attempts()
	for _, u := range broken {
		// Its own pause from Backoff_Min (5 s), doubling: a handful of
		// calls in this time, not one per flush.
		if n := attempts[u]; n < 1 || n > 6 {
			t.Errorf("%s, failing on its own, was called %d times", u, n)
		}
	}
	if n := len(umctest.Queued(s.queue)); n != len(broken) {
		t.Errorf("%d queue files left, want the %d users still failing", n, len(broken))
	}
}

// timeline counts calls per second by the user's kind and the answer.
func timeline(calls []umctest.Call) string {
	if len(calls) == 0 {
		return ""
	}
	var b strings.Builder
	sec, counts := 0, map[string]int{}
	flush := func() {
		if len(counts) > 0 {
			fmt.Fprintf(&b, "%3ds %v\n", sec, counts)
		}
		counts = map[string]int{}
	}
	for _, c := range calls {
		if s := int(c.Time.Sub(calls[0].Time) / time.Second); s != sec {
			flush()
			sec = s
		}
		counts[fmt.Sprintf("%s:%d", strings.TrimRight(c.Username, "0123456789"), c.Status)]++
	}
	flush()
	return b.String()
}
