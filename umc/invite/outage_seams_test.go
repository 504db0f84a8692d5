package invite

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/policy"
	"umc-invite/umc/record"
)

// queueCarried writes <user>.send holding the listener's line and a line
// carried over by an earlier run with u, and returns the record tail
// makes of the carried line.
func (f *fixture) queueCarried(t *testing.T, user string, u policy.User) record.Record {
	t.Helper()
	first := fmt.Sprintf("{\"username\": %q}", user)
	state, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	carried := fmt.Sprintf("{\"username\":%q,%s", user, state[1:])
	path := filepath.Join(f.queue, user+".send")
	if err := os.WriteFile(path, []byte(first+"\n"+carried+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
		"log": []byte(carried), "path": []byte(path), "offset": int64(len(first) + 1)})
}

// userCalls counts the calls for the given users.
func userCalls(stub *umctest.UMC, users []string) int {
	n := 0
	for _, u := range users {
		n += len(stub.CallsOf(u))
	}
	return n
}

// A mail relay that fails every mail is everyone's failure even when the
// only users queued are ones that failed on their own before (an address
// the relay rejected): a few calls find it out, and the rest wait one
// call a second; the queue's length does not set the load on UMC.
func TestAMailRelayFailingEveryoneIsAnOutageThoughTheQueuedUsersFailedAloneBefore(t *testing.T) {
	var relayDown atomic.Bool
	stub := &umctest.UMC{Fail: func(user string, _ int) int {
		if relayDown.Load() || strings.HasPrefix(user, "broken") {
			return http.StatusInternalServerError
		}
		return 0
	}}
	f := newFixture(t, stub, config.Map{"Concurrency": "1"})
	ctx := context.Background()
	broken := names("broken", 20)
	// Each broken user fails twice with others served around it: its
	// failures are its own.
	for round := range 2 {
		for i, u := range broken {
			f.flush(ctx, append(f.queueFiles(t, u), f.queueFiles(t, fmt.Sprintf("ok%d-%03d", round, i))...))
		}
	}
	if f.out.gate.failing() {
		t.Fatalf("users failing alone, with others served between, opened an outage\n%s", f.logs)
	}
	before := userCalls(stub, broken)
	relayDown.Store(true)
	recs := f.queueFiles(t, broken...)
	f.flush(ctx, recs)
	f.flush(ctx, recs)
	if calls := userCalls(stub, broken) - before; calls > 2*(policy.OutageRun+1) {
		t.Errorf("the relay fails every mail: %d calls for %d queued users in two tries of their chunk, want at most %d (a run of %d opens an outage, then one call a try)",
			calls, len(broken), 2*(policy.OutageRun+1), policy.OutageRun)
	}
}

// After a restart, users carried over as failing on their own meet a
// mail relay that fails everyone: a run of them opens the outage, the
// rest wait; not every one of them is called.
func TestUsersCarriedOverAsFailingAloneOpenAnOutageWhenTheRelayFailsEveryone(t *testing.T) {
	stub := &umctest.UMC{Fail: func(string, int) int { return http.StatusInternalServerError }}
	f := newFixture(t, stub, config.Map{"Concurrency": "1"})
	now := f.now()
	users := names("alone", 20)
	var recs []record.Record
	for _, u := range users {
		recs = append(recs, f.queueCarried(t, u, policy.User{
			FirstSeen: now.Add(-time.Hour), LastAnswer: "HTTP 500: Error sending token: 550 mailbox unavailable", LastStatus: 500,
			LastAt: now.Add(-10 * time.Minute), Pause: 5 * time.Minute, NextTry: now.Add(-5 * time.Minute), OwnFailure: true}))
	}
	f.advance(time.Second)
	f.out.Flush(context.Background(), recs)
	if calls := userCalls(stub, users); calls > policy.OutageRun+1 {
		t.Errorf("the relay fails every mail: %d of %d carried-over users called in one try, want at most %d\n%s",
			calls, len(users), policy.OutageRun+1, f.logs)
	}
}

// relayOutage queues users, fails every mail, and tries until every
// user has been called at least once in the outage that opens.
func relayOutage(t *testing.T, f *fixture, relayDown *atomic.Bool, users []string) []record.Record {
	t.Helper()
	relayDown.Store(true)
	recs := f.queueFiles(t, users...)
	calledEach := func() bool {
		for _, u := range users {
			if len(f.stub.CallsOf(u)) == 0 {
				return false
			}
		}
		return true
	}
	for range 40 {
		f.flush(context.Background(), recs)
		if calledEach() {
			break
		}
	}
	if !f.out.gate.failing() || !calledEach() {
		t.Fatalf("every mail failing: outage %t, every user called in it %t\n%s", f.out.gate.failing(), calledEach(), f.logs)
	}
	return recs
}

// theRelayComesBack: UMC serves a new user, and 45 s later every user
// that waited through the outage is invited, once.
func theRelayComesBack(t *testing.T, f *fixture, relayDown *atomic.Bool, users []string, recs []record.Record, what string) {
	t.Helper()
	ctx := context.Background()
	relayDown.Store(false)
	f.advance(2 * time.Second)
	f.out.Flush(ctx, f.queueFiles(t, "fresh"))
	if d := f.stub.Delivered(); d["fresh"] != 1 {
		t.Fatalf("the outage's one call after the relay came back was not served: %v\n%s", d, f.logs)
	}
	f.advance(45 * time.Second)
	f.out.Flush(ctx, recs)
	d := f.stub.Delivered()
	var waiting []string
	for _, u := range users {
		if d[u] != 1 {
			waiting = append(waiting, u)
		}
	}
	if len(waiting) > 0 {
		t.Errorf("%s: 45 s after the relay came back (and UMC served fresh), %d user(s) still not invited: %v; "+
			"they were taken as failing on their own and wait out their own pause\n%s", what, len(waiting), waiting, f.logs)
	}
}

// The probe never meets the mail relay: neither a user's own 503 (its
// limit) nor a refusal of an unknown user, answering the one call of an
// outage of the relay and weighed by the probe, says anything of the
// relay (only another user's success places a 500). The users failing
// after it are not taken as failing on their own, and are invited as soon
// as the relay is back.
func TestAWeighedAnswerInAMailRelayOutageMakesNoOtherUsersFailureTheirOwn(t *testing.T) {
	for _, odd := range []string{"flaky", "nobody"} {
		t.Run(odd, func(t *testing.T) {
			var relayDown atomic.Bool
			stub := &umctest.UMC{
				Refused: func(user string) bool { return user == "nobody" },
				Fail: func(user string, _ int) int {
					switch {
					case user == "flaky":
						return http.StatusServiceUnavailable // its own limit
					case relayDown.Load():
						return http.StatusInternalServerError
					}
					return 0
				}}
			f := newFixture(t, stub, config.Map{"Concurrency": "1", "Backoff_Min": "1m", "Chunk_Retry_Limit": "100"})
			ctx := context.Background()
			users := names("u", 10)
			recs := relayOutage(t, f, &relayDown, users)
			f.advance(2 * time.Second)
			f.out.Flush(ctx, f.queueFiles(t, odd))
			f.flush(ctx, recs) // the relay still fails everyone
			theRelayComesBack(t, f, &relayDown, users, recs, "after "+odd+"'s answer weighed in the relay's outage")
		})
	}
}

// A probe that found UMC down says nothing once UMC has served a user
// since: a user's own 503 (UMC's limit for that user) after UMC came back
// is weighed by a probe asked after it, and the users behind it are
// called at once, not held to one call a second.
func TestAUsersOwn503AfterUMCCameBackIsNotWeighedByTheProbeFromWhenItWasDown(t *testing.T) {
	var down atomic.Bool
	stub := &umctest.UMC{
		Outage: func() int {
			if down.Load() {
				return http.StatusServiceUnavailable
			}
			return 0
		},
		Fail: func(user string, _ int) int {
			if user == "flaky" {
				return http.StatusServiceUnavailable // its own limit
			}
			return 0
		}}
	f := newFixture(t, stub, config.Map{"Concurrency": "1"})
	ctx := context.Background()
	down.Store(true)
	f.out.Flush(ctx, f.queueFiles(t, "first")) // UMC's 503; the probe finds it down too
	if !f.out.gate.failing() {
		t.Fatalf("UMC down opened no outage\n%s", f.logs)
	}
	down.Store(false)
	f.advance(2 * time.Second)
	f.out.Flush(ctx, f.queueFiles(t, "back")) // served: UMC works again
	if f.out.gate.failing() || stub.Delivered()["back"] != 1 {
		t.Fatalf("UMC served back, and the outage goes on\n%s", f.logs)
	}
	f.advance(2 * time.Second)
	f.out.Flush(ctx, f.queueFiles(t, "flaky")) // 503 for flaky alone
	users := names("ok", 10)
	f.out.Flush(ctx, f.queueFiles(t, users...))
	if err := stub.CheckOnce(len(users) + 1); err != nil {
		t.Errorf("after flaky's own 503, with UMC serving since its last probe found it down: %v; the users wait one call a second\n%s", err, f.logs)
	}
}

// UMC going down while the only users queued failed on their own before:
// its 503 is everyone's, whoever it answers; one call and one probe find
// it out, the rest wait, and later tries make one call each.
func TestUMCDownWhileOnlyUsersFailingAloneAreQueuedIsCalledOnceATry(t *testing.T) {
	var down atomic.Bool
	stub := brokenUsersAndADownSwitch(&down)
	f := newFixture(t, stub, config.Map{"Concurrency": "1"})
	ctx := context.Background()
	broken := names("broken", 20)
	for round := range 2 {
		for i, u := range broken {
			f.flush(ctx, append(f.queueFiles(t, u), f.queueFiles(t, fmt.Sprintf("ok%d-%03d", round, i))...))
		}
	}
	before, all := userCalls(stub, broken), len(stub.Calls())
	down.Store(true)
	recs := f.queueFiles(t, broken...)
	for range 3 {
		f.flush(ctx, recs)
	}
	users, probes := userCalls(stub, broken)-before, len(stub.Calls())-all-(userCalls(stub, broken)-before)
	if users > 3 || probes > 3*2 {
		t.Errorf("UMC down: %d user calls and %d probe calls in three tries of 20 users that failed alone before, want at most 3 and 6", users, probes)
	}
}

// An outage of any length ends with every waiting user invited within
// about 45 s of UMC coming back, also when the queue holds one user whose
// own pause has grown to Backoff_Max in the outage.
func TestALoneUserWaitingOutALongOutageIsInvitedWithin45sOfUMCComingBack(t *testing.T) {
	var down atomic.Bool
	stub := &umctest.UMC{Outage: func() int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return 0
	}}
	f := newFixture(t, stub, config.Map{"Chunk_Retry_Limit": "100"})
	ctx := context.Background()
	down.Store(true)
	alice := f.queueFiles(t, "alice")
	f.tick = time.Second // the probe after each call keeps the outage's pace
	for range 10 {       // ten calls ten minutes apart: her pause is Backoff_Max
		f.flush(ctx, alice)
	}
	f.tick = 0
	if n := len(stub.CallsOf("alice")); n < 5 {
		t.Fatalf("alice called %d times in 100 minutes of outage\n%s", n, f.logs)
	}
	down.Store(false)
	f.advance(time.Second)
	for range 5 { // Fluent Bit's tries of her chunk, up to scheduler.cap apart
		f.advance(10 * time.Second)
		f.out.Flush(ctx, alice)
	}
	if d := stub.Delivered(); d["alice"] != 1 {
		t.Errorf("UMC back for 51 s, alice (the only user waiting) not invited: she waits out her own pause of the outage\n%s", f.logs)
	}
}

// After a restart in an outage, UMC already back: a user carried over with
// the outage's mark is invited within about 45 s, though no other user
// comes to show that UMC works again.
func TestAUserCarriedOverInAnOutageIsInvitedWithin45sOfARestartWithUMCBack(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	now := f.now()
	rec := f.queueCarried(t, "alice", policy.User{FirstSeen: now.Add(-2 * time.Hour), LastAnswer: "HTTP 503: The self-service is currently not available.",
		LastStatus: 503, LastAt: now.Add(-time.Minute), Pause: 10 * time.Minute, NextTry: now.Add(9 * time.Minute), OutageSince: now.Add(-2 * time.Hour)})
	for range 5 {
		f.advance(10 * time.Second)
		f.out.Flush(context.Background(), []record.Record{rec})
	}
	if d := stub.Delivered(); d["alice"] != 1 {
		t.Errorf("50 s after a restart with UMC back, alice (carried over in the outage) not invited: she waits out her carried pause\n%s", f.logs)
	}
}

// Users failing on their own at the head of the queue hold nobody up, in
// an outage too: once UMC is back, its one call a second is not spent on
// them one after another while the users the outage held wait; those are
// invited within about 45 s.
func TestUsersFailingAloneAtTheHeadOfTheQueueDoNotKeepAnOutageGoing(t *testing.T) {
	var down atomic.Bool
	stub := brokenUsersAndADownSwitch(&down)
	f := newFixture(t, stub, config.Map{"Concurrency": "1", "Chunk_Retry_Limit": "100"})
	f.tick = time.Millisecond // answers in one flush come one after another, as in life
	ctx := context.Background()
	broken := names("broken", 10)
	for round := range 2 {
		for i, u := range broken {
			f.flush(ctx, append(f.queueFiles(t, u), f.queueFiles(t, fmt.Sprintf("ok%d-%03d", round, i))...))
		}
	}
	down.Store(true)
	waiting := names("held", 3)
	for _, u := range waiting { // each called in the outage, one a try
		f.flush(ctx, f.queueFiles(t, u))
	}
	if !f.out.gate.failing() {
		t.Fatalf("UMC down opened no outage\n%s", f.logs)
	}
	down.Store(false)
	before := userCalls(stub, broken)
	recs := append(f.queueFiles(t, broken...), f.queueFiles(t, waiting...)...)
	f.flush(ctx, recs)
	for range 4 {
		f.advance(10 * time.Second)
		f.out.Flush(ctx, recs)
	}
	d := stub.Delivered()
	for _, u := range waiting {
		if d[u] != 1 {
			t.Errorf("UMC back for 40 s, %s (held by the outage) not invited; the outage's calls since went to users failing alone: %d of them",
				u, userCalls(stub, broken)-before)
		}
	}
}

// A switched-off self-service is never a user's own: a user that failed
// before, refused while the administrator has switched the self-service
// off, is released like everyone when it is switched on again, not held
// to a pause of its own.
func TestAUserRefusedWhileTheSelfServiceIsSwitchedOffIsInvitedWhenItIsBack(t *testing.T) {
	stub := &umctest.UMC{Fail: failFirst(1, http.StatusInternalServerError, "bob")}
	f := newFixture(t, stub, config.Map{"Concurrency": "1", "Backoff_Min": "1m", "Chunk_Retry_Limit": "100"})
	ctx := context.Background()
	bob := f.queueFiles(t, "bob")
	f.flush(ctx, bob)                       // bob's first call fails
	f.flush(ctx, f.queueFiles(t, "before")) // UMC serves someone
	stub.SetDisabled(true)
	f.flush(ctx, bob) // refused: the self-service is off, the probe shows it
	if !f.out.gate.failing() {
		t.Fatalf("the self-service switched off opened no outage\n%s", f.logs)
	}
	stub.SetDisabled(false)
	f.advance(2 * time.Second)
	f.out.Flush(ctx, f.queueFiles(t, "after")) // served: the self-service is back
	for range 4 {
		f.advance(10 * time.Second)
		f.out.Flush(ctx, bob)
	}
	if d := stub.Delivered(); d["bob"] != 1 {
		t.Errorf("the self-service back for 40 s, bob (refused while it was off) not invited: taken as failing on his own\n%s", f.logs)
	}
}

// brokenUsersAndADownSwitch is a UMC failing the users named broken* on
// their own (500), and everyone with its 503 while down.
func brokenUsersAndADownSwitch(down *atomic.Bool) *umctest.UMC {
	return &umctest.UMC{
		Outage: func() int {
			if down.Load() {
				return http.StatusServiceUnavailable
			}
			return 0
		},
		Fail: func(user string, _ int) int {
			if strings.HasPrefix(user, "broken") {
				return http.StatusInternalServerError
			}
			return 0
		}}
}
