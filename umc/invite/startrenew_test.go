package invite

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
)

// A user whose chunk Fluent Bit gave up (its output disabled, a failed
// carry-over) stays queued while tail's DB holds its file's offset: the
// next start hands the file to tail again as a new file (another inode,
// the same line and age), and the record of the chunk given up and the
// renewed file's record are one user, called once.
func TestAStartHandsTailTheQueuedFilesAgainAsOneUserEach(t *testing.T) {
	f := newFixture(t, &umctest.UMC{}, config.Map{})
	recs := f.queueFiles(t, "anna")
	path := filepath.Join(f.queue, "anna.send")
	old := f.now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f.restart(t)
	after, err := os.Stat(path)
	if err != nil {
		t.Fatalf("anna's queue file is gone after the start: %v", err)
	}
	if after.Sys().(*syscall.Stat_t).Ino == before.Sys().(*syscall.Stat_t).Ino {
		t.Fatal("anna's queue file is the file tail read before the start: tail's DB keeps it from being read again")
	}
	if !after.ModTime().Equal(old) {
		t.Errorf("anna's renewed file is dated %s, want %s (her age)", after.ModTime(), old)
	}
	if data, _ := os.ReadFile(path); string(data) != `{"username": "anna"}`+"\n" {
		t.Errorf("anna's renewed file holds %q", data)
	}
	// The record of the chunk given up (restored, or still retried) and
	// the renewed file's record, read from its head: the same path, offset
	// and line.
	f.flush(context.Background(), recs)
	f.flush(context.Background(), recs)
	if a := f.stub.Attempts(); a["anna"] != 1 {
		t.Fatalf("anna called %d times, want 1\n%s", a["anna"], f.logs)
	}
}
