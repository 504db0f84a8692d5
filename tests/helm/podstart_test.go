package helm

// A tenant whose directory is bad is skipped by the init container and
// disabled in Fluent Bit; the pod still starts for every other tenant. The
// check init container runs between the two: it must not stop the pod for
// one tenant's directory.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestOneTenantsBadDirectoryLetsThePodStart(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat(filepath.Join(Root(), "cmd", "umc-invite")); err != nil {
		t.Fatal(err)
	}
	for name, spoil := range map[string]func(dir string) error{
		"a regular file": func(dir string) error { return os.WriteFile(dir, nil, 0o644) },
		"a dangling link": func(dir string) error {
			return os.Symlink(filepath.Join(filepath.Dir(dir), "gone"), dir)
		},
	} {
		t.Run(name, func(t *testing.T) {
			work := t.TempDir()
			root := filepath.Join(work, "root")
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := spoil(filepath.Join(root, "tenant-a")); err != nil {
				t.Fatal(err)
			}
			out := runPrepare(t, root) // the first init container: skips tenant-a
			if !strings.Contains(out, "skipped: tenant-a") {
				t.Fatalf("prepare-queues did not skip tenant-a:\n%s", out)
			}
			conf := configOf(t, render(t, cases["daemonset"]))
			secrets := filepath.Join(work, "secrets")
			conf = strings.ReplaceAll(conf, "/run/secrets/umc-invite", secrets)
			for _, tenant := range []string{"tenant-a", "tenant-b"} {
				os.MkdirAll(filepath.Join(secrets, tenant), 0o755)
				os.WriteFile(filepath.Join(secrets, tenant, "password"), []byte("pw\n"), 0o600)
			}
			file := filepath.Join(work, "fluent-bit.conf")
			if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			// The second init container, as the chart runs it.
			cmd := exec.Command("go", "run", "./cmd/umc-invite", "check", "-c", file)
			cmd.Dir = Root()
			cmd.Env = append(os.Environ(), "UMC_INVITE_ROOT="+root, "HTTP_PORT=2020", "METRICS_LISTEN=:2021")
			if got, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("the check init container fails (%v): the pod never starts, for tenant-b too:\n%s", err, got)
			}
		})
	}
}
