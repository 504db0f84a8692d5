package invite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umc-invite/umc/spool"
)

// A delivered file whose removal failed is on the journal beside the dead
// letters before the delivery counts as applied; after a restart it is
// still not sent, and once it can be removed, its line leaves the journal.
func TestLeftoverJournalSurvivesARestartAndEmptiesWhenTheFileGoes(t *testing.T) {
	f, recs, path := bobDeliveredImmutable(t)
	f.flush(context.Background(), recs)
	journal := filepath.Join(f.queue, "failed", spool.LeftoverLog)
	data, err := os.ReadFile(journal)
	if err != nil || !strings.Contains(string(data), `"name":"bob.send"`) {
		t.Fatalf("journal %q: %v", data, err)
	}
	f.restart(t)
	if !strings.Contains(f.logs.String(), "was left in place before this start") {
		t.Fatalf("not logged at start:\n%s", f.logs)
	}
	f.flush(context.Background(), recs)
	if a := f.stub.Attempts(); a["bob"] != 1 {
		t.Fatalf("bob called %d times", a["bob"])
	}
	setImmutable(t, path, false)
	f.advance(time.Minute)
	f.flush(context.Background(), f.queueFiles(t, "carol"))
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("bob.send still there: %v", err)
	}
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		t.Fatalf("the journal outlived its last file: %v", err)
	}
	// A later bob.send is a new file, a new user: sent.
	f.flush(context.Background(), f.queueFiles(t, "bob"))
	if a := f.stub.Attempts(); a["bob"] != 2 {
		t.Fatalf("a new bob.send after the old one went: bob called %d times", a["bob"])
	}
}
