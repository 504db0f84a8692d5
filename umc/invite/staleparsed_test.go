package invite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/policy"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

// with tail's "Parser json" (docs/configuration.md: the Username_Key may be
// a record key) a record has no "log" line, so sameFile lets the path
// policy. keepAdded now puts a new file (the added lines) at the delivered
// file's path at once. When the delivered record's chunk comes back (a
// fixed tag: carol, in the same chunk, failed), alice's stale record
// takes that new file over: it claims it as alice's, finds bob's line in
// it and sets the file aside as a bad_input letter under alice's name. bob
// is never invited (docs/configuration.md promises the added lines "are sent in
// turn"), and a requeue of the letter would mail alice a second time.
func TestStaleParsedRecordDoesNotTakeOverTheKeptCopy(t *testing.T) {
	stub := &umctest.UMC{Fail: failFirst(1, 500, "carol")}
	f := newFixture(t, stub, config.Map{})
	parsed := func(user, path string) record.Record {
		return record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
			"username": []byte(user), "path": []byte(path), "offset": int64(0)})
	}
	alicePath := filepath.Join(f.queue, "alice.send")
	carolPath := filepath.Join(f.queue, "carol.send")
	for _, p := range []string{alicePath, carolPath} {
		user := filepath.Base(p[:len(p)-len(".send")])
		if err := os.WriteFile(p, []byte("{\"username\": \""+user+"\"}\n"), 0o664); err != nil {
			t.Fatal(err)
		}
	}
	stub.OnCall = func(c umctest.Call) {
		if c.Username == "alice" {
			appendLine(t, alicePath, `{"username": "bob"}`)
		}
	}
	chunk := []record.Record{parsed("alice", alicePath), parsed("carol", carolPath)}
	if v := f.flush(context.Background(), chunk); v != Retry {
		t.Fatalf("first try: verdict %v, want RETRY (carol failed once)", v)
	}
	if data, err := os.ReadFile(alicePath); err != nil || string(data) != "{\"username\": \"bob\"}\n" {
		t.Fatalf("after alice's 200 alice.send holds %q (%v), want bob's line alone", data, err)
	}
	// Fluent Bit hands the chunk back whole; tail meanwhile reads the
	// copy as a new file: bob's record, offset 0.
	f.flush(context.Background(), chunk)
	f.flush(context.Background(), []record.Record{parsed("bob", alicePath)})
	if got := stub.Delivered(); got["alice"] != 1 || got["bob"] != 1 {
		t.Errorf("delivered %v, want alice and bob once each", got)
	}
	if letters := f.deadLetters(t); len(letters) != 0 {
		t.Errorf("dead letters: %+v\nlogs:\n%s", letters, f.logs.String())
	}
}

// panicOn panics, once, when a log line holding trigger is written: an
// internal error at that point of the flush.
type panicOn struct {
	trigger string
	fired   bool
	w       *syncWriter
}

func (p *panicOn) Write(b []byte) (int, error) {
	if !p.fired && strings.Contains(string(b), p.trigger) {
		p.fired = true
		panic("injected: " + p.trigger)
	}
	return p.w.Write(b)
}

// sendOne recovers a panic in judge and says "record stays
// queued", and finish keeps a job open only if it is not done. But leave
// marks the job done first, then runs removeDelivered → keepAdded (Read,
// Replace, logging): a panic there leaves the file's ledger entry busy for
// good (busy entries never age out or get evicted). On ext4 the old inode
// is reused by the very next file created in the queue, whose records are
// then Busy on every try: never sent, never carried over.
func TestPanicAfterLeaveLeavesNoEntryBusy(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	rec := f.queueFile(t, "alice")
	path := filepath.Join(f.queue, "alice.send")
	old, err := f.out.queue.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f.out.log.out = &panicOn{trigger: "stay queued on their own", w: &syncWriter{w: f.logs}}
	stub.OnCall = func(c umctest.Call) {
		if c.Username == "alice" {
			appendLine(t, path, "bob")
		}
	}
	f.flush(context.Background(), []record.Record{rec})
	switch claimed, _ := f.out.ledger.Claim(&spool.Claims{}, old.Key(), 0, spool.Entry[policy.User]{}); claimed {
	case spool.Busy:
		t.Errorf("alice's old file's ledger entry (%s) is still busy after the flush returned", old.Key())
	case spool.Owned:
		f.out.ledger.Forget(old.Key()) // the probe's own claim
	}
	// The next file on that inode: carol's, written by the listener.
	carol := f.queueFile(t, "carol")
	if st, _ := f.out.queue.Stat(filepath.Join(f.queue, "carol.send")); st.Key() == old.Key() {
		for try := 0; try < 3; try++ {
			f.flush(context.Background(), []record.Record{carol})
		}
		if stub.Delivered()["carol"] != 1 {
			t.Errorf("carol's file reuses alice's old inode and is never sent: delivered %v\nlogs:\n%s", stub.Delivered(), f.logs.String())
		}
	}
}
