package invite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
	"umc-invite/umc/record"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
)

// TestADeliveredFileLeftInPlaceIsNotSentAgainAfterARestart: a delivered
// queue file whose removal failed (a sticky directory, a read-only
// remount) is remembered as "delivered" only in memory. A restart of Fluent
// Bit (a rollout, not a crash in the in-flight window) loses that: tail
// reads the file again and the user gets a second send_token, which kills
// the link in the first mail. Expected: one call for bob, however often
// the plugin restarts while the file cannot be removed.
func TestADeliveredFileLeftInPlaceIsNotSentAgainAfterARestart(t *testing.T) {
	f, recs, path := bobDeliveredImmutable(t)
	f.flush(context.Background(), recs)
	if a := f.stub.Attempts(); a["bob"] != 1 {
		t.Fatalf("calls %v before the restart", a)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the immutable file went: %v", err)
	}
	// Fluent Bit restarts (SIGTERM, a rollout): a new output on the same
	// queue; tail (no DB, or the DB's offset before the record) reads bob's
	// file again and hands the same record over.
	f.restart(t)
	f.flush(context.Background(), recs)
	if a := f.stub.Attempts(); a["bob"] != 1 {
		t.Fatalf("bob called %d times: a delivered file left in place is invited again after a restart\n%s", a["bob"], f.logs)
	}
}

// TestOneUsersOwnFailureWaitsItsOwnPauseWhileOthersAreServed: one user
// whose address the mail relay rejects (UMC's 500 "Error sending token",
// for this user only) while new users keep being created and invited
// (one every 30 s). Each of that user's 500s opens an "outage" in the
// gate, and the next new user's 200 "ends" it and releases everyone
// waiting: the failing user is called again on every other user's success,
// not on its own growing pause (Backoff_Min 5 s doubling to Backoff_Max
// 10 m, shortened by at most half: at most 8 calls in 10 minutes).
// Issue 21 item 2: a pause of its own that grows between its calls.
func TestOneUsersOwnFailureWaitsItsOwnPauseWhileOthersAreServed(t *testing.T) {
	stub := &umctest.UMC{Fail: func(user string, n int) int {
		if user == "badaddr" {
			return 500
		}
		return 200
	}}
	f := newFixture(t, stub, config.Map{"Chunk_Retry_Limit": "100"})
	bad := f.queueFile(t, "badaddr")
	for i := 0; i <= 20; i++ { // 10 minutes, a new user every 30 s
		// Each new user is its own chunk; Fluent Bit retries the failing
		// user's chunk a moment later.
		f.out.Flush(context.Background(), []record.Record{f.queueFile(t, fmt.Sprintf("new%02d", i))})
		f.advance(time.Second)
		f.out.Flush(context.Background(), []record.Record{bad})
		f.advance(29 * time.Second)
	}
	calls := len(stub.CallsOf("badaddr"))
	t.Logf("calls %d attempts %v", calls, stub.Attempts())
	if calls > 8 {
		t.Fatalf("badaddr called %d times in 10 minutes, want at most 8 (its own pause from 5 s doubling to 10 m): "+
			"another user's 200 after its own 500 releases it as if an outage ended", calls)
	}
}

// TestADeadLetterDirThatIsAnotherOutputsQueueIsRefusedAtStart: a DaemonSet serves
// several tenants, one [OUTPUT] each, in one Fluent Bit. Tenant A's
// Dead_Letter_Dir is tenant B's Queue_Dir (a typo, a shared volume): both
// outputs start, and every file A sets aside (refused, expired, bad input)
// lands in B's queue, where B's tail reads it and B sends A's user to B's
// UMC. Issue 20: nothing a tenant's queue holds reaches another tenant;
// overlapping directories are refused at start, with both names. The
// per-process check compares queue directories only (claimQueue).
// Expected: the second output refuses to start.
func TestADeadLetterDirThatIsAnotherOutputsQueueIsRefusedAtStart(t *testing.T) {
	shared := t.TempDir() // tenant B's queue
	umcA := &umctest.UMC{Fail: func(string, int) int { return 500 }}
	a := newFixture(t, umcA, config.Map{"Dead_Letter_Dir": shared, "Max_Age": "1h"})
	umcB := &umctest.UMC{}
	keys := config.Map{"UMC_URL": umctest.NewServer(t, umcB), "Queue_Dir": shared}
	cfg, err := config.Load(keys)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg, NewLogger(&syncWriter{w: a.logs}, "tenant-b"), a.claims)
	if err == nil {
		defer b.Close()
		// Tenant A's alice fails for Max_Age and expires: her file is set
		// aside into A's Dead_Letter_Dir, B's queue; B's tail reads it.
		a.flush(context.Background(), a.queueFiles(t, "alice"))
		a.advance(2 * time.Hour)
		a.flush(context.Background(), []record.Record{record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
			"log": []byte(`{"username": "alice"}`), "path": []byte(filepath.Join(a.queue, "alice.send")), "offset": int64(0)})})
		moved := filepath.Join(shared, "alice.send")
		if _, err := os.Stat(moved); err == nil {
			b.Flush(context.Background(), []record.Record{record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
				"log": []byte(`{"username": "alice"}`), "path": []byte(moved), "offset": int64(0)})})
		}
		t.Fatalf("tenant B's output started on %s, which is tenant A's Dead_Letter_Dir: A's dead letters become B's queue; "+
			"tenant B's UMC got calls %v for tenant A's user\n%s", shared, umcB.Attempts(), a.logs)
	}
}

// TestADeliveredFileLeftInPlaceHoldsNoWindowPlaceAfterARestart: the shipped config's
// side of the same lost state. With tail's DB a restarted Fluent Bit does
// not hand the delivered, unremovable file to the plugin again, so nothing
// ever retries its removal, and the new output's window counts it as a
// waiting queue file again: issue 20 item 4, "does not hold a place in the
// window for ever". With Queue_Window 1, the intake stops admitting anyone.
func TestADeliveredFileLeftInPlaceHoldsNoWindowPlaceAfterARestart(t *testing.T) {
	f, recs, _ := bobDeliveredImmutable(t)
	f.flush(context.Background(), recs)
	if q, _, err := f.out.window.Count(); err != nil || q != 0 {
		t.Fatalf("before the restart the window counts %d (%v)", q, err)
	}
	// tail (DB) reads nothing of bob.send again; other users' chunks flush.
	f.restart(t)
	f.flush(context.Background(), f.queueFiles(t, "carol"))
	f.advance(time.Minute)
	f.flush(context.Background(), f.queueFiles(t, "dave"))
	if q, _, err := f.out.window.Count(); err != nil || q != 0 {
		t.Fatalf("after a restart the window counts %d queue file(s) (%v): the delivered bob.send, never retried, holds a place again\n%s", q, err, f.logs)
	}
}
