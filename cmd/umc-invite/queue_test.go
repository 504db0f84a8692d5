package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umc-invite/umc/policy"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

// The operator sees who waits, from the queue files alone: a user carried
// over with its age and UMC's last answer, a user not asked yet as old as
// its file; a link is named, never followed.
func TestQueueListsWaitingUsers(t *testing.T) {
	dir := t.TempDir()
	seen := time.Now().Add(-3 * time.Hour).UTC()
	next := time.Now().Add(5 * time.Minute).UTC()
	carried := append([]byte("{\"username\": \"alice\"}\n"), record.CarryLine("username", "alice",
		policy.User{FirstSeen: seen, LastAnswer: "HTTP 503", NextTry: next, Pause: 600 * time.Second})...)
	os.WriteFile(filepath.Join(dir, "alice.send"), carried, 0o644)
	os.WriteFile(filepath.Join(dir, "bob.send"), []byte("\n"), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(dir, "bob.send"), old, old)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("hunter2\n"), 0o600)
	os.Symlink(secret, filepath.Join(dir, "link.send"))

	var out, errb bytes.Buffer
	if code := run([]string{"queue", "--dir", dir, "--json"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var users []spool.WaitingUser
	if err := json.Unmarshal(out.Bytes(), &users); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if len(users) != 2 || users[0].Username != "alice" || users[1].Username != "bob" {
		t.Fatalf("users %+v", users)
	}
	a, b := users[0], users[1]
	if !a.FirstSeen.Equal(seen) || a.AgeSeconds < 3*3600-5 || a.LastAnswer != "HTTP 503" || !a.NextTry.Equal(next) {
		t.Errorf("alice %+v", a)
	}
	if b.AgeSeconds < 3600-5 || b.AgeSeconds > 3600+60 || b.LastAnswer != "" {
		t.Errorf("bob %+v", b)
	}
	if strings.Contains(out.String()+errb.String(), "hunter2") || !strings.Contains(errb.String(), "link.send") {
		t.Errorf("the link: stdout %s stderr %s", out.String(), errb.String())
	}
	out.Reset()
	if code := run([]string{"queue", "--dir", dir}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "HTTP 503") || !strings.Contains(out.String(), "alice") {
		t.Fatalf("exit %d: %s", code, out.String())
	}
}
