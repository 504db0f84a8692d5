package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"umc-invite/umc/spool"
)

// Two overlapping `umc-invite requeue bob` runs (two operators, a cron job
// and a hand run): the second waits for the first, then finds bob queued.
// Without the lock both could check before either wrote, and with the
// plugin delivering the first file in between, bob would be mailed twice.
func TestOverlappingRequeueRunsQueueOnce(t *testing.T) {
	q := t.TempDir()
	dead := filepath.Join(q, "failed")
	in := filepath.Join(q, "incoming")
	os.MkdirAll(in, 0o755)
	letter(t, dead, spool.DeadLetter{Time: time.Now().UTC().Add(-time.Hour), Kind: spool.KindRefused, Username: "bob", Reason: "refused"})
	// The first run holds the lock, has read the log and checked both directories.
	lock, err := os.OpenFile(filepath.Join(dead, ".requeue.lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		var out, errb bytes.Buffer
		runRequeue([]string{"--queue-dir", q, "bob"}, &out, &errb)
		done <- out.String() + errb.String()
	}()
	select {
	case out := <-done:
		t.Fatalf("the second run went on while the first held the lock: %s", out)
	case <-time.After(200 * time.Millisecond):
	}
	// The first run queues bob and ends.
	if err := os.WriteFile(filepath.Join(in, "bob.send"), []byte(`{"username":"bob"}`+"\n"), 0o664); err != nil {
		t.Fatal(err)
	}
	lock.Close()
	if out := <-done; !strings.Contains(out, "bob: already queued") {
		t.Fatalf("the second run after the first: %q: bob queued twice", out)
	}
	if files, _ := filepath.Glob(filepath.Join(in, "*.send")); len(files) != 1 {
		t.Fatalf("queue files %v", files)
	}
}
