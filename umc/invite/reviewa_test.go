package invite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
)

// TestReviewA_LeftoverDeliveredFileIsSentAgainAfterRestart: a delivered
// queue file whose removal failed (a sticky directory, a read-only
// remount) is remembered as "delivered" only in memory. A restart of Fluent
// Bit (a rollout, not a crash in the in-flight window) loses that: tail
// reads the file again and the user gets a second send_token, which kills
// the link in the first mail. Expected: one call for bob, however often
// the plugin restarts while the file cannot be removed.
func TestReviewA_LeftoverDeliveredFileIsSentAgainAfterRestart(t *testing.T) {
	f := newFixture(t, &umctest.UMC{}, config.Map{})
	recs := f.queueFiles(t, "bob")
	path := filepath.Join(f.queue, "bob.send")
	if !setImmutable(t, path, true) {
		t.Skip("cannot make a file immutable here (needs root and a file system that supports it)")
	}
	t.Cleanup(func() { setImmutable(t, path, false) })
	f.flush(context.Background(), recs)
	if a := f.stub.Attempts(); a["bob"] != 1 {
		t.Fatalf("calls %v before the restart", a)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the immutable file went: %v", err)
	}
	// Fluent Bit restarts (SIGTERM, a rollout): a new output on the same
	// queue; tail (no DB, or the DB's offset before the record) reads bob's
	// file again and hands the same record over.
	cfg := f.out.cfg
	f.out.Close()
	out, err := New(cfg, NewLogger(&syncWriter{w: f.logs}, "test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Close)
	out.now = f.now
	f.out = out
	f.flush(context.Background(), recs)
	if a := f.stub.Attempts(); a["bob"] != 1 {
		t.Fatalf("bob called %d times: a delivered file left in place is invited again after a restart\n%s", a["bob"], f.logs)
	}
}
