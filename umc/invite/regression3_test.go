package invite

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/record"
)

// Review #3, D2: a queue file holding two lines for two different users
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
		if v = f.out.Flush(context.Background(), recs); v != Retry {
			break
		}
	}
	letters := f.deadLetters(t)
	t.Logf("verdict %v, delivered %v, letters %d, logs:\n%s", v, stub.Delivered(), len(letters), f.logs.String())
	if stub.Delivered()["bob"] == 0 && len(letters) == 0 {
		t.Fatalf("bob's record left the chunk (verdict %v) without an invitation and without a dead letter", v)
	}
}

// Review #3, D3: UMC answers 200 (the token is stored, the mail handed
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
	dir := t.TempDir()
	cfg, err := config.Load(config.Map{"UMC_URL": umctest.NewServer(t, h), "Queue_Dir": dir})
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	out, err := New(cfg, NewLogger(&syncWriter{w: logs}, "test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Close)
	f := &fixture{out: out, queue: dir, logs: logs}
	recs := f.queueFiles(t, "alice")
	for try := 1; try <= 3; try++ {
		if v := out.Flush(context.Background(), recs); v != Retry {
			break
		}
	}
	t.Logf("logs:\n%s", logs.String())
	if calls.Load() > 1 {
		t.Fatalf("UMC answered 200 to the first call, and send_token was called %d times for alice", calls.Load())
	}
}
