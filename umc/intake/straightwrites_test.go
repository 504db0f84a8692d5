//go:build linux

package intake

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// A producer who writes the queue directory itself puts files there that
// tail reads all the same, whatever their names: each holds a place in the
// window, so the intake admits nothing while they fill it, and admits again
// as they leave.
func TestFilesWrittenStraightIntoTheQueueHoldTheIntakeBack(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 4)
	for i := range 2 {
		put(t, intake, fmt.Sprintf("early%d", i), i)
	}
	if n, err := w.TopUp(); n != 2 || err != nil {
		t.Fatalf("admitted %d, %v", n, err)
	}
	// Written once the window runs, each a name the intake would never
	// admit or no plain file, but each read by tail: invalid UTF-8, a
	// Unicode line separator, a symlink to a file elsewhere.
	direct := []string{"bad\xff.send", "line\u2028sep.send"}
	for _, name := range direct {
		if err := os.WriteFile(filepath.Join(queue, name), []byte("u\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	elsewhere := filepath.Join(t.TempDir(), "elsewhere.send")
	if err := os.WriteFile(elsewhere, []byte("u\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(queue, "linked.send")); err != nil {
		t.Fatal(err)
	}
	direct = append(direct, "linked.send")
	// Not read by tail, so no place taken: hidden, a control character
	// (the shipped configs exclude such names from tail: they stay for
	// good), or no file.
	for _, name := range []string{".hidden.send", "x\n[ info] forged.send", "tab\tname.send"} {
		if err := os.WriteFile(filepath.Join(queue, name), []byte("u\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(queue, "dir.send"), 0o755); err != nil {
		t.Fatal(err)
	}
	q, _, err := w.Count() // what the background recount does every second
	if err != nil || q != 2+len(direct) {
		t.Fatalf("the queue holds %d files tail reads, the window counts %d (%v)", 2+len(direct), q, err)
	}
	for i := range 3 {
		put(t, intake, fmt.Sprintf("late%d", i), 10+i)
	}
	if n, err := w.TopUp(); n != 0 || err != nil {
		t.Fatalf("admitted %d (%v) into a queue over its window", n, err)
	}
	if got := join(names(t, intake)); got != "late0,late1,late2" {
		t.Fatalf("intake holds %s, want every late file waiting", got)
	}
	// Two of the straight writes are delivered and leave: room for one.
	for _, name := range direct[:2] {
		if err := os.Remove(filepath.Join(queue, name)); err != nil {
			t.Fatal(err)
		}
	}
	w.Left(2)
	if n, err := w.TopUp(); n != 1 || err != nil {
		t.Fatalf("admitted %d (%v), want the one place that was freed", n, err)
	}
	if got := join(names(t, intake)); got != "late1,late2" {
		t.Fatalf("intake holds %s, want the oldest admitted", got)
	}
}
