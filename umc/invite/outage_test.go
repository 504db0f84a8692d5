package invite

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"umc-invite/umc"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/policy"
	"umc-invite/umc/record"
)

// Defect 9: a panic after the call that had the outage's turn (here in the
// weighing of its refusal, before the gate learns what it says) ends that
// turn: later calls go.
func TestAPanicAfterTheOutagesCallLetsLaterCallsGo(t *testing.T) {
	fake := &fakeUMC{answer: func(user string, _ int) umc.Answer {
		if user == "bob" {
			return refused()
		}
		return unavailable()
	}}
	f := newFakeFixture(t, fake, config.Map{})
	ctx := context.Background()
	f.flush(ctx, f.queueFiles(t, "alice")) // UMC unavailable: an outage
	f.advance(2 * time.Second)
	fake.probe = func() (umc.Baseline, error) { panic("in the evidence") }
	f.out.Flush(ctx, f.queueFiles(t, "bob")) // the outage's one call, then a panic
	fake.probe = nil
	if !strings.Contains(f.logs.String(), "internal error") {
		t.Fatalf("the panic was not met:\n%s", f.logs)
	}
	f.advance(2 * time.Second)
	f.out.Flush(ctx, f.queueFiles(t, "carol"))
	if n := fake.called("carol"); n != 1 {
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

// Defect 2, through the files: a user carried over during an outage carries
// the outage's mark in its line, and after a restart UMC's first 200 for
// someone else makes it due at once, not after its carried pause.
func TestAUserCarriedOverInAnOutageIsDueWhenUMCServesAfterARestart(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	fake := &fakeUMC{answer: func(string, int) umc.Answer {
		if down.Load() {
			return unavailable()
		}
		return served()
	}}
	// A pause of a minute: only the outage's end can make alice due within
	// the seconds this test lets pass.
	f := newFakeFixture(t, fake, config.Map{"Chunk_Retry_Limit": "1", "Backoff_Min": "1m"})
	ctx := context.Background()
	alice := f.queueFiles(t, "alice")
	for range 2 { // its first try and its last: carried over
		f.out.Flush(ctx, alice)
		f.advance(2 * time.Second)
	}
	data, _ := os.ReadFile(filepath.Join(f.queue, "alice.send"))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"outage_since"`) || !strings.Contains(lines[1], `"next_try"`) {
		t.Fatalf("alice's carried line lacks the outage's mark:\n%s\n%s", data, f.logs)
	}
	f.restart(t)
	down.Store(false)
	f.advance(time.Second)
	f.out.Flush(ctx, f.queueFiles(t, "zed")) // UMC serves someone: it works again
	f.advance(time.Second)
	carried := record.New("umc_invite", time.Unix(1, 0), map[any]any{"log": []byte(lines[1]),
		"path": []byte(filepath.Join(f.queue, "alice.send")), "offset": int64(len(lines[0]) + 1)})
	before := fake.called("alice")
	if v := f.out.Flush(ctx, []record.Record{carried}); v != OK || fake.called("alice") != before+1 {
		t.Fatalf("verdict %v, alice called %d times after the restart: she waits out her carried pause although UMC is back", v, fake.called("alice")-before)
	}
}

// A user whose calls get UMC's 503 on its own holds nobody back: the
// probe asked at once after each 503 (UMC's rate limit, or UMC down,
// until it shows otherwise) shows UMC's self-service working, and the
// others of the flush are called.
func TestAUserFailingAloneHoldsNobodyBack(t *testing.T) {
	var probes atomic.Int32
	var f *fixture
	fake := &fakeUMC{
		answer: func(user string, _ int) umc.Answer {
			f.advance(time.Millisecond) // answers come one after another
			if user == "flaky" {
				return umc.Answer{Status: http.StatusServiceUnavailable, FromUMC: true, Message: "Please retry in one minute."}
			}
			return served()
		},
		probe: func() (umc.Baseline, error) {
			probes.Add(1)
			return umc.Baseline{
				Unknown: umc.Answer{Status: http.StatusBadRequest, FromUMC: true, Message: "No address has been stored"},
				Method:  umc.Answer{Status: http.StatusBadRequest, FromUMC: true, Message: "Unknown recovery method"},
			}, nil
		},
	}
	f = newFakeFixture(t, fake, config.Map{"Concurrency": "1"})
	ctx := context.Background()
	for round, users := range [][]string{names("a", 10), names("b", 10)} {
		f.out.Flush(ctx, append(f.queueFiles(t, "flaky"), f.queueFiles(t, users...)...))
		for _, u := range users {
			if n := fake.called(u); n != 1 {
				t.Fatalf("round %d: %s called %d times, want 1: the lone failing user held it back\n%s", round, u, n, f.logs)
			}
		}
		if n := fake.called("flaky"); n != round+1 {
			t.Fatalf("round %d: flaky called %d times", round, n)
		}
		f.advance(time.Hour) // past flaky's own pause
	}
	if n := probes.Load(); n != 2 {
		t.Errorf("%d probes for flaky's two 503s, want one asked after each", n)
	}
}

// UMC answers its 503 for everyone (its rate limit, or down) right after
// it came back from a mail relay outage: the users that outage released,
// each of which failed in it, are held back to one call a second, not all
// called at once, every call extending UMC's lockout.
func TestUMCsRateLimitRightAfterAnOutageHoldsTheReleasedUsersBack(t *testing.T) {
	var f *fixture
	var limited atomic.Bool
	users := names("u", 20)
	fake := &fakeUMC{
		answer: func(user string, _ int) umc.Answer {
			switch {
			case user == "x":
				f.advance(time.Millisecond)
				return served()
			case limited.Load():
				f.advance(time.Millisecond) // answers come one after another
				return umc.Answer{Status: http.StatusServiceUnavailable, FromUMC: true, Message: "Please retry in one minute."}
			}
			f.advance(2 * time.Second) // the relay outage: one call a second, each answered
			return umc.Answer{Status: http.StatusInternalServerError, FromUMC: true, Message: "Error sending token: relay down"}
		},
	}
	f = newFakeFixture(t, fake, config.Map{"Concurrency": "1"})
	ctx := context.Background()
	before := map[string]int{}
	for range 200 {
		f.flush(ctx, f.queueFiles(t, users...))
		all := true
		for _, u := range users {
			before[u] = fake.called(u)
			all = all && before[u] > 0
		}
		if all {
			break
		}
	}
	for _, u := range users {
		if before[u] == 0 {
			t.Fatalf("in the relay outage %s was never called", u)
		}
	}
	limited.Store(true)
	// x, never asked, goes first and is served: the relay outage is over.
	f.flush(ctx, append(f.queueFiles(t, "x"), f.queueFiles(t, users...)...))
	calls := 0
	for _, u := range users {
		calls += fake.called(u) - before[u]
	}
	if fake.called("x") != 1 {
		t.Fatalf("x called %d times", fake.called("x"))
	}
	if calls > policy.OutageRun {
		t.Errorf("UMC answered its 503 to %d users in a row within %v, all called; want the calls held back after at most %d:\n%s",
			calls, time.Duration(calls)*time.Millisecond, policy.OutageRun, f.logs)
	}
}

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

// Gentle on a UMC that is down: while a probe of the last 30 seconds found
// UMC failing, the outage's next calls answered by its 503 ask no probe of
// their own; one call a second reaches UMC, not three.
func TestAnOutagesCallsAskNoProbeWhileARecentOneFoundUMCDown(t *testing.T) {
	stub := &umctest.UMC{Outage: func() int { return http.StatusServiceUnavailable }}
	f := newFixture(t, stub, config.Map{})
	for _, u := range names("u", 5) {
		f.advance(2 * time.Second)
		f.out.Flush(context.Background(), f.queueFiles(t, u))
	}
	if users, all := len(stub.UserCalls()), len(stub.Calls()); users != 5 || all-users != 2 {
		t.Errorf("5 users called one by one within 10 s of a down UMC: %d user calls and %d probe calls, want 5 and one probe's 2", users, all-users)
	}
}
