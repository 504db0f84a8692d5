//go:build linux

package intake

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A hard link (whose content may be another's file) and a file over
// 64 KiB are no user's queue file: they stay in the intake, tail never
// reads them, the operator is told, and the other files go through.
func TestAHardLinkOrAnOversizedFileStaysInTheIntake(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 10)
	other := filepath.Join(filepath.Dir(queue), "another-tenants-file")
	if err := os.WriteFile(other, []byte("SECRET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(other, filepath.Join(intake, "linked"+Suffix)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(intake, "big"+Suffix), bytes.Repeat([]byte("x"), maxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	put(t, intake, "carol", 1)

	moved, err := w.TopUp()
	if moved != 1 || join(names(t, queue)) != "carol" {
		t.Fatalf("moved %d, queue %v: want carol alone", moved, names(t, queue))
	}
	if !errors.Is(err, errNotAdmitted) || !strings.Contains(err.Error(), Suffix) {
		t.Fatalf("error %v: want the file that stays named", err)
	}
	if join(names(t, intake)) != "big,linked" {
		t.Fatalf("intake %v: want big and linked still there", names(t, intake))
	}
	// Looked at again, they are not moved back and forth: the intake is
	// left as it is (no churn, no inotify event that would wake the loop).
	before, _ := os.Stat(intake)
	w.mu.Lock()
	w.stale = true
	w.mu.Unlock()
	if moved, err := w.TopUp(); moved != 0 || !errors.Is(err, errNotAdmitted) {
		t.Fatalf("again: moved %d, %v", moved, err)
	}
	if after, _ := os.Stat(intake); !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("the intake changed: the files were moved out and back")
	}
	if ents, _ := os.ReadDir(queue); len(ents) != 2 { // carol.send and incoming/
		t.Fatalf("queue directory holds %d entries, want carol's file and the intake", len(ents))
	}
}
