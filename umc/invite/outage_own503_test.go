package invite

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
)

// An outage opened by users failing on their own ends as soon as the
// evidence allows: when its one call is answered by UMC's 503 for a user
// while the probe shows the self-service working, that 503 is the user's
// own, and the users waiting behind the outage are called at once, not
// one a second.
func TestAnOutagesOneCallAnsweredByAUsersOwn503EndsTheOutage(t *testing.T) {
	stub := &umctest.UMC{Fail: func(user string, _ int) int {
		switch {
		case strings.HasPrefix(user, "broken"):
			return http.StatusInternalServerError
		case strings.HasPrefix(user, "flaky"):
			return http.StatusServiceUnavailable
		}
		return 0
	}}
	f := newFixture(t, stub, config.Map{})
	f.flush(context.Background(), f.queueFiles(t, "broken1", "broken2", "broken3"))
	if !f.out.gate.failing() {
		t.Fatal("three users failing in a row opened no outage")
	}
	f.flush(context.Background(), f.queueFiles(t, "flaky1"))
	if f.out.gate.failing() {
		t.Fatalf("the outage's one call found flaky1's own 503 while the self-service works, and the outage goes on: its users wait one call a second\n%s", f.logs)
	}
	healthy := names("ok", 6)
	f.flush(context.Background(), f.queueFiles(t, healthy...))
	if err := stub.CheckOnce(len(healthy)); err != nil {
		t.Fatalf("after the outage's one call found flaky1's own 503: %v\n%s", err, f.logs)
	}
}
