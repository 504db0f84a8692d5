//go:build linux

package spool

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A directory below a held one is reached step by step: a symlink at any
// step refuses it, naming the step; missing steps are created.
func TestOpenDirInNeverFollowsASymlinkBelow(t *testing.T) {
	q := t.TempDir()
	other := t.TempDir()
	d, err := OpenDir(q)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	os.Symlink(other, filepath.Join(q, "a"))
	for _, p := range []string{filepath.Join(q, "a"), filepath.Join(q, "a", "b")} {
		if _, err := OpenDirIn(d, p, true, 0o750); !errors.Is(err, ErrSymlink) {
			t.Errorf("%s: %v, want ErrSymlink", p, err)
		}
	}
	if ents, _ := os.ReadDir(other); len(ents) != 0 {
		t.Fatalf("created through the symlink: %v", ents)
	}
	sub, err := OpenDirIn(d, filepath.Join(q, "x", "y"), true, 0o750)
	if err != nil {
		t.Fatal(err)
	}
	sub.Close()
	if st, err := os.Stat(filepath.Join(q, "x", "y")); err != nil || !st.IsDir() {
		t.Fatal(err)
	}
	queue := &Queue{h: d}
	if _, err := queue.Stat(filepath.Join(q, "..", "z.send")); !errors.Is(err, ErrOutside) {
		t.Errorf("a path out of the queue directory: %v, want ErrOutside", err)
	}
	if _, err := queue.Stat(filepath.Join(q, "a.send")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing queue file: %v, want it not to exist", err)
	}
}

// A held directory knows the directories that hold it, and whether the
// directory at its path is still itself: renamed away and replaced by a
// new one, it is not.
func TestAHeldDirectoryKnowsWhereItIs(t *testing.T) {
	base := t.TempDir()
	q := filepath.Join(base, "q")
	if err := os.Mkdir(q, 0o750); err != nil {
		t.Fatal(err)
	}
	outer, err := OpenDir(base)
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	d, err := OpenDir(q)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if above := d.Above(); len(above) == 0 || above[0] != outer.ID() {
		t.Errorf("above %v, want %v first", above, outer.ID())
	}
	if id, err := d.AtPath(); err != nil || id != d.ID() {
		t.Fatalf("at its path: %v %v, want itself %v", id, err, d.ID())
	}
	if err := os.Rename(q, q+".away"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AtPath(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("renamed away: %v, want not exist", err)
	}
	if err := os.Mkdir(q, 0o750); err != nil {
		t.Fatal(err)
	}
	if id, err := d.AtPath(); err != nil || id == d.ID() {
		t.Errorf("a new directory at its path: %v %v, want another than %v", id, err, d.ID())
	}
}
