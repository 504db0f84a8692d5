//go:build linux

package intake

import (
	"os"
	"path/filepath"
	"testing"
)

// A crash between taking an intake file out of the producers' reach and
// admitting it leaves it hidden in the queue directory: the next start
// admits it under its name, once; a staged symlink is never admitted.
func TestAnAdmissionCutShortByACrashIsFinishedAtStart(t *testing.T) {
	queue, intake := dirs(t)
	if err := os.Mkdir(intake, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(queue, ".bob.send"+stageSuffix), []byte(`{"username": "bob"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(queue, ".eve.send"+stageSuffix)); err != nil {
		t.Fatal(err)
	}
	w := open(t, queue, intake, 10)
	w.Start(nil)
	if got := names(t, queue); len(got) != 1 || got[0] != "bob" {
		t.Fatalf("queue after start: %v, want [bob]", got)
	}
	if w.Queued() != 1 {
		t.Fatalf("window counts %d, want 1", w.Queued())
	}
	for _, dir := range []string{queue, intake} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if st, err := os.Lstat(filepath.Join(dir, e.Name())); err == nil && st.Mode()&os.ModeSymlink != 0 && dir == queue {
				t.Fatalf("a symlink stayed in the queue: %s", e.Name())
			}
		}
	}
	if st, err := os.Lstat(filepath.Join(intake, "eve.send")); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the staged symlink is not back in the intake: %v", err)
	}
}
