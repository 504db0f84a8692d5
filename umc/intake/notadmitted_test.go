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

// A file over 4,000 bytes is no user's queue file: it stays in the intake, tail
// never reads it, the operator is told, and the other files go through.
func TestAnOversizedFileStaysInTheIntake(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 10)
	if err := os.WriteFile(filepath.Join(intake, "big.send"), bytes.Repeat([]byte("x"), maxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	put(t, intake, "carol", 1)

	moved, err := w.TopUp()
	if moved != 1 || join(names(t, queue)) != "carol" {
		t.Fatalf("moved %d, queue %v: want carol alone", moved, names(t, queue))
	}
	if !errors.Is(err, errNotAdmitted) || !strings.Contains(err.Error(), "big.send") {
		t.Fatalf("error %v: want the file that stays named", err)
	}
	if join(names(t, intake)) != "big" {
		t.Fatalf("intake %v: want big still there", names(t, intake))
	}
	// Looked at again, it is not moved back and forth: the intake is left
	// as it is (no churn, no inotify event that would wake the loop).
	before, _ := os.Stat(intake)
	w.mu.Lock()
	w.stale = true
	w.mu.Unlock()
	if moved, err := w.TopUp(); moved != 0 || !errors.Is(err, errNotAdmitted) {
		t.Fatalf("again: moved %d, %v", moved, err)
	}
	if after, _ := os.Stat(intake); !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("the intake changed: the file was moved out and back")
	}
	if ents, _ := os.ReadDir(queue); len(ents) != 3 { // carol.send, incoming/ and the stage directory
		t.Fatalf("queue directory holds %d entries, want carol's file, the intake and %s", len(ents), StageDir)
	}
}

// A file with a second name is admitted like any other: admission moves
// the inode that was checked, so the second name gives a producer nothing
// it could not have by copying the content. The listener module itself
// links its temporary file to <uid>.send before it unlinks the temporary.
func TestAFileWithASecondNameIsAdmitted(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 10)
	other := filepath.Join(filepath.Dir(queue), "elsewhere")
	if err := os.WriteFile(other, []byte(`{"username": "dave"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(other, filepath.Join(intake, "dave.send")); err != nil {
		t.Fatal(err)
	}
	if moved, err := w.TopUp(); moved != 1 || err != nil {
		t.Fatalf("moved %d, %v: want dave admitted", moved, err)
	}
	if join(names(t, queue)) != "dave" {
		t.Fatalf("queue %v: want dave", names(t, queue))
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("the other name is gone: %v", err)
	}
}
