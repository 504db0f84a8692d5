package spool

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A queue name may be as long as the file system allows (255 bytes); such a user must still reach
// the dead letters when they sit on another file system, or the record can never leave the queue.
func TestACopyToTheDeadLettersKeepsALongQueueName(t *testing.T) {
	root, outside, q := setup(t)
	name := strings.Repeat("u", 255-len(QueueSuffix)) + QueueSuffix
	path := filepath.Join(root, name)
	if err := os.WriteFile(path, []byte("{\"username\":\"long\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	target, err := OpenDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	f, err := q.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := copyTo(q.h, f, target); err != nil {
		t.Fatalf("copy of a %d-byte queue name to the dead letters: %v", len(name), err)
	}
	if data, err := os.ReadFile(filepath.Join(outside, name)); err != nil || string(data) != "{\"username\":\"long\"}\n" {
		t.Fatalf("dead letter: %q, %v", data, err)
	}
}

func TestMoveToAnotherFileSystemKeepsALongQueueName(t *testing.T) {
	root, _, q := setup(t)
	other, err := os.MkdirTemp("/dev/shm", "dead")
	if err != nil {
		t.Skip("no /dev/shm:", err)
	}
	defer os.RemoveAll(other)
	name := strings.Repeat("u", 255-len(QueueSuffix)) + QueueSuffix
	path := filepath.Join(root, name)
	if err := os.WriteFile(path, []byte("{\"username\":\"long\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dead, err := OpenDeadLetters(q, other)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	f, err := q.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.MoveTo(f, dead); err != nil {
		t.Fatalf("a %d-byte queue name never reaches the dead letters on another file system: %v", len(name), err)
	}
	if exists(path) {
		t.Fatal("the queue file is still queued")
	}
}
