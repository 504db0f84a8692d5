package invite

import (
	"context"
	"fmt"
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
	"umc-invite/umc/spool"
)

// R1: a "400 for everyone" outage (self-service switched off) that ends
// between two calls of one flush: the innocent user refused during the
// outage is recorded as refused and moved to failed/ for good.
func TestOutageEndingMidFlushRefusesNoOne(t *testing.T) {
	var calls atomic.Int32
	stub := &umctest.UMC{Outage: func() int {
		if calls.Add(1) == 1 { // the outage ends after the first answer
			return 400
		}
		return 0
	}}
	f := newFixture(t, stub, config.Map{"Concurrency": "1"})
	recs := f.queueFiles(t, "alice", "bob")
	v := f.flush(context.Background(), recs)
	letters := f.deadLetters(t)
	t.Logf("verdict %v, letters %+v, queued %v", v, lettersByKind(letters), f.queued(t))
	if len(letters) != 0 {
		t.Fatalf("innocent user refused after an outage for everyone: %s (%s)", letters[0].Username, letters[0].Reason)
	}
}

// R3: a record of a file that left the queue (delivered), still in a chunk
// that is open for others, claims a NEW file re-queued at the same path.
// Its offset (a carried-over line) supersedes the new file's own record,
// which is dropped; the old chunk is then given up by Fluent Bit without a
// carry-over (its ledger tries started late): the new file is stranded.
func TestStaleRecordNeverTakesOverARequeuedFile(t *testing.T) {
	var down atomic.Bool
	stub := &umctest.UMC{
		Fail: func(u string, _ int) int {
			if u == "bob" {
				return 503 // bob keeps the old chunk open
			}
			return 0
		},
		Outage: func() int {
			if down.Load() {
				return 503
			}
			return 0
		},
	}
	f := newFixture(t, stub, config.Map{})
	f.tick = time.Second // the probes keep the outage's pace
	path := filepath.Join(f.queue, "alice.send")
	orig := "{\"username\": \"alice\"}\n"
	carry := string(record.CarryLine("username", "alice", policy.User{FirstSeen: time.Now()}))
	os.WriteFile(path, []byte(orig+carry), 0o644)
	mk := func(line string, off int64) record.Record {
		return record.New("umc_invite", time.Now(), map[any]any{"log": []byte(strings.TrimSuffix(line, "\n")), "path": []byte(path), "offset": off})
	}
	// C1: alice's carried-over line and bob: alice delivered, bob open.
	c1 := []record.Record{mk(carry, int64(len(orig))), f.queueFile(t, "bob")}
	tries := 0
	flush := func(c []record.Record) Verdict { return f.flush(context.Background(), c) }
	if v := flush(c1); v != Retry {
		t.Fatalf("C1 try 1: %v", v)
	}
	tries++
	if _, err := os.Stat(path); err == nil {
		t.Fatal("alice not delivered")
	}
	// alice is re-queued (user re-created, or a re-queue script) and an
	// outage starts: tail reads the new file into C2.
	os.WriteFile(path, []byte(orig), 0o644)
	c2 := []record.Record{mk(orig, 0)}
	down.Store(true)
	// C1's tries 2..6 and C2's tries interleave, as Fluent Bit would.
	c2tries := 0
	for tries < 6 {
		flush(c1)
		tries++
		if c2 != nil {
			if v := flush(c2); v != Retry || c2tries == 5 {
				c2 = nil // done, or given up after its last try
			}
			c2tries++
		}
	}
	// UMC is back: C2 (or the line it carried over) gets alice invited.
	down.Store(false)
	for c2 != nil && c2tries < 6 {
		if v := flush(c2); v != Retry {
			c2 = nil
		}
		c2tries++
	}
	data, _ := os.ReadFile(path)
	if n := stub.Delivered()["alice"]; n != 2 {
		lines := strings.Count(string(data), "\n")
		if n != 1 || lines < 2 {
			t.Fatalf("re-queued alice: %d invitations in all, alice.send holds %q: never invited again", n, data)
		}
		// Carried over into a new line: tail reads it as a new record.
		carried := record.New("umc_invite", time.Now(), map[any]any{"log": []byte(strings.TrimSuffix(string(data[len(orig):]), "\n")), "path": []byte(path), "offset": int64(len(orig))})
		f.flush(context.Background(), []record.Record{carried})
	}
	if n := stub.Delivered()["alice"]; n != 2 {
		t.Fatalf("alice got %d invitations, want 2 (the first file, then the re-queued one)", n)
	}
}

// R4: the dead letter is appended, but the queue file cannot be moved:
// every retry appends the same dead letter again.
func TestDeadLetterLineWrittenOnce(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	rec := record.New("umc_invite", time.Now(), map[any]any{"log": []byte("bad user"), "path": []byte(filepath.Join(f.queue, "bad.send")), "offset": int64(0)})
	os.WriteFile(filepath.Join(f.queue, "bad.send"), []byte("bad user\n"), 0o644)
	// make the move fail: the target name is a non-empty directory
	os.MkdirAll(filepath.Join(f.queue, "failed", "bad.send", "x"), 0o755)
	for range 3 {
		f.flush(context.Background(), []record.Record{rec})
	}
	if l := f.deadLetters(t); len(l) != 1 {
		t.Fatalf("%d dead-letter lines for one record", len(l))
	}
	_ = spool.KindBadInput
	_ = fmt.Sprint
}

// R5: a failure proven at the end of its flush (finish) is charged twice.
func TestFailureProvenAtFlushEndChargedOnce(t *testing.T) {
	stub := &umctest.UMC{Fail: func(u string, _ int) int {
		if u == "bounce" {
			return 500
		}
		return 0
	}}
	f := newFixture(t, stub, config.Map{"Concurrency": "1"})
	n := 0
	for round := 0; round < 6; round++ {
		// bounce first, then a healthy user in the same chunk: UMC serves
		// another user after bounce's failure, in the same flush.
		os.WriteFile(filepath.Join(f.queue, "bounce.send"), []byte("{\"username\": \"bounce\"}\n"), 0o644)
		recs := []record.Record{
			record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{"log": []byte(`{"username": "bounce"}`), "path": []byte(filepath.Join(f.queue, "bounce.send")), "offset": int64(0)}),
		}
		for i := range 5 {
			recs = append(recs, f.queueFile(t, fmt.Sprintf("s%d-%d", round, i)))
		}
		f.flush(context.Background(), recs)
		n = stub.Attempts()["bounce"]
		if len(f.deadLetters(t)) > 0 {
			break
		}
	}
	t.Logf("log:\n%s", grepLines(f.logs.String(), "bounce"))
	if n != 6 {
		t.Fatalf("dead letter after %d calls of its own, want Max_Attempts 6", n)
	}
}

func grepLines(s, w string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, w) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// R6: two truly refused users (say two new Domain Admins) on a quiet
// system: neither is ever proven, both are retried forever.
func TestTwoRefusedUsersOnAQuietSystemEnd(t *testing.T) {
	stub := &umctest.UMC{Refused: func(u string) bool { return strings.HasPrefix(u, "admin") }}
	f := newFixture(t, stub, config.Map{})
	f.enqueue(t, "admin1", "admin2")
	fb := newFluentBit(f)
	for range 60 {
		fb.round(t)
	}
	t.Logf("calls %v, given up %d, letters %d, pending chunks %d", stub.Attempts(), fb.givenUp, len(f.deadLetters(t)), len(fb.chunks))
	if len(f.deadLetters(t)) != 2 {
		t.Fatalf("two refused users still open after 60 flushes")
	}
}

// R6b: a bulk import of 100 users in which the two refused users are the
// last calls of the flush: nothing served starts after their refusals, and
// from then on they only ever fail together: retried until other traffic
// comes, each chunk given up and carried over every ~minute.
func TestRefusedUsersAtABulksTailEnd(t *testing.T) {
	stub := &umctest.UMC{Refused: func(u string) bool { return strings.HasPrefix(u, "zzz") }}
	f := newFixture(t, stub, config.Map{})
	f.enqueue(t, append(names("user", 100), "zzz1", "zzz2")...)
	fb := newFluentBit(f)
	for range 60 {
		fb.round(t)
	}
	t.Logf("calls zzz1=%d zzz2=%d, chunks given up %d, letters %v", stub.Attempts()["zzz1"], stub.Attempts()["zzz2"], fb.givenUp, lettersByKind(f.deadLetters(t)))
	if len(f.deadLetters(t)) != 2 {
		t.Fatal("refused users still open after 60 flushes")
	}
}
