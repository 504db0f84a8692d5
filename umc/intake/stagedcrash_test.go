//go:build linux

package intake

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"umc-invite/umc/spool"
)

// A crash between taking an intake file out of the producers' reach and
// admitting it leaves it hidden in the queue directory: the next start
// admits it under its name, once; a staged symlink is never admitted.
func TestAnAdmissionCutShortByACrashIsFinishedAtStart(t *testing.T) {
	queue, intake := dirs(t)
	stage := filepath.Join(queue, StageDir)
	for _, d := range []string{intake, stage} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(stage, "bob.send"), []byte(`{"username": "bob"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(stage, "eve.send")); err != nil {
		t.Fatal(err)
	}
	w := open(t, queue, intake, 10)
	if got := join(names(t, queue)); got != "" {
		t.Fatalf("queue after Open: %v, want nothing moved before Start", got)
	}
	w.Start(nil)
	if got := join(names(t, queue)); got != "bob" {
		t.Fatalf("queue after start: %v, want bob", got)
	}
	if int(w.queued.Load()) != 1 {
		t.Fatalf("window counts %d, want 1", int(w.queued.Load()))
	}
	for _, dir := range []string{queue, stage} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if st, err := os.Lstat(filepath.Join(dir, e.Name())); err == nil && st.Mode()&os.ModeSymlink != 0 {
				t.Fatalf("a symlink stayed in the queue: %s", e.Name())
			}
		}
	}
	if st, err := os.Lstat(filepath.Join(intake, "eve.send")); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the staged symlink is not back in the intake: %v", err)
	}
}

// A producer who writes the queue directory and plants the stage directory
// as a symlink (to another tenant's queue) gets a refusal, not a stage
// elsewhere.
func TestAStageDirectoryThatIsASymlinkIsRefused(t *testing.T) {
	queue, intake := dirs(t)
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(queue, StageDir)); err != nil {
		t.Fatal(err)
	}
	w, err := Open(queue, intake, 10)
	if err == nil {
		w.Close()
		t.Fatal("opened with the stage directory a symlink")
	}
	if !errors.Is(err, spool.ErrSymlink) {
		t.Fatalf("error %v: want it named a symlink", err)
	}
}

// Link mode: a crash between linking an intake file into the stage and
// unlinking its intake name leaves one inode under both names. The restart
// admits the user once, also when it finds rename to work: it is not left
// in the intake as well, to be admitted (and invited) a second time once
// the first is delivered.
func TestALinkModeAdmissionCutShortAfterTheLinkIsAdmittedOnce(t *testing.T) {
	for _, restart := range []string{"link", "rename"} {
		t.Run("restart in "+restart+" mode", func(t *testing.T) {
			queue, intake := dirs(t)
			stage := filepath.Join(queue, StageDir)
			for _, d := range []string{intake, stage} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			put(t, intake, "bob", 1)
			if err := os.Link(filepath.Join(intake, "bob.send"), filepath.Join(stage, "bob.send")); err != nil {
				t.Fatal(err)
			}
			w := open(t, queue, intake, 10)
			w.adm.linkMode = restart == "link"
			w.Start(nil)
			once(t, queue, intake, []string{"bob"})
			// bob is delivered: his queue file leaves, and the window refills.
			if err := os.Remove(filepath.Join(queue, "bob.send")); err != nil {
				t.Fatal(err)
			}
			w.Left(1)
			if _, err := w.TopUp(); err != nil {
				t.Fatal(err)
			}
			if got := join(names(t, queue)); got != "" {
				t.Fatalf("queue after bob was delivered: %q, want nothing (bob would be invited twice)", got)
			}
		})
	}
}
