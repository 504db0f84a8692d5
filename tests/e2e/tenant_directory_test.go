package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// A tenant whose directory itself is no directory (a regular file, a link
// to nothing: the init container skips it) disables its own output only:
// Fluent Bit starts and the other tenant's users are invited.
func TestATenantDirectoryThatIsNoDirectoryDisablesOnlyItsOutput(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	for name, spoil := range map[string]func(dir string) error{
		"a regular file":  func(dir string) error { return os.WriteFile(dir, nil, 0o644) },
		"a dangling link": func(dir string) error { return os.Symlink(dir+"-gone", dir) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			file, root, tenants := daemonSetTenants(t)
			dir := filepath.Join(root, "tenant-a")
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := spoil(dir); err != nil {
				t.Fatal(err)
			}
			for _, u := range []string{"berta", "bodo"} {
				os.WriteFile(filepath.Join(root, "tenant-b", u+".send"), []byte(`{"username": "`+u+`"}`+"\n"), 0o644)
			}
			p := start(t, file, []string{"UMC_INVITE_ROOT=" + root, "HTTP_PORT=" + strconv.Itoa(umctest.FreePort(t))})
			waitFor(t, "tenant-b delivered", 15*time.Second, p, func() bool { return len(tenants["tenant-b"].Delivered()) == 2 })
		})
	}
}

// A disabled output keeps its records: once its directory is fixed and
// Fluent Bit restarts, the users queued meanwhile are invited, even when
// Fluent Bit gave their chunk up while the output was disabled.
func TestADisabledTenantsUsersAreInvitedOnceItsDirectoryIsFixed(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	file, root, tenants := daemonSetTenants(t)
	// Retries 3 s apart: Fluent Bit's 5 retries take seconds, not minutes.
	setKey(t, file, "scheduler.cap", "2")
	elsewhere := filepath.Join(filepath.Dir(root), "elsewhere")
	os.Mkdir(elsewhere, 0o755)
	failed := filepath.Join(root, "tenant-a", "failed")
	if err := os.Symlink(elsewhere, failed); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "tenant-a", "anna.send"), []byte(`{"username": "anna"}`+"\n"), 0o644)
	env := []string{"UMC_INVITE_ROOT=" + root, "HTTP_PORT=" + strconv.Itoa(umctest.FreePort(t))}
	p := start(t, file, env)
	waitFor(t, "tenant-a's output reported disabled", 5*time.Second, p, func() bool {
		return strings.Contains(p.Log(), "umc_invite:tenant-a] disabled")
	})
	waitFor(t, "Fluent Bit giving tenant-a's chunk up", 40*time.Second, p, func() bool {
		return strings.Contains(p.Log(), "cannot be retried")
	})
	p.Stop(15 * time.Second)
	if _, err := os.Stat(filepath.Join(root, "tenant-a", "anna.send")); err != nil {
		t.Fatalf("anna's queue file is gone while the output was disabled: %v", err)
	}

	// The operator fixes the directory and Fluent Bit restarts.
	if err := os.Remove(failed); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(failed, 0o755); err != nil {
		t.Fatal(err)
	}
	again := start(t, file, env)
	waitFor(t, "anna invited after the fix", 15*time.Second, again, func() bool { return len(tenants["tenant-a"].Delivered()) == 1 })
}
