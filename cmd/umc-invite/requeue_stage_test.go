package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umc-invite/umc/spool"
)

// A queue's .admitting that is a symlink is not the plugin's stage (the
// plugin refuses to start on it): a file where it points is no user of this
// queue, and the refused user is queued again.
func TestRequeueIgnoresAStageThatIsASymlink(t *testing.T) {
	q, other := t.TempDir(), t.TempDir()
	dead := filepath.Join(q, "failed")
	letter(t, dead, spool.DeadLetter{Time: time.Now().UTC().Add(-time.Hour), Kind: spool.KindRefused, Username: "bob", Reason: "refused"})
	if err := os.WriteFile(filepath.Join(other, "bob.send"), []byte(`{"username":"bob"}`+"\n"), 0o664); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, filepath.Join(q, ".admitting")); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	status := runRequeue([]string{"--queue-dir", q, "bob"}, &out, &errb)
	if status != 0 || strings.Contains(out.String(), "already queued") {
		t.Fatalf("status %d, %q %q: bob taken as queued through a symlinked stage", status, out.String(), errb.String())
	}
	if files, _ := filepath.Glob(filepath.Join(q, "*.send")); len(files) != 1 {
		t.Fatalf("bob's files in the queue: %v, want one", files)
	}
}

// A queue's .admitting that is a regular file holds no user: requeue queues
// the refused user and says nothing is wrong.
func TestRequeueQueuesWhenTheStageIsAFile(t *testing.T) {
	q := t.TempDir()
	dead := filepath.Join(q, "failed")
	letter(t, dead, spool.DeadLetter{Time: time.Now().UTC().Add(-time.Hour), Kind: spool.KindRefused, Username: "bob", Reason: "refused"})
	if err := os.WriteFile(filepath.Join(q, ".admitting"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	status := runRequeue([]string{"--queue-dir", q, "bob"}, &out, &errb)
	if status != 0 || strings.Contains(out.String(), "already queued") {
		t.Fatalf("status %d, %q %q", status, out.String(), errb.String())
	}
	if files, _ := filepath.Glob(filepath.Join(q, "*.send")); len(files) != 1 {
		t.Fatalf("bob's files in the queue: %v, want one", files)
	}
}
