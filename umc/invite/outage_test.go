package invite

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
)

// Defect 9: a panic after the call that had the outage's turn (in the
// evidence, the decision or apply) ends that turn: later calls go.
func TestAPanicAfterTheOutagesCallLetsLaterCallsGo(t *testing.T) {
	f := newFixture(t, &umctest.UMC{Outage: func() int { return http.StatusServiceUnavailable }}, config.Map{})
	ctx := context.Background()
	f.flush(ctx, f.queueFiles(t, "alice")) // UMC unavailable: an outage
	f.advance(2 * time.Second)
	jitter := f.out.jitter
	f.out.jitter = func() float64 { panic("in the decision") }
	f.out.Flush(ctx, f.queueFiles(t, "bob")) // the outage's one call, then a panic
	f.out.jitter = jitter
	if !strings.Contains(f.logs.String(), "internal error") {
		t.Fatalf("the panic was not met:\n%s", f.logs)
	}
	f.advance(2 * time.Second)
	f.out.Flush(ctx, f.queueFiles(t, "carol"))
	if n := f.stub.Attempts()["carol"]; n != 1 {
		t.Fatalf("carol called %d times after the panic, want 1: the outage's turn was never given back", n)
	}
}

// Issue 26: UMC rejecting the configured credentials (401, 403) is
// everyone's problem: nobody ends, calls are held back like in an outage,
// and the operator reads once, not per record, that waiting will not heal
// it.
func TestRejectedCredentialsHoldEveryoneBackAndSaySoOnce(t *testing.T) {
	for _, c := range []struct {
		keys config.Map
		who  string
	}{
		{config.Map{"Auth_User": "invite", "Auth_Password": "wrong"}, `Auth_User "invite"`},
		{config.Map{}, "anonymous"},
	} {
		stub := &umctest.UMC{Outage: func() int { return http.StatusUnauthorized }}
		if c.who != "anonymous" {
			stub = &umctest.UMC{User: "invite", Password: "right"}
		}
		f := newFixture(t, stub, c.keys)
		users := names("u", 40)
		ctx := context.Background()
		for range 3 {
			if v := f.out.Flush(ctx, f.queueFiles(t, users...)); v != Retry {
				t.Fatalf("%s: verdict %v, want RETRY", c.who, v)
			}
			f.advance(2 * time.Second)
		}
		if calls := len(f.stub.Calls()); calls > f.out.cfg.Concurrency+3 {
			t.Errorf("%s: %d calls for 40 users in three flushes: the load grows with the queue", c.who, calls)
		}
		if n := len(f.deadLetters(t)); n != 0 {
			t.Errorf("%s: %d users ended by rejected credentials", c.who, n)
		}
		logs := f.logs.String()
		if n := strings.Count(logs, "rejects the configured credentials,"); n != 1 || !strings.Contains(logs, c.who) || !strings.Contains(logs, "will not heal") {
			t.Errorf("%s: said %d times, want once naming it:\n%s", c.who, n, logs)
		}
	}
}
