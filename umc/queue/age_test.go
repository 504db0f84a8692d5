package queue

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A file's birth time tells it from a later file on the same inode; its
// modification time is when it was queued.
func TestBornAndModified(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "alice.send")
	os.WriteFile(path, []byte("alice\n"), 0o644)
	f, err := q.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := q.Modified(f); err != nil || time.Since(m) > time.Minute {
		t.Errorf("modified %v %v", m, err)
	}
	born, ok := q.Born(f)
	if !ok {
		t.Skip("no birth time on this file system")
	}
	if again, _ := q.Born(f); again != born {
		t.Errorf("birth time changed: %d, %d", born, again)
	}
	os.Remove(path)
	if _, ok := q.Born(f); ok {
		t.Error("a removed file has a birth time")
	}
}
