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

// A user the intake was admitting when the plugin crashed sits in the
// queue's stage until the next start admits it: re-queued meanwhile, the
// user would get a second file and, once both are delivered, a second mail.
func TestRequeueFindsAUserTheIntakeWasAdmittingAtACrash(t *testing.T) {
	q := t.TempDir()
	dead := filepath.Join(q, "failed")
	stage := filepath.Join(q, ".admitting")
	os.MkdirAll(filepath.Join(q, "incoming"), 0o755)
	os.MkdirAll(stage, 0o700)
	letter(t, dead, spool.DeadLetter{Time: time.Now().UTC().Add(-time.Hour), Kind: spool.KindRefused, Username: "bob", Reason: "refused"})
	if err := os.WriteFile(filepath.Join(stage, "bob.send"), []byte(`{"username":"bob"}`+"\n"), 0o664); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	runRequeue([]string{"--queue-dir", q, "bob"}, &out, &errb)
	if !strings.Contains(out.String(), "bob: already queued") {
		t.Fatalf("requeue with bob staged: %q %q", out.String(), errb.String())
	}
	if files, _ := filepath.Glob(filepath.Join(q, "*", "*.send")); len(files) != 1 {
		t.Fatalf("bob's files: %v, want only the staged one", files)
	}
}

// An intake directory inside the queue replaced by a symlink (to another
// tenant's queue, say) is refused, as the plugin refuses it: the user is
// never queued where the link points.
func TestRequeueRefusesAnIntakeThatIsASymlink(t *testing.T) {
	q, other := t.TempDir(), t.TempDir()
	dead := filepath.Join(q, "failed")
	letter(t, dead, spool.DeadLetter{Time: time.Now().UTC().Add(-time.Hour), Kind: spool.KindRefused, Username: "bob", Reason: "refused"})
	if err := os.Symlink(other, filepath.Join(q, "incoming")); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	status := runRequeue([]string{"--queue-dir", q, "--intake-dir", filepath.Join(q, "incoming"), "bob"}, &out, &errb)
	if files, _ := filepath.Glob(filepath.Join(other, "*")); len(files) != 0 {
		t.Fatalf("bob was queued through the symlink: %v", files)
	}
	if status == 0 || !strings.Contains(errb.String(), "intake directory") {
		t.Fatalf("status %d, %q %q: want the intake refused", status, out.String(), errb.String())
	}
}
