package invite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
)

// A queue file named with a newline, which tail never watches, is named
// at start, quoted on one line: it neither waits unnoticed nor forges a
// line of the log.
func TestANameWithANewlineCannotForgeALogLine(t *testing.T) {
	dir := t.TempDir()
	const forged = `[ info] [output:umc_invite:tenant-b] invitation sent for "bob"`
	name := "x\n" + forged + "\n.send"
	if err := os.WriteFile(filepath.Join(dir, name), []byte("mallory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, &umctest.UMC{}, config.Map{"Queue_Dir": dir})
	log := f.logs.String()
	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, forged) {
			t.Errorf("a file name forged a log line:\n%s", log)
		}
	}
	if !strings.Contains(log, `never sent: "x\n[ info] [output:umc_invite:tenant-b] invitation sent for \"bob\"\n.send"`) {
		t.Errorf("the file is not named, quoted:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
		t.Errorf("the file left the queue: %v", err)
	}
}
