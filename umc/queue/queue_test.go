package queue

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func setup(t *testing.T) (root, outside string, d *Dir) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "queue")
	outside = filepath.Join(base, "elsewhere")
	for _, dir := range []string{root, outside, filepath.Join(root, "sub")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, outside, d
}

func write(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool { _, err := os.Lstat(path); return err == nil }

func TestRemoveOnlyInsideQueueDir(t *testing.T) {
	root, outside, d := setup(t)
	victim := filepath.Join(outside, "victim.send")
	write(t, victim)
	write(t, filepath.Join(root, "sub", "deep.send"))
	if err := os.Symlink(victim, filepath.Join(root, "link.send")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "linkdir")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		victim,
		filepath.Join(root, "..", "elsewhere", "victim.send"),
		filepath.Join(root, "link.send"),
		filepath.Join(root, "linkdir", "victim.send"),
		filepath.Join(root, "sub", "deep.send"),
		filepath.Join(root, "sub"),
	} {
		if err := d.Remove(path); !errors.Is(err, ErrOutside) {
			t.Errorf("%s: %v, want ErrOutside", path, err)
		}
		if _, err := d.MoveTo(path, filepath.Join(root, "failed")); !errors.Is(err, ErrOutside) {
			t.Errorf("move %s: %v, want ErrOutside", path, err)
		}
		if d.Gone(path) {
			t.Errorf("%s: a path outside must never count as gone", path)
		}
	}
	if !exists(victim) || !exists(filepath.Join(root, "link.send")) || !exists(filepath.Join(root, "sub", "deep.send")) {
		t.Fatal("a file outside the queue was touched")
	}
}

func TestRemoveAndGone(t *testing.T) {
	root, _, d := setup(t)
	file := filepath.Join(root, "alice.send")
	write(t, file)
	if d.Gone(file) {
		t.Fatal("present file is not gone")
	}
	// The path as tail may write it: relative parts that stay inside.
	if err := d.Remove(filepath.Join(root, "sub", "..", "alice.send")); err != nil {
		t.Fatal(err)
	}
	if exists(file) || !d.Gone(file) {
		t.Fatal("not removed")
	}
	if err := d.Remove(file); err != nil {
		t.Fatalf("removing a gone file: %v", err)
	}
}

func TestMoveTo(t *testing.T) {
	root, _, d := setup(t)
	file := filepath.Join(root, "bob.send")
	write(t, file)
	dead := filepath.Join(root, "failed")
	got, err := d.MoveTo(file, dead)
	if err != nil || got != filepath.Join(dead, "bob.send") || exists(file) || !exists(got) {
		t.Fatalf("%q %v", got, err)
	}
	write(t, file) // re-queued and failed again: replaces the old copy
	if _, err := d.MoveTo(file, dead); err != nil {
		t.Fatal(err)
	}
}

func TestDeadLetterLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "failed")
	dl := NewDeadLetters(dir)
	for _, u := range []string{"alice", "bob"} {
		if err := dl.Append(DeadLetter{Time: time.Now(), Username: u, Reason: "r", Attempts: 6, Status: 503, Tag: "t", Record: map[string]any{"log": u}}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(filepath.Join(dir, DeadLetterLog))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var users []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l DeadLetter
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		users = append(users, l.Username)
	}
	if len(users) != 2 || users[0] != "alice" || users[1] != "bob" {
		t.Fatalf("%v", users)
	}
}
