package queue_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"umc-invite/umc/queue"
	"umc-invite/umc/waiting"
)

// A queue file not carried over yet is as old as its modification time
// (docs/delivery.md; Max_Age counts from it). When an output takes the
// queue over from another process (a rollout's surge, the lock), it
// replaces every queue file by a fresh copy for tail: the copy keeps the
// original's times, so the user's age in `umc-invite queue` and for
// Max_Age does not restart.
func TestATakeoverKeepsAQueuedUsersAge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bob.send")
	if err := os.WriteFile(path, []byte("{\"username\": \"bob\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	queued := time.Now().Add(-3 * time.Hour)
	if err := os.Chtimes(path, queued, queued); err != nil {
		t.Fatal(err)
	}
	d, err := queue.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if n, err := d.RenewExcept(nil); err != nil || n != 1 {
		t.Fatalf("renewed %d: %v", n, err)
	}
	users, problems, err := waiting.List(dir, "username", time.Now())
	if err != nil || len(users) != 1 {
		t.Fatalf("users %+v problems %v: %v", users, problems, err)
	}
	if age := time.Duration(users[0].AgeSeconds * float64(time.Second)); age < 3*time.Hour-time.Minute {
		t.Fatalf("bob, queued 3h ago, is %s old after the takeover handed its file to tail again: the age restarted", age.Round(time.Second))
	}
}
