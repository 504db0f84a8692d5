package invite

import (
	"strings"
	"testing"
)

// The directories of two outputs of one process are apart: one that is,
// holds or lies inside another output's directory is refused, naming both
// outputs and both directories; siblings (the DaemonSet's tenants) are not.
func TestClaimDirsAcrossOutputs(t *testing.T) {
	a := &Output{}
	if err := claimDirs(a, "tenant-a", []claimedDir{{"Queue_Dir", "/srv/a"}, {"Dead_Letter_Dir", "/srv/a/failed"}, {"Intake_Dir", "/srv/in-a"}}); err != nil {
		t.Fatal(err)
	}
	defer releaseDirs(a)
	cases := []struct {
		name string
		dirs []claimedDir
		want string // "" accepted
	}{
		{"siblings", []claimedDir{{"Queue_Dir", "/srv/b"}, {"Dead_Letter_Dir", "/srv/b/failed"}, {"Intake_Dir", "/srv/in-b"}}, ""},
		{"B's queue is A's intake", []claimedDir{{"Queue_Dir", "/srv/in-a"}}, `Queue_Dir "/srv/in-a" of output "b" is Intake_Dir "/srv/in-a" of output "tenant-a"`},
		{"B's intake is A's queue", []claimedDir{{"Queue_Dir", "/srv/b"}, {"Intake_Dir", "/srv/a"}}, `Intake_Dir "/srv/a" of output "b" is Queue_Dir`},
		{"B's dead letters are A's dead letters", []claimedDir{{"Queue_Dir", "/srv/b"}, {"Dead_Letter_Dir", "/srv/a/failed"}}, `Dead_Letter_Dir "/srv/a/failed" of output "b" is inside Queue_Dir "/srv/a"`},
		{"B's queue inside A's", []claimedDir{{"Queue_Dir", "/srv/a/b"}}, "is inside Queue_Dir"},
		{"B's queue holds A's", []claimedDir{{"Queue_Dir", "/srv"}}, "holds"},
	}
	for _, c := range cases {
		b := &Output{}
		err := claimDirs(b, "b", c.dirs)
		releaseDirs(b)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
