//go:build linux

package intake

import (
	"os"
	"path/filepath"
	"testing"
)

// The listener module writes a queue file as a hidden temporary file that
// it links to <uid>.send and then unlinks: between the two, the user's own
// file has two names. inotify wakes the window at the link, so a top-up
// sees exactly that. It is an ordinary user on the way in, not a file the
// operator must be told stays in the intake; once the temporary name is
// gone it is admitted.
func TestAFileTheProducerIsStillLinkingIsNotReportedAsRefused(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 10)
	tmp := filepath.Join(intake, ".tmpk3j9x2.tmp") // tempfile.mkstemp(prefix='.', suffix='.tmp')
	if err := os.WriteFile(tmp, []byte(`{"username": "alice"}`+"\n"), 0o664); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(tmp, filepath.Join(intake, "alice"+Suffix)); err != nil {
		t.Fatal(err)
	}
	// The wake-up of the link.
	if _, err := w.TopUp(); err != nil {
		t.Errorf("the producer's file, while it is being linked, is reported: %v", err)
	}
	if err := os.Remove(tmp); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	w.stale = true // whatever the timestamp granularity
	w.mu.Unlock()
	if moved, err := w.TopUp(); moved != 1 || err != nil {
		t.Fatalf("after the unlink: moved %d, %v; want alice admitted", moved, err)
	}
}
