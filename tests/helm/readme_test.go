package helm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// docs/configuration.md shows `check` on the rendered DaemonSet manifest with line
// numbers of that file: they must be the ones `check` prints today (the
// manifest changes with the chart).
func TestDocumentedCheckOutputIsCurrent(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(Root(), "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	const cmdLine = "$ umc-invite check --offline -c build/kubernetes/daemonset.yaml\n"
	i := strings.Index(string(readme), cmdLine)
	if i < 0 {
		t.Fatalf("docs/configuration.md has no %q", cmdLine)
	}
	rest := string(readme)[i+len(cmdLine):]
	want := rest[:strings.Index(rest, "```")]
	cmd := exec.Command("go", "run", "./cmd/umc-invite", "check", "--offline", "-c", "build/kubernetes/daemonset.yaml")
	cmd.Dir, cmd.Env = Root(), cleanEnv()
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, got)
	}
	if string(got) != want {
		t.Errorf("docs/configuration.md shows\n%s\numc-invite check prints\n%s", want, got)
	}
}
