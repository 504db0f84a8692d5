package invite

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/policy"
	"umc-invite/umc/record"
)

// unreadable runs fn on a thread whose file-system user is nobody: the
// queue files (root's, 0600) cannot be opened there, as for a Fluent Bit
// that runs as another user than the writer of a file, while the rest of
// the process (the call handlers' threads) is unchanged.
func unreadable(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs to change the thread's file-system user")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = unix.Setfsuid(65534)
	defer unix.Setfsuid(0)
	fn()
}

// Defect 3: a queue file unreadable for a moment on the chunk's last try
// is carried over, not lost with the chunk Fluent Bit gives up.
func TestAFileUnreadableOnTheLastTryIsCarriedOver(t *testing.T) {
	f := newFixture(t, &umctest.UMC{Fail: func(string, int) int { return 500 }}, config.Map{"Chunk_Retry_Limit": "1"})
	if err := os.Chmod(f.queue, 0o755); err != nil {
		t.Fatal(err)
	}
	rec := f.queueFile(t, "alice")
	path := filepath.Join(f.queue, "alice.send")
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	var verdicts []Verdict
	unreadable(t, func() {
		for range 2 { // the first try and the last
			verdicts = append(verdicts, f.flush(context.Background(), []record.Record{rec}))
		}
	})
	if verdicts[0] != Retry || verdicts[1] != OK {
		t.Fatalf("verdicts %v, want RETRY on the first try and OK once carried over", verdicts)
	}
	data, _ := os.ReadFile(path)
	if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) != 2 || !strings.Contains(lines[1], `"first_seen"`) {
		t.Fatalf("alice was not carried over into a new line of her file:\n%s\n%s", data, f.logs)
	}
}

// Defect 4: a chunk holding two lines of one file (a renewed copy, a
// restart without tail's DB) is one user's: the second line is not "busy"
// on every try, and the chunk ends OK once the user is served.
func TestTwoLinesOfOneFileInOneChunkEndWithTheFile(t *testing.T) {
	f := newFixture(t, &umctest.UMC{Fail: failFirst(1, 503, "alice")}, config.Map{"Chunk_Retry_Limit": "2"})
	path := filepath.Join(f.queue, "alice.send")
	first, second := `{"username": "alice"}`, string(record.CarryLine("username", "alice", policy.User{}))
	if err := os.WriteFile(path, []byte(first+"\n"+second), 0o644); err != nil {
		t.Fatal(err)
	}
	chunk := []record.Record{
		record.New("umc_invite", time.Unix(1, 0), map[any]any{"log": []byte(first), "path": []byte(path), "offset": int64(0)}),
		record.New("umc_invite", time.Unix(1, 0), map[any]any{"log": []byte(strings.TrimSuffix(second, "\n")), "path": []byte(path), "offset": int64(len(first) + 1)}),
	}
	var verdicts []Verdict
	for range 3 {
		v := f.flush(context.Background(), chunk)
		verdicts = append(verdicts, v)
		if v != Retry {
			break
		}
	}
	if verdicts[len(verdicts)-1] != OK {
		t.Fatalf("verdicts %v: the chunk was never answered OK", verdicts)
	}
	if err := f.stub.CheckOnce(1); err != nil {
		t.Fatal(err)
	}
	if len(f.queued(t)) != 0 {
		t.Fatalf("still queued: %v", f.queued(t))
	}
}

// Defect 5: whoever can write to the queue cannot turn Fluent Bit's health
// red: garbage becomes a dead letter, and the chunk is answered OK.
func TestGarbageInTheQueueNeverAnswersError(t *testing.T) {
	f := newFixture(t, &umctest.UMC{}, config.Map{})
	for i, junk := range []string{"\x00\x01\x02", "{\"username\": ", strings.Repeat("x", 300), "a b c", "{}", "[1,2]", "\"\"", "mal\x07lory"} {
		path := filepath.Join(f.queue, "junk"+string(rune('a'+i))+".send")
		if err := os.WriteFile(path, []byte(junk+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		rec := record.New("umc_invite", time.Unix(1, 0), map[any]any{"log": []byte(junk), "path": []byte(path), "offset": int64(0)})
		if v := f.flush(context.Background(), []record.Record{rec}); v != OK {
			t.Errorf("junk %q: verdict %v, want OK", junk, v)
		}
	}
	if n := len(f.deadLetters(t)); n != 8 {
		t.Fatalf("%d dead letters, want one per junk file", n)
	}
	if len(f.stub.Calls()) != 0 {
		t.Fatal("junk reached UMC")
	}
}
