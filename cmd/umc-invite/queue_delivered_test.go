package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A delivered file the plugin could not remove is on its journal beside
// the dead letters: `umc-invite queue` says so on stderr and does not list
// that user as waiting. A journal line of another file under the same name
// (a later file) does not hide the user.
func TestQueueListingLeavesOutJournaledDeliveredFiles(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{"alice", "bob"} {
		if err := os.WriteFile(filepath.Join(dir, u+".send"), []byte(`{"username": "`+u+`"}`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(dir, "bob.send"), &st); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "failed"), 0o750)
	journal := filepath.Join(dir, "failed", "delivered-not-removed.jsonl")
	line := fmt.Sprintf(`{"time":"2026-11-30T10:00:00Z","key":"file:%d:%d:123","name":"bob.send","mtime_ns":%d,"username":"bob"}`+"\n", uint64(st.Dev), st.Ino, st.Mtim.Nano())
	stale := fmt.Sprintf(`{"time":"2026-11-30T10:00:00Z","key":"file:%d:%d:123","name":"alice.send","mtime_ns":1,"username":"alice"}`+"\n", uint64(st.Dev), st.Ino)
	if err := os.WriteFile(journal, []byte(line+stale), 0o640); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"queue", "--dir", dir}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if strings.Contains(out.String(), `"bob"`) || !strings.Contains(out.String(), `"alice"`) {
		t.Errorf("listing:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), `"bob"`) || !strings.Contains(errb.String(), "was invited") {
		t.Errorf("stderr: %s", errb.String())
	}
}
