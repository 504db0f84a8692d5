//go:build linux

package intake

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A file of more than one line is no user's queue file: tail would make a
// record of each line (a 12 MB file of short lines, millions of records
// and chunks). It stays in the intake, named, and the others go through;
// a user's file, with or without its final newline, is admitted.
func TestAFileOfManyLinesStaysInTheIntake(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 10)
	for name, content := range map[string][]byte{
		"lines":   bytes.Repeat([]byte("x\n"), 1000),
		"two":     []byte(`{"username": "a"}` + "\n" + `{"username": "b"}` + "\n"),
		"trailer": []byte(`{"username": "c"}` + "\nx"),
	} {
		if err := os.WriteFile(filepath.Join(intake, name+".send"), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(intake, "nonl.send"), []byte(`{"username": "nonl"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	settledAgo := time.Now().Add(-2 * settled) // its producer is done with it
	os.Chtimes(filepath.Join(intake, "nonl.send"), settledAgo, settledAgo)
	put(t, intake, "carol", 1)

	moved, err := w.TopUp()
	if moved != 2 || join(names(t, queue)) != "carol,nonl" {
		t.Fatalf("moved %d, queue %v: want carol and nonl alone", moved, names(t, queue))
	}
	if !errors.Is(err, errNotAdmitted) || !strings.Contains(err.Error(), "one line") {
		t.Fatalf("error %v: want a file that stays named, for its lines", err)
	}
	if join(names(t, intake)) != "lines,trailer,two" {
		t.Fatalf("intake %v: want the three many-line files still there", names(t, intake))
	}
}

// A producer writing straight into the intake (not by a rename) may be
// between two writes: a line without its newline waits until the file
// has not changed for a while, then goes to the queue finished, so that
// tail reads it; one that gets its newline goes at once.
func TestALineBeingWrittenIsAdmittedFinished(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 10)
	path := filepath.Join(intake, "half.send")
	if err := os.WriteFile(path, []byte(`{"username": "ha`), 0o644); err != nil {
		t.Fatal(err)
	}
	if moved, _ := w.TopUp(); moved != 0 {
		t.Fatalf("moved %d: a line being written went to the queue", moved)
	}
	ago := time.Now().Add(-2 * settled)
	os.Chtimes(path, ago, ago)
	if moved, err := w.TopUp(); moved != 1 {
		t.Fatalf("moved %d (%v): a settled line stays in the intake", moved, err)
	}
	data, err := os.ReadFile(filepath.Join(queue, "half.send"))
	if err != nil || string(data) != `{"username": "ha`+"\n" {
		t.Fatalf("queued %q (%v), want the line with its newline", data, err)
	}
}
