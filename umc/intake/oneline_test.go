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
		if err := os.WriteFile(filepath.Join(intake, name+Suffix), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(intake, "nonl"+Suffix), []byte(`{"username": "nonl"}`), 0o644); err != nil {
		t.Fatal(err)
	}
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
