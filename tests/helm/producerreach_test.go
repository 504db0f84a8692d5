package helm

// What a tenant's producer reaches on the node's hostPath, as the init
// container leaves it.

import (
	"os"
	"path/filepath"
	"testing"
)

// preparedRoot is a hostPath as the init container leaves it, under
// directories a producer may pass, as a node's /var/lib.
func preparedRoot(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(base, "umc-invite")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	runPrepare(t, root)
	return root
}

// Fluent Bit runs as 65532, the non-root user many images run as by
// default (distroless's nonroot): a producer of tenant A in that image is
// Fluent Bit's owner of every tenant's directories.
func TestAProducerRunningAsTheCommonNonrootUserReachesOnlyItsIntake(t *testing.T) {
	needRoot(t)
	root := preparedRoot(t)
	const nonroot = 65532
	for what, command := range map[string]string{
		"write B's intake":        `echo '{"username":"bob-of-b"}' > ` + root + "/tenant-b/incoming/bob-of-b.send",
		"list B's dead letters":   "ls " + root + "/tenant-b/failed",
		"list Fluent Bit's state": "ls " + root + "/.fluent-bit",
	} {
		if err := asUser(nonroot, gidA, command); err == nil {
			t.Errorf("A's producer running as uid %d (its image's default non-root user) may %s", nonroot, what)
		}
	}
}
