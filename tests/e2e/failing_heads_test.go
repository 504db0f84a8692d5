package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// Users failing on their own at the head of the queue do not hold the
// others up: the outage their failures look like is ended by the first
// user UMC serves, and the outage's one call goes to a user never asked,
// not to the next of the failing ones. 30 users whose first two calls fail
// and 10 that always fail, then 150 healthy ones: the first healthy user is
// called within seconds, and the 180 deliverable users are all invited in
// seconds (the outage rule once held them for about 160 s).
func TestUsersFailingAtTheHeadOfTheQueueStallNoOne(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
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
	s.enqueue(t, append(users("flaky", 30), users("broken", 10)...)...)
	p := start(t, waitConfig(t, "Backoff_Min", "1s", "Backoff_Max", "2s"), s.env())
	waitFor(t, "the failing users' first calls", 15*time.Second, p, func() bool { return len(umc.Calls()) >= 5 })
	queued := time.Now()
	healthy := users("healthy", 150)
	s.enqueue(t, healthy...)
	waitFor(t, "every deliverable user", 60*time.Second, p, func() bool {
		return len(umc.Delivered()) == len(healthy)+30
	})
	all := time.Since(queued)
	var first time.Time
	for _, c := range umc.Calls() {
		if strings.HasPrefix(c.Username, "healthy") {
			first = c.Time
			break
		}
	}
	t.Logf("180 deliverable users invited in %s, the first healthy one called %s after it was queued",
		all.Round(100*time.Millisecond), first.Sub(queued).Round(100*time.Millisecond))
	if d := first.Sub(queued); d > 5*time.Second {
		t.Fatalf("the first healthy user was called %s after it was queued: the failing users held it up", d)
	}
	// A few seconds on a quiet machine; the bound leaves room for a loaded one.
	if all > 20*time.Second {
		t.Fatalf("the 180 deliverable users took %s: the failing users held them up", all.Round(time.Second))
	}
	for u, n := range umc.Delivered() {
		if n != 1 {
			t.Fatalf("%s invited %d times", u, n)
		}
	}
}
