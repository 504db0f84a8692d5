package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueueListingQuotesANewlineInAName: a writer of the queue
// names a file with a newline; `umc-invite queue` prints the path raw into
// its table, so the operator sees a forged row for a user "mallory" who is
// not queued at all (and the real entry is cut in two). So every name is
// quoted and cut. Expected: one row per queue file, no
// forged row.
func TestQueueListingQuotesANewlineInAName(t *testing.T) {
	dir := t.TempDir()
	name := "eve\nmallory  1h0m0s  due  HTTP 200  forged.send"
	if err := os.WriteFile(filepath.Join(dir, name), []byte("{\"username\": \"eve\"}\n"), 0o644); err != nil {
		t.Skipf("cannot name a file with a newline here: %v", err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"queue", "--dir", dir}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "mallory") {
			t.Errorf("a forged row for a user nobody queued:\n%s", out.String())
		}
	}
	if len(lines) != 2 {
		t.Errorf("%d lines for one waiting user, want a header and one row:\n%s", len(lines), out.String())
	}
}
