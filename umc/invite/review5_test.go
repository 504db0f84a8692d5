package invite

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/queue"
	"umc-invite/umc/record"
)

// appendLine appends one line to path as a producer or an operator would
// ("echo bob >> alice.send").
func appendLine(t *testing.T, path, line string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Error(err)
		return
	}
	defer fh.Close()
	fmt.Fprintln(fh, line)
}

// bobAccountedFor reports whether bob's line went anywhere the promises
// allow: invited, still queued on disk, or in a dead letter that names him
// (by username, in its reason, or in the set-aside file).
func bobAccountedFor(t *testing.T, f *fixture, stub *umctest.UMC) bool {
	t.Helper()
	if stub.Delivered()["bob"] > 0 {
		return true
	}
	names, _ := filepath.Glob(filepath.Join(f.queue, "*.send"))
	for _, n := range names {
		if data, _ := os.ReadFile(n); strings.Contains(string(data), "bob") {
			return true
		}
	}
	for _, l := range f.deadLetters(t) {
		if l.Username == "bob" || strings.Contains(l.Reason, `"bob"`) {
			return true
		}
	}
	kept, _ := filepath.Glob(filepath.Join(umctest.DeadLetterDir(f.queue), "*.send"))
	for _, n := range kept {
		if data, _ := os.ReadFile(n); strings.Contains(string(data), "bob") {
			return true
		}
	}
	return false
}

// Review #5, D1: the carry-over copy (Carry's replaceWith) no longer
// checks that the file is still as big as when the flush looked at it
// (the check "ErrGrown" was dropped with the copy's old content). A line
// appended to a queue file of 4 KiB while its user's last-try call is in
// flight ("echo bob >> alice.send" during an outage) is destroyed by the
// compaction's rename: bob is not invited, not queued, and no dead letter
// names him. The append carry-over of a small file keeps such a line (and
// the next record makes the file a bad_input letter naming both), as the
// README promises for lines appended during a call.
func TestCompactionKeepsALineAppendedDuringTheLastTry(t *testing.T) {
	stub := &umctest.UMC{Outage: func() int { return http.StatusServiceUnavailable }}
	f := newFixture(t, stub, config.Map{})
	path := filepath.Join(f.queue, "alice.send")
	// alice's line and her carried-over lines, just under CompactAt.
	content := "{\"username\": \"alice\"}\n"
	carry := string(record.CarryLine("username", "alice", 0, ""))
	for len(content)+2*len(carry) <= queue.CompactAt {
		content += carry
	}
	if err := os.WriteFile(path, []byte(content), 0o664); err != nil {
		t.Fatal(err)
	}
	offset := len(content)
	content += carry
	if err := os.WriteFile(path, []byte(content), 0o664); err != nil {
		t.Fatal(err)
	}
	rec := record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
		"log": []byte(strings.TrimSuffix(carry, "\n")), "path": []byte(path), "offset": int64(offset)})
	calls := 0
	stub.OnCall = func(umctest.Call) {
		calls++
		if calls == 6 { // the chunk's last try
			appendLine(t, path, "bob")
		}
	}
	for try := 1; try <= 6; try++ {
		if v := f.out.Flush(context.Background(), []record.Record{rec}); v != Retry {
			t.Fatalf("try %d: verdict %v during an outage", try, v)
		}
	}
	if calls != 6 {
		t.Fatalf("%d calls, want 6 (the test proves nothing)", calls)
	}
	data, _ := os.ReadFile(path)
	if !bobAccountedFor(t, f, stub) {
		t.Fatalf("bob's line, appended during alice's last-try call, is gone: not invited, not queued, no dead letter names him\n"+
			"alice.send now: %q\nlogs:\n%s", data, f.logs.String())
	}
}

// Review #5, D2: a delivered file that grew during its call and could not
// be set aside stays Delivered with the letter pending; the Done path in
// prepare retries the set-aside for the appended line's record and answers
// Retry while it fails. But it never carries that record over on its
// chunk's last try: Fluent Bit drops the chunk, tail never reads the file
// again (its DB offset is past bob's line), and after the next restart the
// ledger has forgotten the pending letter too. bob's line sits in the
// queue for ever: never sent, never a dead letter. Every other record
// still open on its chunk's last try is carried over into a new record.
func TestPendingSetAsideSurvivesItsChunksLastTry(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	rec := f.queueFile(t, "alice")
	path := filepath.Join(f.queue, "alice.send")
	blocker := filepath.Join(umctest.DeadLetterDir(f.queue), "alice.send")
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	stub.OnCall = func(c umctest.Call) {
		if c.Username == "alice" {
			appendLine(t, path, "bob")
		}
	}
	f.out.Flush(context.Background(), []record.Record{rec})
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the grown file left the queue: %v", err)
	}
	bob := record.New("umc_invite", time.Unix(1700000001, 0), map[any]any{
		"log": []byte("bob"), "path": []byte(path), "offset": int64(len("{\"username\": \"alice\"}\n"))})
	// bob's chunk: its first try and Retry_Limit 5 retries, the
	// obstruction still there (a full disk, say).
	var v Verdict
	for try := 1; try <= 6; try++ {
		if v = f.out.Flush(context.Background(), []record.Record{bob}); v != Retry {
			break
		}
	}
	if v != Retry {
		return // settled one way or another; the other tests judge how
	}
	// Fluent Bit drops the chunk now. Only a new record of the file (a
	// carried line) or the file leaving the queue can still move bob.
	after, err := os.ReadFile(path)
	if err == nil && len(after) == len(before) {
		t.Fatalf("bob's record was still open on its chunk's last try and nothing carried it over: "+
			"Fluent Bit drops the chunk, tail never reads %s again, and bob is neither sent nor a dead letter\nlogs:\n%s", path, f.logs.String())
	}
}
