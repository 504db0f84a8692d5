package invite

import (
	"strings"
	"testing"

	"umc-invite/umc/spool"
)

// The directories of two outputs of one process are apart: one that is,
// holds or lies inside another output's directory, by its identity on
// disk whatever its path, is refused, naming both outputs and both
// directories; siblings (the DaemonSet's tenants) are not. Within one
// output, its own directories nest (failed/ and incoming/ in the queue)
// but are never one.
func TestOverlappingDirectoriesAreRefused(t *testing.T) {
	id := func(n uint64) spool.DirID { return spool.DirID{Dev: 1, Ino: n} }
	// The tree: / (1) holds srv (2); srv holds a (3), b (4), in-a (5),
	// in-b (6); a holds failed (7); b holds failed (8).
	dir := func(key, path string, ino uint64, above ...uint64) heldDir {
		d := heldDir{key: key, path: path, id: id(ino)}
		for _, a := range above {
			d.above = append(d.above, id(a))
		}
		return d
	}
	aQueue, aDead, aIn := dir("Queue_Dir", "/srv/a", 3, 2, 1), dir("Dead_Letter_Dir", "/srv/a/failed", 7, 3, 2, 1), dir("Intake_Dir", "/srv/in-a", 5, 2, 1)
	a := claim{name: "tenant-a", dirs: []heldDir{aQueue, aDead, aIn}}
	cases := []struct {
		name string
		dirs []heldDir
		want string // "" accepted
	}{
		{"siblings", []heldDir{dir("Queue_Dir", "/srv/b", 4, 2, 1), dir("Dead_Letter_Dir", "/srv/b/failed", 8, 4, 2, 1), dir("Intake_Dir", "/srv/in-b", 6, 2, 1)}, ""},
		{"B's queue is A's intake", []heldDir{dir("Queue_Dir", "/srv/in-a", 5, 2, 1)}, `Queue_Dir "/srv/in-a" of output "b" is Intake_Dir "/srv/in-a" of output "tenant-a"`},
		{"B's queue is A's queue through a symlink", []heldDir{dir("Queue_Dir", "/link/to/a", 3, 2, 1)}, `Queue_Dir "/link/to/a" of output "b" is Queue_Dir "/srv/a" of output "tenant-a"`},
		{"B's intake is A's queue", []heldDir{dir("Queue_Dir", "/srv/b", 4, 2, 1), dir("Intake_Dir", "/srv/a", 3, 2, 1)}, `Intake_Dir "/srv/a" of output "b" is Queue_Dir`},
		{"B's dead letters are A's dead letters", []heldDir{dir("Queue_Dir", "/srv/b", 4, 2, 1), dir("Dead_Letter_Dir", "/srv/a/failed", 7, 3, 2, 1)}, `Dead_Letter_Dir "/srv/a/failed" of output "b" is`},
		{"B's queue inside A's", []heldDir{dir("Queue_Dir", "/srv/a/b", 9, 3, 2, 1)}, "is inside Queue_Dir"},
		{"B's queue holds A's", []heldDir{dir("Queue_Dir", "/srv", 2, 1)}, "holds"},
		{"B's intake is its own dead letters", []heldDir{dir("Queue_Dir", "/srv/b", 4, 2, 1), dir("Dead_Letter_Dir", "/srv/dead", 10, 2, 1), dir("Intake_Dir", "/srv/alias", 10, 2, 1)},
			`Intake_Dir "/srv/alias" is Dead_Letter_Dir "/srv/dead"`},
	}
	for _, c := range cases {
		err := overlap(claim{name: "b", dirs: c.dirs}, []claim{a})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if err := overlap(a, nil); err != nil {
		t.Errorf("an output's own failed/ inside its queue: %v", err)
	}
}
