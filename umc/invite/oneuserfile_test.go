package invite

import (
	"context"
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
	"umc-invite/umc/spool"
)

// a queue file holding two lines for two different users
// (a producer or an operator appending, "echo bob >> batch.send"). The
// second line is taken for a carry-over of the first (same file, later
// offset): it waits as Busy while the first is sent, and once the first
// user's 200 removes the file it finds the file gone and leaves as
// "delivered before". bob gets no invitation, no dead letter, no log line.
func TestSecondUserInOneFileIsNotLostSilently(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	path := filepath.Join(f.queue, "batch.send")
	if err := os.WriteFile(path, []byte("alice\nbob\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := func(line string, off int64) record.Record {
		return record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
			"log": []byte(line), "path": []byte(path), "offset": off})
	}
	recs := []record.Record{rec("alice", 0), rec("bob", 6)}
	var v Verdict
	for try := 1; try <= 6; try++ {
		if v = f.flush(context.Background(), recs); v != Retry {
			break
		}
	}
	letters := f.deadLetters(t)
	t.Logf("verdict %v, delivered %v, letters %d, logs:\n%s", v, stub.Delivered(), len(letters), f.logs.String())
	if stub.Delivered()["bob"] == 0 && len(letters) == 0 {
		t.Fatalf("bob's record left the chunk (verdict %v) without an invitation and without a dead letter", v)
	}
	// Nobody in a file of two users is sent: alice's 200 would take bob's
	// line along. The file is set aside whole, with a reason naming both.
	if calls := len(stub.Calls()); calls != 0 {
		t.Errorf("%d call(s) for a queue file holding two users; want none", calls)
	}
	if len(letters) != 1 || letters[0].Kind != spool.KindBadInput ||
		!strings.Contains(letters[0].Reason, `"alice" and "bob"`) {
		t.Fatalf("want one bad_input dead letter naming alice and bob, got %+v", letters)
	}
	if _, err := os.Stat(filepath.Join(umctest.DeadLetterDir(f.queue), "batch.send")); err != nil {
		t.Errorf("the file with both lines is not among the dead letters: %v", err)
	}
}

// A line appended to a queue file while its user's call is in flight is
// not removed with the delivered file: it stays queued on its own, in a
// new file that tail reads from its head, and its user is invited in turn.
func TestLineAddedDuringTheCallStaysQueued(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	rec := f.queueFile(t, "alice")
	path := filepath.Join(f.queue, "alice.send")
	stub.OnCall = func(c umctest.Call) {
		if c.Username != "alice" {
			return
		}
		fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer fh.Close()
		fmt.Fprint(fh, "\nalice\nbob\n") // a blank line and alice again are dropped
	}
	if v := f.flush(context.Background(), []record.Record{rec}); v != OK {
		t.Fatalf("verdict %v, want OK (alice was invited)", v)
	}
	data, err := os.ReadFile(path)
	if err != nil || string(data) != "bob\n" {
		t.Fatalf("after alice's 200 the queue file holds %q (%v); want bob's line alone\nlogs:\n%s", data, err, f.logs.String())
	}
	// tail reads the new file from its head: bob's line at offset 0.
	bob := record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
		"log": []byte("bob"), "path": []byte(path), "offset": int64(0)})
	if v := f.flush(context.Background(), []record.Record{rec, bob}); v != OK {
		t.Fatalf("verdict %v for bob's record (with alice's stale one), want OK", v)
	}
	if got := stub.Delivered(); got["alice"] != 1 || got["bob"] != 1 || len(got) != 2 {
		t.Fatalf("delivered %v, want alice and bob once each", got)
	}
	if letters := f.deadLetters(t); len(letters) != 0 {
		t.Errorf("dead letters: %+v", letters)
	}
	if left := f.queued(t); len(left) != 0 {
		t.Errorf("queue still holds %v", left)
	}
}

// A file of one user's line and its carry-over lines is one user's; a
// line naming nobody or another user makes it nobody's to send.
func TestCarriedLinesAreTheSameUser(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	write := func(name, data string) record.Record {
		path := filepath.Join(f.queue, name)
		if err := os.WriteFile(path, []byte(data), 0o664); err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(data, "\n")
		return record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
			"log": []byte(first), "path": []byte(path), "offset": int64(0)})
	}
	carried := write("alice.send", "{\"username\": \"alice\"}\n"+string(record.CarryLine("username", "alice", policy.User{FirstSeen: time.Now()})))
	mixed := write("a.send", "alice\n!!\nbob\n")
	f.flush(context.Background(), []record.Record{carried, mixed})
	if got := stub.Delivered(); got["alice"] != 1 || len(got) != 1 {
		t.Errorf("delivered %v, want alice once (her file with a carried line)", got)
	}
	letters := f.deadLetters(t)
	if len(letters) != 1 || !strings.Contains(letters[0].Reason, `"alice" and line 2, which names no user, "bob"`) {
		t.Errorf("want one letter naming line 2 and bob beside alice, got %+v", letters)
	}
}

// UMC answers 200 (the token is stored, the mail handed
// on), with Content-Type application/json, but the connection breaks
// before the whole body arrives (a reset, an ingress cutting the stream).
// The read error is dropped, the cut body is "not UMC's JSON", the 200 is
// classified "UMC unavailable" and the record stays open: the next flush
// calls send_token again, a second mail whose link kills the first.
func TestA200WhoseBodyIsCutShortIsNotSentAgain(t *testing.T) {
	var calls atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		body := `{"status": 200, "message": null, "result": {"success": true}}`
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:20])
		buf.Flush()
	})
	f := newFixtureWith(t, h, config.Map{})
	recs := f.queueFiles(t, "alice")
	for try := 1; try <= 3; try++ {
		if v := f.flush(context.Background(), recs); v != Retry {
			break
		}
	}
	t.Logf("logs:\n%s", f.logs.String())
	if calls.Load() > 1 {
		t.Fatalf("UMC answered 200 to the first call, and send_token was called %d times for alice", calls.Load())
	}
	if left := f.queued(t); len(left) != 0 {
		t.Errorf("alice's 200 left her file queued: %v", left)
	}
}
