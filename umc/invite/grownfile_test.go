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

// a delivered file that grew during its call is to be set
// aside; when that move fails (here: the dead-letter name is taken by a
// directory; a full disk or an unwritable dead-letter directory do the
// same), the file "stays in the queue" as promised, but its ledger entry
// says Delivered. The next record of that file, the appended line itself,
// is then taken as "done" and the file, with the other user's line, is
// removed: that user gets no invitation and no dead letter.
func TestGrownFileWhoseSetAsideFailedIsNotRemovedByItsNextRecord(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	rec := f.queueFile(t, "alice")
	path := filepath.Join(f.queue, "alice.send")
	// The set-aside cannot move the file: its name among the dead letters
	// is taken by a non-empty directory.
	blocker := filepath.Join(umctest.DeadLetterDir(f.queue), "alice.send")
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
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
		fmt.Fprintln(fh, "bob")
	}
	f.flush(context.Background(), []record.Record{rec})
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the grown file left the queue although it could not be set aside: %v", err)
	}
	// The operator clears the obstruction; tail reads bob's line.
	if err := os.RemoveAll(blocker); err != nil {
		t.Fatal(err)
	}
	bob := record.New("umc_invite", time.Unix(1700000001, 0), map[any]any{
		"log": []byte("bob"), "path": []byte(path), "offset": int64(len("{\"username\": \"alice\"}\n"))})
	v := f.flush(context.Background(), []record.Record{bob})

	_, inQueue := os.Stat(path)
	kept, _ := os.ReadFile(filepath.Join(umctest.DeadLetterDir(f.queue), "alice.send"))
	if stub.Delivered()["bob"] == 0 && inQueue != nil && !strings.Contains(string(kept), "bob") {
		t.Fatalf("bob's line was removed with the file (verdict %v): not invited, not in the queue, not among the dead letters\nlogs:\n%s", v, f.logs.String())
	}
}

// a carry-over by copy (the file was not writable) puts the
// old line and the carried one into one new file, which tail reads from
// its head into one chunk. After a restart (the chunk replayed from
// storage, the ledger empty) the old line at offset 0 is claimed first and
// the carried line is "Busy" behind it: what the carried line says (a
// refusal decided, failures charged) is ignored, and the user is called
// again. An append carry-over never puts both lines into one chunk.
func TestCopyCarriedLineIsHonouredAfterARestart(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	first := "{\"username\": \"alice\"}\n"
	carried := record.CarryLine("username", "alice", policy.User{FirstSeen: time.Now(), Letter: "refused", Reason: "refused by UMC (its own): HTTP 400: no address"})
	path := filepath.Join(f.queue, "alice.send")
	if err := os.WriteFile(path, append([]byte(first), carried...), 0o664); err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 0)
	recs := []record.Record{
		record.New("umc_invite", ts, map[any]any{"log": []byte(strings.TrimSuffix(first, "\n")), "path": []byte(path), "offset": int64(0)}),
		record.New("umc_invite", ts, map[any]any{"log": []byte(strings.TrimSuffix(string(carried), "\n")), "path": []byte(path), "offset": int64(len(first))}),
	}
	for try := 0; try < 3; try++ {
		if v := f.flush(context.Background(), recs); v != Retry {
			break
		}
	}
	if n := len(stub.Calls()); n != 0 {
		t.Fatalf("send_token called %d time(s) for alice, whose carried-over line holds UMC's refusal\nlogs:\n%s", n, f.logs.String())
	}
}

// the one-user check runs only for a record whose own line
// names a user. A file whose first line is bad input and whose second
// names bob ("echo bob >> x.send" onto a broken file) goes to the dead
// letters for the first line's reason alone; bob's record then finds the
// file gone and leaves silently: no invitation, no letter naming him.
func TestSecondUserBehindABadLineIsNamed(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	path := filepath.Join(f.queue, "x.send")
	if err := os.WriteFile(path, []byte("!!\nbob\n"), 0o664); err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 0)
	recs := []record.Record{
		record.New("umc_invite", ts, map[any]any{"log": []byte("!!"), "path": []byte(path), "offset": int64(0)}),
		record.New("umc_invite", ts, map[any]any{"log": []byte("bob"), "path": []byte(path), "offset": int64(3)}),
	}
	v := f.flush(context.Background(), recs)
	if stub.Delivered()["bob"] > 0 {
		return
	}
	for _, l := range f.deadLetters(t) {
		if l.Username == "bob" || strings.Contains(l.Reason, `"bob"`) {
			return
		}
	}
	t.Fatalf("bob's record left (verdict %v) without an invitation and without a dead letter naming him: %+v", v, f.deadLetters(t))
}

// the fix for a 200 whose JSON body breaks off rests on the
// read error. A 200 whose body is delimited by the connection's close (no
// Content-Length, not chunked: an HTTP/1.0-style proxy or ingress) and is
// cut short reads to a clean EOF: no error, the cut JSON is "not UMC's",
// the 200 is "UMC unavailable", and alice is sent again.
func TestA200CutShortWithoutContentLengthIsNotSentAgain(t *testing.T) {
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
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n%s", body[:20])
		buf.Flush()
	})
	f := newFixtureWith(t, h, config.Map{})
	recs := f.queueFiles(t, "alice")
	for try := 1; try <= 3; try++ {
		if v := f.flush(context.Background(), recs); v != Retry {
			break
		}
	}
	if calls.Load() > 1 {
		t.Fatalf("UMC answered 200 (JSON, cut short) to the first call, and send_token was called %d times for alice\nlogs:\n%s", calls.Load(), f.logs.String())
	}
}

// every carry-over adds a line to the queue file, and the
// one-user check refuses a file over spool.MaxFileSize (64 KiB) as bad
// input. An outage carries a waiting user over about once a minute: after
// some 2000 carry-overs (a long weekend) the user's own file would be "no
// one user's" and a bad_input dead letter, although UMC never answered
// anything but "unavailable". Carried over 200 times here, as tail would
// hand each carried line back, the file stays small and alice queued.
func TestLongOutageDoesNotMakeADeadLetter(t *testing.T) {
	stub := &umctest.UMC{Outage: func() int { return http.StatusServiceUnavailable }}
	f := newFixture(t, stub, config.Map{"Max_Age": "1000h"}) // 200 carry-overs of 6 tries 10 minutes apart
	f.tick = time.Second                                     // the probe after each try keeps the outage's pace
	rec := f.queueFile(t, "alice")
	path := filepath.Join(f.queue, "alice.send")
	biggest := 0
	for carry := 0; carry < 200; carry++ {
		for try := 0; try < 6; try++ {
			// On the chunk's last try alice is carried over into a new
			// record: this chunk is done with (OK), the new one waits.
			want := Retry
			if try == 5 {
				want = OK
			}
			if v := f.flush(context.Background(), []record.Record{rec}); v != want {
				t.Fatalf("carry-over %d, try %d: verdict %v during an outage\nlogs:\n%s", carry, try, v, f.logs.String())
			}
		}
		// tail reads the carried line as a new record: the file's last
		// line, at its offset in the file now at the path.
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("carry-over %d: %v", carry, err)
		}
		biggest = max(biggest, len(data))
		line := strings.TrimSuffix(string(data), "\n")
		offset := strings.LastIndex(line, "\n") + 1
		rec = record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
			"log": []byte(line[offset:]), "path": []byte(path), "offset": int64(offset)})
	}
	if letters := f.deadLetters(t); len(letters) != 0 {
		t.Fatalf("UMC was only ever unavailable, and alice became a dead letter: %s", letters[0].Reason)
	}
	if biggest > spool.CompactAt+100 {
		t.Errorf("the queue file grew to %d bytes over 200 carry-overs; want at most about %d", biggest, spool.CompactAt)
	}
	if got := f.queued(t); len(got) != 1 {
		t.Errorf("queued %v, want alice", got)
	}
}
