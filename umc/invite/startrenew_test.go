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

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// A user whose chunk Fluent Bit gave up (its output disabled, a failed
// carry-over) stays queued while tail's DB holds its file's offset: once
// tail has had its chance after a start, the file no flush brought is
// handed to tail again as a new file (another inode, the same line and
// age), and the record of the chunk given up and the renewed file's record
// are one user, called once. A file a flush brought is left as it is, so
// tail does not read that user twice.
func TestAStartHandsTailAgainOnlyTheQueuedFilesItDidNotRead(t *testing.T) {
	defer func(q time.Duration) { rehandQuiet = q }(rehandQuiet)
	rehandQuiet = 100 * time.Millisecond
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	recs := f.queueFiles(t, "anna")
	bob := f.queueFiles(t, "bob")
	anna, bobPath := filepath.Join(f.queue, "anna.send"), filepath.Join(f.queue, "bob.send")
	old := f.now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(anna, old, old); err != nil {
		t.Fatal(err)
	}
	annaBefore, bobBefore := inode(t, anna), inode(t, bobPath)
	stub.SetOutage(503) // bob stays queued after his flush
	f.restart(t)
	f.flush(context.Background(), bob)
	deadline := time.Now().Add(10 * time.Second)
	for inode(t, anna) == annaBefore && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if inode(t, anna) == annaBefore {
		t.Fatal("anna's queue file is still the file tail read before the start: tail's DB keeps it from being read again")
	}
	if inode(t, bobPath) != bobBefore {
		t.Error("bob's file, read by tail since the start, was handed to tail again: his user is read twice")
	}
	if st, _ := os.Stat(anna); !st.ModTime().Equal(old) {
		t.Errorf("anna's renewed file is dated %s, want %s (her age)", st.ModTime(), old)
	}
	if data, _ := os.ReadFile(anna); string(data) != `{"username": "anna"}`+"\n" {
		t.Errorf("anna's renewed file holds %q", data)
	}
	stub.SetOutage(0)
	// The record of the chunk given up (restored, or still retried) and
	// the renewed file's record, read from its head: the same path, offset
	// and line.
	f.flush(context.Background(), recs)
	f.flush(context.Background(), recs)
	if a := stub.Attempts(); a["anna"] != 1 {
		t.Fatalf("anna called %d times, want 1\n%s", a["anna"], f.logs)
	}
}
