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
// not to the next of the failing ones.
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
	p := start(t, fastConfig(t), s.env())
	waitFor(t, "the failing users' first calls", 15*time.Second, p, func() bool { return len(umc.Calls()) >= 5 })
	queued := time.Now()
	healthy := users("healthy", 150)
	s.enqueue(t, healthy...)
	waitFor(t, "every healthy user", 30*time.Second, p, func() bool {
		n := 0
		for u := range umc.Delivered() {
			if strings.HasPrefix(u, "healthy") {
				n++
			}
		}
		return n == len(healthy)
	})
	var first time.Time
	for _, c := range umc.Calls() {
		if strings.HasPrefix(c.Username, "healthy") {
			first = c.Time
			break
		}
	}
	t.Logf("150 healthy users invited in %s, the first called %s after they were queued",
		time.Since(queued).Round(100*time.Millisecond), first.Sub(queued).Round(100*time.Millisecond))
	if d := first.Sub(queued); d > 10*time.Second {
		t.Fatalf("the first healthy user was called %s after it was queued: the failing users held it up", d)
	}
	for u, n := range umc.Delivered() {
		if n != 1 {
			t.Fatalf("%s invited %d times", u, n)
		}
	}
}
