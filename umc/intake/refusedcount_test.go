//go:build linux

package intake

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A file that stays in the intake for good (over 4,000 bytes) is
// nobody waiting: Count feeds umc_invite_queue_files, on which
// UMCInviteStalled fires ("queue files wait and no invitation went out"),
// and that alert must not fire for ever over a file that will never move,
// while `umc-invite queue` says nobody is waiting.
func TestAFileThatStaysInTheIntakeIsNotCountedAsWaiting(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 10)
	if err := os.WriteFile(filepath.Join(intake, "big.send"), bytes.Repeat([]byte("x"), maxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := w.TopUp(); err == nil {
		t.Fatal("the refusal is not told")
	}
	q, in, err := w.Count()
	if err != nil {
		t.Fatal(err)
	}
	if q+in != 0 {
		t.Fatalf("Count says %d in the queue and %d in the intake waiting; want none: the file stays in the intake for good", q, in)
	}
}
